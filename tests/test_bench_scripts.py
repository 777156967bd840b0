"""The CUDA training-step benchmark: its code path runs on CPU at tiny scale, and without CUDA it skips cleanly."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow  # runs the benchmarks on real models

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "cuda_train_step.py"


def run(*args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=300)


def test_the_tiny_scale_runs_the_training_step_on_cpu(prepared_models):
    result = run("--scale", "tiny", "--batch", "2", "--steps", "1", "--tokenizer", str(prepared_models["llm"]))
    assert result.returncode == 0, result.stderr
    assert "device cpu, scale tiny, batch 2" in result.stdout
    rate = re.search(r"([\d.]+) s/step, ([\d.]+) samples/s", result.stdout)
    assert rate and float(rate.group(1)) > 0 and float(rate.group(2)) > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA the paper-scale run is the real benchmark")
def test_the_paper_scale_skips_without_cuda():
    result = run()
    assert result.returncode == 0, result.stderr
    assert "no CUDA device: skipped" in result.stdout
