"""The report's performance table from Snakemake benchmark records."""

import polars as pl

from destaflow.performance import performance_table

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def record(path, wall, rss, cpu):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:00\t{rss}\t0\t0\t0\t0\t0\t0\t{cpu}\n")
    return str(path)


def test_one_row_per_job_then_totals_and_unsampled_or_missing_records_stay_empty(tmp_path):
    benchmarks = tmp_path / "benchmarks"
    paths = [
        record(benchmarks / "caption" / "demo" / "shard-0.tsv", 50.0, 2048, 90.0),
        record(benchmarks / "train_adapter" / "train_adapter.tsv", 200.0, 4096, 380.0),
        record(benchmarks / "score" / "quick.tsv", 0.3, "NA", "NA"),  # too short for Snakemake to sample
        str(benchmarks / "answer" / "gone.tsv"),  # no record: reported, never a reason to rerun the job
    ]
    table = performance_table(paths, str(tmp_path / "performance.csv"))
    assert table.select("stage", "job").rows() == [("caption", "demo/shard-0"), ("train_adapter", "train_adapter"), ("score", "quick"),
                                                    ("answer", "gone"), ("total", "3 of 4 jobs")]
    assert table["wall_s"].to_list() == [50.0, 200.0, 0.3, None, 250.3]
    assert table["peak_rss_gb"].to_list() == [2.0, 4.0, None, None, 4.0]
    assert table["cores_busy"].to_list()[:3] == [1.8, 1.9, None]
    assert pl.read_csv(tmp_path / "performance.csv").equals(table)
