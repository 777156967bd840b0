"""Launch adapter training with one process per device the job holds.

    launch_command(2, ["--settings", "s.json", ...])
    -> [python, -m, torch.distributed.run, --standalone, --nproc_per_node, 2, -m, destaflow.training.entry, ...]

`python -m torch.distributed.run` is torchrun (its console script runs that module) without depending on
PATH; --standalone picks a free local rendezvous, so several jobs can share a node. One process needs no
torchrun and runs the entry module directly.
"""

from __future__ import annotations

import subprocess
import sys

ENTRY = "destaflow.training.entry"


def launch_command(num_processes: int, argv: list[str]) -> list[str]:
    if num_processes < 1:
        raise ValueError(f"need at least one process, got {num_processes}")
    if num_processes == 1:
        return [sys.executable, "-m", ENTRY, *argv]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(num_processes)]
    return [*torchrun, "-m", ENTRY, *argv]


def device_processes() -> int:
    """One process per visible GPU; one process on a CPU-only machine."""
    import torch

    return max(1, torch.cuda.device_count())


def run_training(argv: list[str], num_processes: int | None = None) -> None:
    """Run the training processes to the end; raise if any failed."""
    subprocess.run(launch_command(num_processes or device_processes(), argv), check=True)
