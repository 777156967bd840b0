"""The adapter folder: the trained connector (and an optional LoRA for the LLM) plus what it was trained on.

    connector.safetensors   the connector's state_dict (the only trained weights)
    adapter_config.json     {"format_version": 1, "connector": {ConnectorConfig fields},
                             "whisper": path or hub id, "llm": path or hub id,
                             "whisper_name": ..., "llm_name": ...,        # provenance
                             "lora": "lora"}                              # optional, a peft folder inside
plus whatever `extra` keys the trainer records (epoch, step, valid loss, ...). Weights load only from
safetensors, strictly: a missing, unexpected or mis-shaped key is an error.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file

from destaflow.atomic import atomic_dir
from destaflow.models.connector import ConnectorConfig, QFormerConnector
from destaflow.models.sources import model_name

if TYPE_CHECKING:
    from destaflow.models.speech_lm import SpeechLM

FORMAT_VERSION = 1
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "connector.safetensors"
LORA_DIR = "lora"
RESERVED_KEYS = frozenset({"format_version", "connector", "whisper", "llm"})


class AdapterError(ValueError):
    """An adapter folder that cannot be used; the message names the folder and the reason."""


# ---- the adapter folder -----------------------------------------------------------------------------------


def _model_reference(spec: str | os.PathLike) -> str:
    """An existing local folder as an absolute path (the run's working directory may differ); a hub id as is."""
    path = Path(spec)
    return str(path.resolve()) if path.is_dir() else str(spec)


def _provenance_name(spec: str | os.PathLike) -> str:
    return model_name(spec) if Path(spec).is_dir() else str(spec)


def _is_peft_model(module: torch.nn.Module) -> bool:
    return hasattr(module, "peft_config") and hasattr(module, "save_pretrained")


def save_adapter(
    model: SpeechLM, out_dir: str | os.PathLike, whisper: str | os.PathLike, llm: str | os.PathLike, extra: dict | None = None
) -> Path:
    """Write the connector (and the LLM's LoRA, when it has one) as an adapter folder; all or nothing."""
    return save_connector(model.connector, out_dir, whisper, llm, extra, lora_llm=model.llm if _is_peft_model(model.llm) else None)


def save_connector(
    connector: QFormerConnector,
    out_dir: str | os.PathLike,
    whisper: str | os.PathLike,
    llm: str | os.PathLike,
    extra: dict | None = None,
    lora_llm: torch.nn.Module | None = None,
) -> Path:
    """An adapter folder from a connector (and a peft-wrapped LLM whose LoRA goes with it); all or nothing."""
    extra = dict(extra or {})
    if clash := RESERVED_KEYS & extra.keys():
        raise ValueError(f"extra may not set {sorted(clash)}: save_adapter writes them")
    config: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "connector": dataclasses.asdict(connector.config),
        "whisper": _model_reference(whisper),
        "llm": _model_reference(llm),
        "whisper_name": _provenance_name(whisper),
        "llm_name": _provenance_name(llm),
    }
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        state = {key: value.detach().to("cpu").contiguous() for key, value in connector.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format_version": str(FORMAT_VERSION)})
        if lora_llm is not None:
            lora_llm.save_pretrained(str(tmp / LORA_DIR), safe_serialization=True)
            config["lora"] = LORA_DIR
        (tmp / CONFIG_FILE).write_text(json.dumps(config | extra, indent=2) + "\n")
    return out_dir


def load_adapter_config(adapter_dir: str | os.PathLike) -> dict[str, Any]:
    """The adapter's config, checked for the keys and version this reader understands."""
    path = Path(adapter_dir) / CONFIG_FILE
    if not path.is_file():
        raise AdapterError(f"{adapter_dir}: no {CONFIG_FILE} (not an adapter folder)")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise AdapterError(f"{path}: invalid JSON ({error})") from None
    if not isinstance(config, dict):
        raise AdapterError(f"{path}: expected a JSON object")
    if config.get("format_version") != FORMAT_VERSION:
        raise AdapterError(f"{path}: format_version {config.get('format_version')!r}, this reader knows {FORMAT_VERSION}")
    if missing := [key for key in ("connector", "whisper", "llm") if key not in config]:
        raise AdapterError(f"{path}: missing {', '.join(missing)}")
    if not isinstance(config["connector"], dict):
        raise AdapterError(f"{path}: 'connector' must be an object of ConnectorConfig fields")
    return config


def load_connector(adapter_dir: str | os.PathLike, connector_fields: dict[str, Any]) -> QFormerConnector:
    """The connector with its saved weights; a key or shape that does not match is an error, never ignored."""
    adapter_dir = Path(adapter_dir)
    try:
        connector = QFormerConnector(ConnectorConfig(**connector_fields))
    except TypeError as error:
        raise AdapterError(f"{adapter_dir}: connector config does not fit this code ({error})") from None
    weights = adapter_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise AdapterError(f"{adapter_dir}: no {WEIGHTS_FILE}")
    try:
        state = load_file(str(weights))
    except Exception as error:  # safetensors raises its own error type for truncated or foreign files
        raise AdapterError(f"{weights}: unreadable ({str(error).splitlines()[0]})") from None
    expected = connector.state_dict()
    problems = [
        *(f"missing {key}" for key in sorted(expected.keys() - state.keys())),
        *(f"unexpected {key}" for key in sorted(state.keys() - expected.keys())),
        *(
            f"{key} has shape {tuple(state[key].shape)}, expected {tuple(expected[key].shape)}"
            for key in sorted(expected.keys() & state.keys())
            if state[key].shape != expected[key].shape
        ),
    ]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise AdapterError(f"{weights}: does not match the connector config: {shown}")
    connector.load_state_dict(state, strict=True)
    return connector


def check_backbones_fit(adapter_dir: Path, config: ConnectorConfig, whisper, llm, sources: tuple[str, str]) -> None:
    checks = [
        ("whisper_dim", config.whisper_dim, whisper.config.d_model, sources[0]),
        ("llm_dim", config.llm_dim, llm.config.hidden_size, sources[1]),
    ]
    for field, wanted, actual, source in checks:
        if wanted != actual:
            raise AdapterError(f"{adapter_dir}: the connector has {field}={wanted} but {source} has width {actual}")
    if max(config.tap_layers) >= whisper.config.encoder_layers:
        raise AdapterError(
            f"{adapter_dir}: tap layers {config.tap_layers} need more than the {whisper.config.encoder_layers} "
            f"encoder layers of {sources[0]}"
        )


def check_local_source(adapter_dir: Path, source: str, role: str) -> None:
    """A path-like source (absolute, ./, ../, ~) must exist; anything else is left to the hub loader."""
    if (Path(source).is_absolute() or source.startswith((".", "~"))) and not Path(source).expanduser().is_dir():
        raise AdapterError(f"{source}: no such {role} folder (used by {adapter_dir}; pass another {role} to override)")


def attach_lora(llm: torch.nn.Module, lora_dir: Path, merge: bool) -> torch.nn.Module:
    try:
        from peft import PeftModel
    except ImportError:
        raise AdapterError(f"{lora_dir}: the adapter has a LoRA for the LLM; install peft to load it") from None
    if not lora_dir.is_dir():
        raise AdapterError(f"{lora_dir}: the LoRA folder named in {CONFIG_FILE} is missing")
    with_lora = PeftModel.from_pretrained(llm, str(lora_dir), is_trainable=False)
    return with_lora.merge_and_unload() if merge else with_lora


