"""The training rule's run folder: resumed after a kill, discarded when the run's inputs change."""

from pathlib import Path

from destaflow import workdir
from destaflow.training import launch


def fake_training(calls):
    def run(argv, num_processes=None):
        out = argv[argv.index("--out") + 1]
        calls.append(sorted(p.name for p in Path(out).iterdir()))
        (Path(out) / "adapter").mkdir(exist_ok=True)
        for name in launch.RUN_FILES:  # every log the loop writes, the likelihood probe's included
            (Path(out) / name).write_text("step\\n1\\n")
    return run


def test_stale_run_is_discarded_and_a_finished_one_removed(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(launch, "run_training", fake_training(calls))
    train, valid = tmp_path / "train.parquet", tmp_path / "valid.parquet"
    train.write_bytes(b"a")
    valid.write_bytes(b"b")
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint").mkdir()  # left by a killed run of the same inputs: kept for resuming
    (run / workdir.STAMP_FILE).write_text(workdir.stamp({"lr": 1}, [train, valid, "w", "l"]))
    launch.train_stage({"lr": 1}, "w", "l", str(train), str(valid), None, str(run), str(tmp_path / "out"))
    assert "checkpoint" in calls[-1] and not run.exists()
    assert all((tmp_path / "out" / name).exists() for name in ("log.csv", "valid.csv", "probe.csv", "samples.jsonl", "summary.json"))

    run.mkdir()
    (run / "checkpoint").mkdir()  # a killed run of other settings: not resumed
    (run / workdir.STAMP_FILE).write_text(workdir.stamp({"lr": 1}, [train, valid, "w", "l"]))
    launch.train_stage({"lr": 2}, "w", "l", str(train), str(valid), None, str(run), str(tmp_path / "out"))
    assert "checkpoint" not in calls[-1]


def test_torchruns_processes_write_into_the_jobs_log(tmp_path, monkeypatch):
    import sys

    log = open(tmp_path / "job.log", "w")
    monkeypatch.setattr(sys, "stderr", log)
    monkeypatch.setattr(launch, "launch_command", lambda n, argv: [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"])
    launch.run_training([], num_processes=2)
    log.close()
    assert (tmp_path / "job.log").read_text().split() == ["out", "err"]


def test_one_process_trains_in_the_jobs_own_process(monkeypatch):
    seen = []
    monkeypatch.setattr(launch.entry, "main", seen.append)
    monkeypatch.setattr(launch.subprocess, "run", lambda *a, **k: seen.append("subprocess"))
    launch.run_training(["--settings", "s.json"], num_processes=1)
    assert seen == [["--settings", "s.json"]]
