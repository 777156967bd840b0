"""The training rule's entry point: the stamped run folder, the training itself, the published adapter.

One process (a CPU, one GPU) trains right here, through the same command line torchrun gives each of several:

    launch_command(2, ["--settings", "s.json", ...])
    -> [python, -m, torch.distributed.run, --standalone, --nproc_per_node, 2, -m, destaflow.training.entry, ...]

`python -m torch.distributed.run` is torchrun (its console script runs that module) without depending on
PATH; --standalone picks a free local rendezvous, so several jobs can share a node.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys

from destaflow.atomic import atomic_dir, write_text
from destaflow.training import entry
from destaflow.workdir import open_work_dir, stamp

ENTRY = "destaflow.training.entry"


def launch_command(num_processes: int, argv: list[str]) -> list[str]:
    if num_processes < 2:
        raise ValueError(f"torchrun is for two or more processes, got {num_processes}")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(num_processes)]
    return [*torchrun, "-m", ENTRY, *argv]


def device_processes() -> int:
    """One process per visible GPU; one process on a CPU-only machine."""
    import torch

    return max(1, torch.cuda.device_count())


def run_training(argv: list[str], num_processes: int | None = None) -> None:
    """Train to the end: in this process when there is one, else torchrun's processes, whose output joins this
    process's stderr (the job's log file under Snakemake, destaflow.logs); raise if any failed."""
    num_processes = num_processes or device_processes()
    if num_processes == 1:
        with contextlib.redirect_stdout(sys.stderr):  # the summary line too, as torchrun's processes' below
            entry.main(argv)
        return
    subprocess.run(launch_command(num_processes, argv), check=True, stdout=own_stderr(), stderr=own_stderr())


def own_stderr():
    """sys.stderr when it is a real file (a child process can write to it), else None (inherit fd 2)."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    sys.stderr.flush()
    return sys.stderr


RUN_FILES = ("log.csv", "valid.csv", "probe.csv", "samples.jsonl", "summary.json")


def train_stage(settings: dict, whisper_dir: str, llm_dir: str, train: str, valid: str, cache_dirs: list[str] | str | None, run_dir: str, out_dir: str, num_processes: int | None = None) -> None:
    """Train in `run_dir`, then publish the adapter and the logs into `out_dir` atomically.

    `run_dir` outlives a killed job, so the rerun resumes from its checkpoint. It is only reused for the same
    run: when the settings, the training data or the models differ, the stale run is discarded; after success it is removed.
    """
    run = open_work_dir(run_dir, stamp(settings, [train, valid, whisper_dir, llm_dir]))
    write_text(run / "settings.json", json.dumps(settings, indent=2) + "\n")
    argv = ["--settings", str(run / "settings.json"), "--whisper", whisper_dir, "--llm", llm_dir, "--train", train, "--valid", valid, "--out", str(run)]
    if cache_dirs:
        argv += ["--cache", *([cache_dirs] if isinstance(cache_dirs, str) else cache_dirs)]
    run_training(argv, num_processes)
    with atomic_dir(out_dir) as tmp:
        shutil.copytree(run / "adapter", tmp / "adapter")
        for name in RUN_FILES:
            if (run / name).exists():
                shutil.copy2(run / name, tmp / name)
    shutil.rmtree(run)
