"""Report figures and tables: training curves and the first-vs-last epoch validation loss per stage."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from destaflow.atomic import atomic_path


def validation_summary(runs: dict[str, str]) -> pl.DataFrame:
    """stage, epochs, steps, first/last epoch validation loss, targets cut by the token cap in the last epoch."""
    rows = []
    for stage, folder in runs.items():
        valid = pl.read_csv(Path(folder) / "valid.csv")
        first, last = valid.row(0, named=True), valid.row(-1, named=True)
        rows.append({
            "stage": stage, "epochs": valid.height, "steps": last["step"],
            "first_epoch_valid_loss": round(first["valid_loss"], 4), "last_epoch_valid_loss": round(last["valid_loss"], 4),
            "train_targets_cut": last["train_truncated"],
        })
    return pl.DataFrame(rows)


def plot_curves(runs: dict[str, str], out_path: str, smooth: int = 10) -> None:
    """Training loss (running mean over `smooth` steps) and per-epoch validation loss, one panel per stage; beside
    it, where the run probed (probe.csv), the likelihood probe's accuracy per attribute and epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probed = {stage: Path(folder) / "probe.csv" for stage, folder in runs.items() if probe_rows(Path(folder) / "probe.csv")}
    panels = len(runs) + len(probed)
    figure, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    for axis, (stage, path) in zip(axes[0][len(runs):], probed.items()):
        probe = pl.read_csv(path)
        for (attribute,), rows in probe.group_by("attribute", maintain_order=True):
            line = axis.plot(rows["epoch"], rows["accuracy"], "o-", label=f"{attribute} (n {rows['n'][-1]})")[0]
            axis.fill_between(rows["epoch"], rows["accuracy_lo"], rows["accuracy_hi"], color=line.get_color(), alpha=0.12)
            axis.axhline(rows["majority"][-1], color=line.get_color(), linestyle=":", linewidth=1)
        axis.set_xticks(sorted(probe["epoch"].unique().to_list()))
        axis.set(title=f"{stage}: likelihood probe (dotted: majority answer)", xlabel="epoch (0 = untrained connector)",
                 ylabel="right option most likely (%)", ylim=(0, 100))
        axis.legend(fontsize="small")
    for axis, (stage, folder) in zip(axes[0], runs.items()):
        steps = pl.read_csv(Path(folder) / "log.csv")
        valid = pl.read_csv(Path(folder) / "valid.csv")
        axis.plot(steps["step"], steps["loss"], alpha=0.25, color="tab:blue", label="train (per step)")
        axis.plot(steps["step"], steps["loss"].rolling_mean(smooth, min_samples=1), color="tab:blue", label=f"train (mean of {smooth})")
        axis.plot(valid["step"], valid["valid_loss"], "o-", color="tab:orange", label="validation (per epoch)")
        axis.set(title=stage, xlabel="optimiser step", ylabel="loss (target tokens)")
        axis.legend()
    figure.tight_layout()
    with atomic_path(out_path) as tmp:
        figure.savefig(tmp, format=Path(out_path).suffix.lstrip("."))
    plt.close(figure)


def probe_rows(path: Path) -> int:
    return pl.read_csv(path).height if path.exists() else 0


def training_report(runs: dict[str, str], figure_path: str, table_path: str) -> pl.DataFrame:
    plot_curves(runs, figure_path)
    table = validation_summary(runs)
    with atomic_path(table_path) as tmp:
        table.write_csv(tmp)
    return table
