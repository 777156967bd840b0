"""The report's performance table from Snakemake benchmark records."""

import polars as pl

from destaflow.performance import performance_table

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def record(path, *lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(f"{wall}\t0:00:00\t{rss}\t0\t0\t0\t0\t0\t0\t{cpu}\n" for wall, rss, cpu in lines))
    return str(path)


def test_one_row_per_job_with_its_last_record_then_the_totals(tmp_path):
    paths = [
        record(tmp_path / "benchmarks" / "caption" / "demo" / "shard-0.tsv", (100.0, 1024, 150.0), (50.0, 2048, 90.0)),  # rerun: last counts
        record(tmp_path / "benchmarks" / "train_adapter" / "train_adapter.tsv", (200.0, 4096, 380.0)),
    ]
    table = performance_table(paths, str(tmp_path / "performance.csv"))
    assert table.select("stage", "job").rows() == [("caption", "demo/shard-0"), ("train_adapter", "train_adapter"), ("total", "2 jobs")]
    assert table["wall_s"].to_list() == [50.0, 200.0, 250.0] and table["peak_rss_gb"].to_list() == [2.0, 4.0, 4.0]
    assert table["cores_busy"].to_list()[:2] == [1.8, 1.9]
    assert pl.read_csv(tmp_path / "performance.csv").equals(table)
