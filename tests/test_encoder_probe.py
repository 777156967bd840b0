"""bench/encoder_probe.py's read-out: a linear probe finds a separable attribute and not a missing one."""

import importlib.util
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "encoder_probe.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("encoder_probe", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_probe_reads_what_the_features_carry_and_nothing_else():
    bench = load_bench()
    generator = torch.Generator().manual_seed(0)
    labels = ["female", "male"] * 40
    carried = torch.randn(80, 16, generator=generator) + torch.tensor([[3.0 if y == "male" else -3.0] + [0.0] * 15 for y in labels])
    assert bench.fit_and_score(carried[:60], labels[:60], carried[60:], labels[60:]) >= 18
    absent = torch.randn(80, 16, generator=generator)
    assert bench.fit_and_score(absent[:60], labels[:60], absent[60:], labels[60:]) <= 15
