"""Training-target ablations (paper Table III): the caption training set with its targets replaced.

Same clips, same inputs, same training and scoring; only what the adapter learns to make the LLM say differs:
    seed_target   the seed transcript itself (the paper's "seed transcript as target" row, 33.13 vs 56.78)
"""

from __future__ import annotations

import polars as pl

from destaflow.atomic import atomic_path

VARIANTS = {"seed_target": "seed transcript itself as target"}


def ablation_trainset(variant: str, trainset_path: str, out_path: str) -> pl.DataFrame:
    if variant not in VARIANTS:
        raise ValueError(f"unknown ablation {variant!r}; known: {', '.join(VARIANTS)}")
    table = pl.read_parquet(trainset_path)
    if variant == "seed_target":  # one row per clip: the seed is the same for every caption of a clip
        table = table.unique("id", keep="first", maintain_order=True).with_columns(
            pl.col("seed").alias("target"), pl.lit(None, pl.String).alias("llm"), pl.lit('{"ablation": "seed_target"}').alias("gen_params")
        )
    with atomic_path(out_path) as tmp:
        table.write_parquet(tmp)
    return table
