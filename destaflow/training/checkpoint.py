"""What training leaves behind: the adapter (connector weights, plus the LLM's LoRA when finetuned) and the resumable training state.

    adapter/                         connector weights (+ lora/ when the LLM has one), in the format of destaflow.models.adapter
    checkpoint/state.pt              connector (+ LoRA), optimiser, step / epoch / position, RNG states per process

Both are written atomically (the adapter folder is replaced whole). The state holds tensors, numbers, strings
and lists only, so it loads with `torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from destaflow.atomic import atomic_path
from destaflow.models.adapter import attach_lora, check_backbones_fit, load_adapter_config, load_connector
from destaflow.models.speech_lm import SpeechLM
from destaflow.runtime import quiet_loading


def load_adapter(adapter_dir: str | Path, whisper_dir: str | Path | None = None, llm_dir: str | Path | None = None) -> SpeechLM:
    """A SpeechLM from the backbones the adapter was trained on (or the folders given) with its connector (and LoRA, merged)."""
    config = load_adapter_config(adapter_dir)
    connector = load_connector(adapter_dir, config["connector"])
    with quiet_loading():
        model = SpeechLM.from_pretrained(whisper_dir or config["whisper"], llm_dir or config["llm"], connector.config.tap_layers)
    check_backbones_fit(Path(adapter_dir), connector.config, model.whisper, model.llm, (str(whisper_dir or config["whisper"]), str(llm_dir or config["llm"])))
    model.connector = connector
    if config.get("lora"):
        model.llm = attach_lora(model.llm, Path(adapter_dir) / config["lora"], merge=True)
    return model


def save_state(path: str | Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: str | Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)
