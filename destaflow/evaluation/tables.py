"""Report tables and figures of the scores: Table I/IV-shaped dimension tables with the paper's numbers beside
ours (labelled as the paper's), a per-instance table, and per-dimension bars."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from destaflow.atomic import atomic_path
from destaflow.evaluation.dynamic_superb_instances import DIMENSIONS
from destaflow.evaluation.paper_tables import TABLE_I, TABLE_III, TABLE_IV
from destaflow.evaluation.scoring import dimension_table

log = logging.getLogger(__name__)


def read_summaries(paths: list[str]) -> pl.DataFrame:
    return pl.concat([pl.read_csv(p, schema_overrides={"judge": pl.Float64, "revision": pl.String, "judge_model": pl.String,
                                                       "judge_prompt": pl.String, "judge_unparsed": pl.Int64}) for p in paths], how="vertical_relaxed")


def with_paper_rows(ours: pl.DataFrame, metric: str) -> pl.DataFrame:
    """Our systems (`source` = ours + metric), then the paper's Tables I and IV (`source` = paper, judge GPT-4o)."""
    columns = [*DIMENSIONS, "ALL"]
    rows = [{"source": f"ours ({metric})", **row} for row in ours.to_dicts()]
    for table_name, table in (("Table I", TABLE_I), ("Table IV", TABLE_IV)):
        for name, (counterpart, numbers) in table.items():
            paper = dict(zip(columns, numbers))
            rows.append({"source": f"paper {table_name}", "system": name + (f" [ours: {counterpart}]" if counterpart else ""), **paper, "instances": 48})
    return pl.DataFrame(rows, schema={"source": pl.String, "system": pl.String, **{c: pl.Float64 for c in columns}, "instances": pl.Int64})


def instance_table(summary: pl.DataFrame, metric: str) -> pl.DataFrame:
    """Accuracy (%) per instance (rows) and system (columns), with each instance's n."""
    wide = summary.pivot(on="system", index=["dimension", "instance"], values=metric, aggregate_function="first")
    counts = summary.group_by("instance").agg(pl.col("n").max())
    return wide.join(counts, on="instance").sort("dimension", "instance")


def plot_dimensions(ours: pl.DataFrame, out_path: str, metric: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [d for d in [*DIMENSIONS, "ALL"] if ours[d].drop_nulls().len()]
    figure, axis = plt.subplots(figsize=(1.6 * len(present) + 3, 4))
    width = 0.8 / max(ours.height, 1)
    for n, row in enumerate(ours.to_dicts()):
        axis.bar([i + n * width for i in range(len(present))], [row[d] or 0 for d in present], width, label=row["system"])
    axis.set_xticks([i + width * (ours.height - 1) / 2 for i in range(len(present))], present)
    axis.set(ylabel=f"accuracy (%, {metric})", ylim=(0, 100), title="Accuracy per dimension")
    axis.legend()
    figure.tight_layout()
    with atomic_path(out_path) as tmp:
        figure.savefig(tmp, format=Path(out_path).suffix.lstrip("."))
    plt.close(figure)


def evaluation_tables(summary_paths: list[str], metric: str, dimensions_path: str, instances_path: str, figure_path: str) -> pl.DataFrame:
    summary = read_summaries(summary_paths)
    if metric == "judge" and summary["judge"].drop_nulls().is_empty():
        raise ValueError("report metric 'judge' needs a judge (evaluation.judge.kind); the scores have no verdicts")
    ours = dimension_table(summary, metric, list(DIMENSIONS))
    table = with_paper_rows(ours, metric)
    with atomic_path(dimensions_path) as tmp:
        table.write_csv(tmp, float_precision=2)
    with atomic_path(instances_path) as tmp:
        instance_table(summary, metric).write_csv(tmp, float_precision=2)
    plot_dimensions(ours, figure_path, metric)
    with pl.Config(tbl_rows=-1, tbl_cols=-1):
        log.info("%s by dimension:\n%s", metric, table)
    return table


def ablation_table(summary_paths: list[str], metric: str, out_path: str) -> pl.DataFrame:
    """Table III: our caption-trained adapter and its target ablations, then the paper's rows."""
    ours = dimension_table(read_summaries(summary_paths), metric, list(DIMENSIONS))
    columns = [*DIMENSIONS, "ALL"]
    rows = [{"source": f"ours ({metric})", **row} for row in ours.to_dicts()]
    rows += [{"source": "paper Table III", "system": name + (f" [ours: {ours_name}]" if ours_name else ""), **dict(zip(columns, numbers)), "instances": 48}
             for name, (ours_name, numbers) in TABLE_III.items()]
    table = pl.DataFrame(rows, schema={"source": pl.String, "system": pl.String, **{c: pl.Float64 for c in columns}, "instances": pl.Int64})
    with atomic_path(out_path) as tmp:
        table.write_csv(tmp, float_precision=2)
    with pl.Config(tbl_rows=-1, tbl_cols=-1):
        log.info("Table III (%s):\n%s", metric, table)
    return table
