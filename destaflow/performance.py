"""The report's performance table: Snakemake's `benchmark:` records of the heavy jobs, one row per job.

A record (benchmarks/<rule>/<job>.tsv) holds the job's wall seconds, peak resident memory of its process
tree (MB), CPU seconds and mean load; a rerun job appends a line and the last one counts.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from destaflow.atomic import atomic_path

log = logging.getLogger(__name__)

COLUMNS = {"stage": pl.String, "job": pl.String, "wall_s": pl.Float64, "cpu_s": pl.Float64, "cores_busy": pl.Float64, "peak_rss_gb": pl.Float64}


def read_record(path: Path) -> dict:
    """benchmarks/<rule>/<job...>.tsv -> stage = the rule, job = the rest of the path."""
    parts = path.with_suffix("").parts
    where = len(parts) - 1 - parts[::-1].index("benchmarks")
    last = pl.read_csv(path, separator="\t").row(-1, named=True)
    wall, cpu = float(last["s"]), float(last["cpu_time"] or 0.0)
    return {
        "stage": parts[where + 1], "job": "/".join(parts[where + 2 :]),
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "cores_busy": round(cpu / wall, 2) if wall else None,
        "peak_rss_gb": round(float(last["max_rss"]) / 1024, 2),
    }


def performance_table(benchmark_paths: list[str], out_path: str) -> pl.DataFrame:
    """One row per job in the given order, then a total: summed wall and CPU time, the largest peak."""
    rows = [read_record(Path(path)) for path in benchmark_paths]
    table = pl.DataFrame(rows, schema=COLUMNS)
    total = {"stage": "total", "job": f"{table.height} jobs", "wall_s": round(table["wall_s"].sum(), 1), "cpu_s": round(table["cpu_s"].sum(), 1),
             "cores_busy": None, "peak_rss_gb": table["peak_rss_gb"].max()}
    table = pl.concat([table, pl.DataFrame([total], schema=COLUMNS)])
    with atomic_path(out_path) as tmp:
        table.write_csv(tmp)
    with pl.Config(tbl_rows=-1, tbl_cols=-1):
        log.info("heavy jobs:\n%s", table)
    return table
