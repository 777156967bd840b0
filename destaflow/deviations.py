"""The run's settings beside the paper's (`config/paper.yaml`): every method setting that differs, for the report.

Settings are compared leaf by leaf after both configurations are filled with the schema's defaults. Named
collections (corpora, benchmarks, evaluation sets) are compared by their names only, and settings that only
decide how the work is scheduled (batch sizes, threads, shards, paths) are left out.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import polars as pl
import yaml

from destaflow.atomic import atomic_path
from destaflow.config import validate_config

SECTIONS = ("corpora", "models", "connector", "caption", "transcribe", "train", "finetune", "attributes", "evaluation")
NAMED = ("corpora", "evaluation.benchmarks", "evaluation.ifeval.sets", "evaluation.chat.sets")
SCHEDULING = {"batch_size", "micro_batch", "eval_samples", "shards", "checkpoint_every", "path", "backend", "endpoint", "threads", "root"}


def settings(config: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every compared setting."""
    for key, value in config.items():
        name = f"{prefix}{key}"
        if name.split(".")[0] not in SECTIONS or key in SCHEDULING:
            continue
        if name in NAMED:
            yield name, sorted(value)
        elif isinstance(value, dict):  # an empty section has no settings of its own (its keys fall back elsewhere)
            yield from settings(value, f"{name}.")
        else:
            yield name, value


def _shown(value: Any) -> str:
    return "unset" if value is None else value if isinstance(value, str) else json.dumps(value)


def deviations(ours: dict, paper: dict) -> pl.DataFrame:
    """setting, ours, paper: one row per compared setting whose values differ."""
    mine, theirs = dict(settings(validate_config(ours))), dict(settings(validate_config(paper)))
    rows = [{"setting": key, "ours": _shown(mine.get(key)), "paper": _shown(theirs.get(key))}
            for key in [*mine, *(key for key in theirs if key not in mine)] if mine.get(key) != theirs.get(key)]
    return pl.DataFrame(rows, schema={"setting": pl.String, "ours": pl.String, "paper": pl.String})


def deviations_report(ours: dict, paper_path: str, out_path: str) -> pl.DataFrame:
    with open(paper_path) as f:
        table = deviations(ours, yaml.safe_load(f))
    with atomic_path(out_path) as tmp:
        table.write_csv(tmp)
    return table
