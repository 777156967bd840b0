"""Scores of a system's answers: every rule per item, the judge's verdict when there is one, per-instance
accuracy with its provenance, and Table I's aggregation (dimension = unweighted mean of its instances,
ALL = mean over all instances).

An unanswered item (unreadable audio, failed generation) and an unparsable or failed judge verdict count as
wrong and stay in the denominator; their numbers are reported beside the accuracy.
"""

from __future__ import annotations

import polars as pl
from tqdm import tqdm

from destaflow.evaluation import rules
from destaflow.evaluation.intervals import wilson
from destaflow.evaluation.judges import YES_NO, Judge, JudgeCache, Verdicts, ask, parse_yes_no

METRICS = (*rules.RULES, "judge")
def correct_count(accuracy: float | None, n: int) -> int:
    """The number right behind an accuracy (%) of n items (accuracies are k / n exactly)."""
    return 0 if accuracy is None else round(accuracy * n / 100)


def with_interval(table: pl.DataFrame, metric: str, n: str = "n") -> pl.DataFrame:
    """`metric`_lo / `metric`_hi: the Wilson interval of each row's accuracy over its n items."""
    bounds = [(None, None) if a is None else wilson(correct_count(a, k), k) for a, k in zip(table[metric], table[n])]
    return table.with_columns(pl.Series(f"{metric}_lo", [b[0] for b in bounds], dtype=pl.Float64),
                              pl.Series(f"{metric}_hi", [b[1] for b in bounds], dtype=pl.Float64))


def score_items(answers: pl.DataFrame, judge: Judge | None = None, cache: JudgeCache | None = None) -> tuple[pl.DataFrame, Verdicts]:
    """answers + one boolean column per rule, and `judge` / `judge_reply` (null without a judge)."""
    counts = Verdicts()
    rows = []
    for row in tqdm(answers.to_dicts(), desc="scoring", unit="item", disable=judge is None):
        answer = row["answer"]
        for rule in rules.RULES:
            row[rule] = answer is not None and rules.score(rule, answer, row["label"], row["options"])
        row["judge_reply"] = row["judge"] = None
        if judge is not None and answer is not None:
            reply = ask(judge, cache, YES_NO, counts, question=row["instruction"], label=row["label"], response=answer)
            row["judge_reply"] = reply
            row["judge"] = None if reply is None else parse_yes_no(reply)
        rows.append(row)
    schema = answers.schema | {rule: pl.Boolean for rule in rules.RULES} | {"judge_reply": pl.String, "judge": pl.Boolean}
    return pl.DataFrame(rows, schema=schema), counts


def summarise(scored: pl.DataFrame, provenance: dict) -> pl.DataFrame:
    """Per instance: n, answered, accuracy (%) per metric, judge parse failures, and where the numbers come from.

    `provenance`: judge_model, prompt_id, dataset, revision, max_per_instance (recorded on every row).
    """
    judged = provenance.get("judge_model") is not None
    summary = (
        scored.group_by("system", "instance", "dimension", maintain_order=True)
        .agg(
            pl.len().alias("n"),
            pl.col("answer").is_not_null().sum().alias("answered"),
            *[(pl.col(rule).mean() * 100).alias(rule) for rule in rules.RULES],
            ((pl.col("judge").fill_null(False).mean() * 100) if judged else pl.lit(None, pl.Float64)).alias("judge"),
            (pl.col("answer").is_not_null() & pl.col("judge").is_null()).sum().alias("judge_unparsed") if judged else pl.lit(None, pl.UInt32).alias("judge_unparsed"),
        )
    )
    return summary.with_columns(
        pl.lit(provenance.get("judge_model"), pl.String).alias("judge_model"),
        pl.lit(provenance.get("prompt_id") if judged else None, pl.String).alias("judge_prompt"),
        pl.lit(provenance.get("dataset"), pl.String).alias("dataset"),
        pl.lit(provenance.get("revision"), pl.String).alias("revision"),
        pl.lit(provenance.get("max_per_instance"), pl.Int64).alias("max_per_instance"),
        pl.lit(rules.__name__ + ":" + ",".join(rules.RULES)).alias("rules"),
    )


def pooled(group: pl.DataFrame, metric: str) -> dict:
    """Mean instance accuracy of `group`, its items, and the Wilson interval of its pooled right answers (the
    exact interval of the mean when the instances have equal n, as the demo's do)."""
    scored = group.filter(pl.col(metric).is_not_null())
    if scored.is_empty():
        return {"accuracy": None, "lo": None, "hi": None, "n": 0}
    n = int(scored["n"].sum())
    lo, hi = wilson(sum(correct_count(a, k) for a, k in zip(scored[metric], scored["n"])), n)
    return {"accuracy": float(scored[metric].mean()), "lo": lo, "hi": hi, "n": n}


def dimension_table(summary: pl.DataFrame, metric: str, dimensions: list[str]) -> pl.DataFrame:
    """One row per system: each dimension's mean instance accuracy and ALL (mean over instances), like Table I,
    each with the 95 % interval of its pooled items (`<column>_lo`, `<column>_hi`) and their count (`<column>_n`)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    rows = []
    for (system,), group in summary.group_by("system", maintain_order=True):
        row = {"system": system}
        for column, part in [*((d, group.filter(pl.col("dimension") == d)) for d in dimensions), ("ALL", group)]:
            stats = pooled(part, metric)
            row |= {column: stats["accuracy"], f"{column}_lo": stats["lo"], f"{column}_hi": stats["hi"], f"{column}_n": stats["n"]}
        row["instances"] = group.height
        rows.append(row)
    columns = {c: dtype for d in [*dimensions, "ALL"] for c, dtype in ((d, pl.Float64), (f"{d}_lo", pl.Float64), (f"{d}_hi", pl.Float64), (f"{d}_n", pl.Int64))}
    return pl.DataFrame(rows, schema={"system": pl.String, **columns, "instances": pl.Int64})
