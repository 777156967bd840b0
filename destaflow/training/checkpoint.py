"""What training leaves behind: the adapter (connector weights only) and the resumable training state.

    adapter/connector.safetensors    the connector's state dict: the only trained weights
    adapter/adapter_config.json      ConnectorConfig fields, the Whisper and LLM folders and their provenance
    checkpoint/state.pt              connector, optimiser, step / epoch / position, RNG states per process

Both are written atomically (the adapter folder is replaced whole). The state holds tensors, numbers, strings
and lists only, so it loads with `torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from destaflow.atomic import atomic_dir, atomic_path
from destaflow.models.connector import ConnectorConfig, QFormerConnector
from destaflow.models.sources import model_name
from destaflow.models.speech_lm import SpeechLM
from destaflow.runtime import quiet_loading

WEIGHTS = "connector.safetensors"
CONFIG = "adapter_config.json"
# ConnectorConfig fields that SpeechLM.from_pretrained derives from the backbones themselves
DERIVED = ("whisper_dim", "llm_dim", "tap_layers")


def save_adapter(adapter_dir: str | Path, connector: QFormerConnector, whisper_dir: str, llm_dir: str, info: dict | None = None) -> None:
    config = {
        "connector": asdict(connector.config),
        "whisper_dir": str(whisper_dir),
        "llm_dir": str(llm_dir),
        "whisper": model_name(whisper_dir),
        "llm": model_name(llm_dir),
        **(info or {}),
    }
    weights = {name: tensor.detach().to("cpu", torch.float32).contiguous() for name, tensor in connector.state_dict().items()}
    with atomic_dir(adapter_dir) as tmp:
        save_file(weights, str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(json.dumps(config, indent=2) + "\n")


def read_adapter_config(adapter_dir: str | Path) -> dict:
    return json.loads((Path(adapter_dir) / CONFIG).read_text())


def load_adapter(adapter_dir: str | Path, whisper_dir: str | Path | None = None, llm_dir: str | Path | None = None) -> SpeechLM:
    """A SpeechLM from the backbones the adapter was trained on (or the folders given) with its connector."""
    config = read_adapter_config(adapter_dir)
    connector = config["connector"]
    known = {f.name for f in fields(ConnectorConfig)}
    options = {k: v for k, v in connector.items() if k in known and k not in DERIVED}
    with quiet_loading():
        model = SpeechLM.from_pretrained(whisper_dir or config["whisper_dir"], llm_dir or config["llm_dir"], connector["tap_layers"], **options)
    for dim in ("whisper_dim", "llm_dim"):
        if getattr(model.connector.config, dim) != connector[dim]:
            raise ValueError(f"adapter {adapter_dir} was trained for {dim}={connector[dim]}, the backbones have {getattr(model.connector.config, dim)}")
    model.connector.load_state_dict(load_file(str(Path(adapter_dir) / WEIGHTS)))
    return model


def save_state(path: str | Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: str | Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)
