"""What training leaves behind: the adapter (connector weights, plus the LLM's LoRA when finetuned: written and
loaded by destaflow.models.adapter, loaded whole by DestaModel.from_pretrained) and the resumable training state.

    adapter/                         connector weights (+ lora/ when the LLM has one), in the format of destaflow.models.adapter
    checkpoint/state.pt              connector (+ LoRA), optimiser, step / epoch / position, RNG states per process

Both are written atomically (the adapter folder is replaced whole). The state holds tensors, numbers, strings
and lists only, so it loads with `torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from destaflow.atomic import atomic_path


def save_state(path: str | Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: str | Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)
