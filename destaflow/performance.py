"""The report's performance table: Snakemake's `benchmark:` records of the heavy jobs, one row per job.

A record (benchmarks/<rule>/<job>.tsv) holds the job's wall seconds, peak resident memory of its process
tree (MB), CPU seconds and mean load; Snakemake writes `NA` where a job was too short to be sampled. A job
that has no record (benchmarks/ deleted, results copied from elsewhere) is listed as missing, not rerun.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from destaflow.atomic import atomic_path

log = logging.getLogger(__name__)

COLUMNS = {"stage": pl.String, "job": pl.String, "wall_s": pl.Float64, "cpu_s": pl.Float64, "cores_busy": pl.Float64, "peak_rss_gb": pl.Float64}


def number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):  # NA, -
        return None


def read_record(path: Path) -> dict:
    """benchmarks/<rule>/<job...>.tsv -> stage = the rule, job = the rest of the path (no record: nulls)."""
    parts = path.with_suffix("").parts
    where = len(parts) - 1 - parts[::-1].index("benchmarks")
    row = {"stage": parts[where + 1], "job": "/".join(parts[where + 2 :])}
    if not path.exists():
        return row | {"wall_s": None, "cpu_s": None, "cores_busy": None, "peak_rss_gb": None}
    last = pl.read_csv(path, separator="\t", infer_schema=False).row(-1, named=True)
    wall, cpu, rss = number(last["s"]), number(last["cpu_time"]), number(last["max_rss"])
    return row | {
        "wall_s": round(wall, 1) if wall is not None else None, "cpu_s": round(cpu, 1) if cpu is not None else None,
        "cores_busy": round(cpu / wall, 2) if wall and cpu is not None else None,
        "peak_rss_gb": round(rss / 1024, 2) if rss is not None else None,
    }


def performance_table(benchmark_paths: list[str], out_path: str) -> pl.DataFrame:
    """One row per job in the given order, then a total: summed wall and CPU time, the largest peak."""
    rows = [read_record(Path(path)) for path in benchmark_paths]
    table = pl.DataFrame(rows, schema=COLUMNS)
    missing = table.filter(pl.col("wall_s").is_null())
    if missing.height:
        log.warning("no benchmark record for %d jobs: %s", missing.height, ", ".join(f"{s}/{j}" for s, j in missing.select("stage", "job").rows()))
    total = {"stage": "total", "job": f"{table.height - missing.height} of {table.height} jobs", "wall_s": round(table["wall_s"].sum(), 1), "cpu_s": round(table["cpu_s"].sum(), 1),
             "cores_busy": None, "peak_rss_gb": table["peak_rss_gb"].max()}
    table = pl.concat([table, pl.DataFrame([total], schema=COLUMNS)])
    with atomic_path(out_path) as tmp:
        table.write_csv(tmp)
    with pl.Config(tbl_rows=-1, tbl_cols=-1):
        log.info("heavy jobs:\n%s", table)
    return table
