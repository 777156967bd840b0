"""Report tables and figures of the scores: Table I/IV-shaped dimension tables with the paper's numbers beside
ours (labelled as the paper's), a per-instance table, and per-dimension bars."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from destaflow.atomic import atomic_path
from destaflow.evaluation.demo_benchmark import is_second_synthesizer_instance
from destaflow.evaluation.dynamic_superb_instances import DIMENSIONS
from destaflow.evaluation.paper_tables import TABLE_I, TABLE_III, TABLE_IV
from destaflow.evaluation.scoring import dimension_table, pooled, with_interval

log = logging.getLogger(__name__)


def read_summaries(paths: list[str]) -> pl.DataFrame:
    return pl.concat([pl.read_csv(p, schema_overrides={"judge": pl.Float64, "revision": pl.String, "judge_model": pl.String,
                                                       "judge_prompt": pl.String, "judge_unparsed": pl.Int64}) for p in paths], how="vertical_relaxed")


def first_synthesizer(summary: pl.DataFrame) -> pl.DataFrame:
    """Without the second synthesizer's instances, which repeat tasks (the instance and headline tables show them)."""
    return summary.filter(~pl.col("instance").map_elements(is_second_synthesizer_instance, return_dtype=pl.Boolean))


def paper_rows(tables: dict[str, dict]) -> pl.DataFrame:
    """The paper's rows (`source` = paper <table>), dimension scores and ALL (judge GPT-4o, 48 instances)."""
    columns = [*DIMENSIONS, "ALL"]
    rows = [{"source": f"paper {table_name}", "system": name + (f" [ours: {counterpart}]" if counterpart else ""),
             **dict(zip(columns, numbers)), "instances": 48}
            for table_name, table in tables.items() for name, (counterpart, numbers) in table.items()]
    return pl.DataFrame(rows, schema={"source": pl.String, "system": pl.String, **{c: pl.Float64 for c in columns}, "instances": pl.Int64})


def with_paper_rows(ours: pl.DataFrame, metric: str, tables: dict[str, dict] | None = None) -> pl.DataFrame:
    """Our systems (`source` = ours + metric, with intervals and n), then the paper's Tables I and IV."""
    mine = ours.select(pl.lit(f"ours ({metric})").alias("source"), pl.all())
    return pl.concat([mine, paper_rows(tables or {"Table I": TABLE_I, "Table IV": TABLE_IV})], how="diagonal_relaxed")


def instance_table(summary: pl.DataFrame, metric: str) -> pl.DataFrame:
    """Accuracy (%) per instance (rows) and system (columns: `<system>`, `<system>_lo`, `<system>_hi`, the 95 %
    Wilson interval), with each instance's n."""
    summary = with_interval(summary, metric)
    wide = summary.pivot(on="system", index=["dimension", "instance"], values=[metric, f"{metric}_lo", f"{metric}_hi"], aggregate_function="first")
    systems = summary["system"].unique(maintain_order=True).to_list()
    wide = wide.rename({f"{metric}_{s}": s for s in systems} | {f"{metric}_{b}_{s}": f"{s}_{b}" for s in systems for b in ("lo", "hi")})
    wide = wide.select("dimension", "instance", *[c for s in systems for c in (s, f"{s}_lo", f"{s}_hi")])
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
    ours = dimension_table(first_synthesizer(summary), metric, list(DIMENSIONS))
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
    ours = dimension_table(first_synthesizer(read_summaries(summary_paths)), metric, list(DIMENSIONS))
    table = with_paper_rows(ours, metric, {"Table III": TABLE_III})
    with atomic_path(out_path) as tmp:
        table.write_csv(tmp, float_precision=2)
    with pl.Config(tbl_rows=-1, tbl_cols=-1):
        log.info("Table III (%s):\n%s", metric, table)
    return table


HEADLINE_ORDER = ("desta2", "asr_llm", "specialist_llm", "seed_llm", "text_llm", "desta2_finetuned")
TEXT_LLM_SYSTEMS = ("asr_llm", "specialist_llm", "seed_llm", "text_llm")
"""Systems whose answers come from the unmodified text LLM: their instruction following is the reference's."""


def headline_table(summary_paths: list[str], metric: str, groups: dict[str, dict[str, str]], retention_path: str | None, out_path: str) -> pl.DataFrame:
    """The report's first table: each system's accuracy on the headline tasks, per group of test voices (`groups`:
    voices -> task -> instance, e.g. the training synthesizer's and a second one's), the tasks' mean, every figure
    with its 95 % Wilson interval and n, and the system's instruction-following retention (following rate
    relative to its own text LLM; 1 by construction for the systems that are the text LLM)."""
    wanted = [instance for tasks in groups.values() for instance in tasks.values()]
    summary = read_summaries(summary_paths).filter(pl.col("instance").is_in(wanted))
    missing = set(wanted) - set(summary["instance"])
    if missing:
        raise ValueError(f"headline instance(s) {sorted(missing)} have no scores")
    following = pl.read_csv(retention_path) if retention_path else pl.DataFrame(schema={"system": pl.String, "ratio": pl.Float64})
    ratios = dict(following.select("system", "ratio").iter_rows())
    systems = summary["system"].unique(maintain_order=True).to_list()
    rows = []
    for system in sorted(systems, key=lambda s: HEADLINE_ORDER.index(s) if s in HEADLINE_ORDER else len(HEADLINE_ORDER)):
        for voices, instances in groups.items():
            mine = with_interval(summary.filter((pl.col("system") == system) & pl.col("instance").is_in(list(instances.values()))), metric)
            row: dict = {"system": system, "voices": voices}
            for task, instance in instances.items():
                one = mine.filter(pl.col("instance") == instance).row(0, named=True)
                row |= {task: one[metric], f"{task}_lo": one[f"{metric}_lo"], f"{task}_hi": one[f"{metric}_hi"], f"{task}_n": one["n"]}
            stats = pooled(mine, metric)
            row |= {"mean": stats["accuracy"], "mean_lo": stats["lo"], "mean_hi": stats["hi"], "mean_n": stats["n"],
                    "if_retention": 1.0 if system in TEXT_LLM_SYSTEMS else ratios.get(system)}
            rows.append(row)
    table = pl.DataFrame(rows)
    with atomic_path(out_path) as tmp:
        table.write_csv(tmp, float_precision=2)
    tasks = list(next(iter(groups.values())))
    with pl.Config(tbl_rows=-1, tbl_cols=-1):
        log.info("headline (%s):\n%s", metric, table.select("system", "voices", *tasks, "mean", "mean_lo", "mean_hi", "mean_n", "if_retention"))
    return table
