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
    """Training loss (running mean over `smooth` steps) and per-epoch validation loss, one panel per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4), squeeze=False)
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


def training_report(runs: dict[str, str], figure_path: str, table_path: str) -> pl.DataFrame:
    plot_curves(runs, figure_path)
    table = validation_summary(runs)
    with atomic_path(table_path) as tmp:
        table.write_csv(tmp)
    return table
