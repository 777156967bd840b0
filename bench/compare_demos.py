"""Two demo runs' scores, item by item: for each system, the accuracy of both on the items both answered, the
paired difference with a 95 % bootstrap interval, and how many items changed verdict.

"No worse than before" needs more than two overlapping intervals: both runs ask the same items, so the paired
difference is far tighter than either accuracy's own interval (a change inside it is no change).

Usage: .venv/bin/python bench/compare_demos.py NEW_CHECKOUT OLD_CHECKOUT [--benchmark demo] [--metric exclusive]
       [--instances Gender,SpeakingSpeed,...]  (substrings of instance names; default: every instance)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl


def paired(new: pl.DataFrame, old: pl.DataFrame, metric: str, resamples: int = 5000, seed: int = 0) -> dict:
    joined = new.select("id", pl.col(metric).cast(pl.Float64).alias("new")).join(
        old.select("id", pl.col(metric).cast(pl.Float64).alias("old")), on="id").drop_nulls()
    difference = (joined["new"] - joined["old"]).to_numpy()
    rng = np.random.default_rng(seed)
    means = difference[rng.integers(0, len(difference), (resamples, len(difference)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"n": len(difference), "old": joined["old"].mean() * 100, "new": joined["new"].mean() * 100,
            "difference": difference.mean() * 100, "low": low * 100, "high": high * 100, "changed": int((difference != 0).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("new", type=Path)
    parser.add_argument("old", type=Path)
    parser.add_argument("--benchmark", default="demo")
    parser.add_argument("--metric", default="exclusive", help="a scored column: exact, contains, exclusive or judge")
    parser.add_argument("--instances", default="", help="comma-separated substrings of the instances to keep")
    args = parser.parse_args()
    wanted = [part for part in args.instances.split(",") if part]
    print(f"{'system':18} {'n':>4} {'old %':>6} {'new %':>6} {'paired difference [95 %]':>26} {'changed':>8}")
    for folder in sorted((args.new / "results/evaluation" / args.benchmark).iterdir()):
        old_path = args.old / "results/evaluation" / args.benchmark / folder.name / "scored.parquet"
        if not (folder / "scored.parquet").exists() or not old_path.exists():
            continue
        new, old = pl.read_parquet(folder / "scored.parquet"), pl.read_parquet(old_path)
        if wanted:
            new = new.filter(pl.col("instance").str.contains("|".join(wanted)))
        row = paired(new, old, args.metric)
        print(f"{folder.name:18} {row['n']:>4} {row['old']:>6.1f} {row['new']:>6.1f} "
              f"{row['difference']:>+9.1f} [{row['low']:+6.1f}, {row['high']:+6.1f}] {row['changed']:>8}")


if __name__ == "__main__":
    main()
