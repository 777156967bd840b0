"""Small runtime helpers shared by model-running stages: device choice, quiet loading, batching."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator


def torch_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def backbone_dtype(name: str, device=None):
    """The frozen backbones' dtype (`train.backbone_dtype`, which every stage running them reads): auto is bf16 on
    CUDA, fp32 on CPU (where bf16 is a measured choice: README "Benchmarks")."""
    import torch

    if name == "auto":
        return torch.bfloat16 if (device or torch_device()).type == "cuda" else torch.float32
    return getattr(torch, name)


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """No transformers progress bars while loading weights (the runner shows progress)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
