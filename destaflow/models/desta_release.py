"""The authors' DeSTA2 release layout (DeSTA2-8B-beta), both ways: import it as an adapter folder, export one to it.

    qformer_connector.pth   a torch state dict: layer_prompts.{i} (1, Q, d) per tapped layer, layer_weights (Q, L),
                            qformer.layer.{k}.* (transformers' BertEncoder with cross-attention, the same names
                            as ours), proj.0.* the LayerNorm and proj.1.* the Linear to the LLM
    config.json             llama_model_id, whisper_model_id, prompt_size (= Q), ...

Every shape (taps, queries, Q-Former depth, feed-forward width, LLM width) is read from the weights. The
authors' Q-Former keeps BertConfig()'s feed-forward width, 3072 at every Whisper size, where our default is
4 x d_whisper: the two agree at whisper-small only, and an imported connector keeps the width it was saved with.

Which encoder layers feed the connector: their training code taps the output of 0-indexed encoder layers
[2, 5, 8, 11] at whisper-small (our convention, `training`); their released inference code indexes HF's
`hidden_states` tuple at the same numbers, whose index 0 is the embeddings, so it feeds the outputs of layers
[1, 4, 7, 10] (`inference`). The import records the convention it was told and sets the taps to match.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from destaflow.atomic import atomic_dir
from destaflow.models.adapter import AdapterError, load_adapter_config, load_connector, save_connector
from destaflow.models.connector import ConnectorConfig, QFormerConnector, default_tap_layers
from destaflow.models.sources import model_name, parse_source

RELEASE_WEIGHTS = "qformer_connector.pth"
RELEASE_CONFIG = "config.json"
CONVENTIONS = ("training", "inference")
OURS = "destaflow"  # the export's own config.json block: what the release format leaves unsaid (taps, heads)
WHISPER_DEPTHS = {"tiny": 4, "base": 6, "small": 12, "medium": 24, "large": 32}  # encoder layers per size


def to_release_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our connector's state dict in the authors' names."""
    release = {f"layer_prompts.{i}": prompts.unsqueeze(0).clone() for i, prompts in enumerate(state["queries"])}
    for key, value in state.items():
        if key.startswith(("qformer.", "layer_weights")):
            release[key] = value.clone()
        elif key.startswith("norm."):
            release["proj.0." + key.removeprefix("norm.")] = value.clone()
        elif key.startswith("proj."):
            release["proj.1." + key.removeprefix("proj.")] = value.clone()
        elif key != "queries":
            raise ValueError(f"no place for {key} in the release layout")
    return release


def from_release_state(release: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The authors' state dict in our connector's names."""
    prompts = sorted((int(key.split(".")[1]), value) for key, value in release.items() if key.startswith("layer_prompts."))
    if not prompts or [index for index, _ in prompts] != list(range(len(prompts))):
        raise AdapterError(f"{RELEASE_WEIGHTS}: layer_prompts.0 ... layer_prompts.{{L-1}} expected, found {[i for i, _ in prompts]}")
    state = {"queries": torch.cat([value.reshape(1, *value.shape[-2:]) for _, value in prompts])}
    for key, value in release.items():
        if key.startswith(("qformer.", "layer_weights")):
            state[key] = value
        elif key.startswith("proj.0."):
            state["norm." + key.removeprefix("proj.0.")] = value
        elif key.startswith("proj.1."):
            state["proj." + key.removeprefix("proj.1.")] = value
        elif not key.startswith("layer_prompts."):
            raise AdapterError(f"{RELEASE_WEIGHTS}: unexpected key {key}")
    return state


def encoder_depth(whisper: str) -> int:
    """Encoder layers of a local Whisper folder (its config.json) or of a hub id that names its size."""
    config = Path(whisper) / "config.json"
    if config.is_file():
        return json.loads(config.read_text())["encoder_layers"]
    if match := re.search(r"whisper-(tiny|base|small|medium|large)", str(whisper)):
        return WHISPER_DEPTHS[match.group(1)]
    raise AdapterError(f"cannot tell how many encoder layers {whisper} has: pass a local Whisper folder or tap_layers")


def release_tap_layers(num_taps: int, depth: int, convention: str) -> list[int]:
    """The encoder layers (our convention: layer outputs) that the release's weights were fed under `convention`."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    taps = default_tap_layers(depth)
    if len(taps) != num_taps:
        raise AdapterError(f"the release has {num_taps} query sets, the authors' taps for {depth} encoder layers are {len(taps)}")
    if convention == "inference":
        taps = [tap - 1 for tap in taps]  # hidden_states[t] is the output of layer t - 1
        if min(taps) < 0:
            raise AdapterError("the inference convention would tap the embeddings (hidden_states[0]), which no layer outputs")
    return taps


def import_release(
    release_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    whisper: str | None = None,
    llm: str | None = None,
    convention: str | None = None,
    tap_layers: list[int] | None = None,
    source: str | None = None,
) -> Path:
    """An adapter folder from the authors' release folder. Whisper and the LLM default to the ids its config
    names. Taps: `tap_layers` (our convention) if given, else those of `convention`, else those a release this
    workflow exported records, else the training convention's. `source`: what the adapter records it came from
    (default: the folder)."""
    release_dir = Path(release_dir)
    weights, config_path = release_dir / RELEASE_WEIGHTS, release_dir / RELEASE_CONFIG
    if not weights.is_file():
        raise AdapterError(f"{release_dir}: no {RELEASE_WEIGHTS} (not a DeSTA2 release folder)")
    release_config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    whisper = whisper or release_config.get("whisper_model_id")
    llm = llm or release_config.get("llama_model_id")
    if not whisper or not llm:
        raise AdapterError(f"{release_dir}: {RELEASE_CONFIG} names no whisper_model_id / llama_model_id; pass whisper and llm")
    try:
        release = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as error:  # a pickle of anything but tensors, or a truncated file
        raise AdapterError(f"{weights}: unreadable as a tensor state dict ({str(error).splitlines()[0]})") from None
    state = from_release_state(release)
    if missing := [key for key in ("queries", "layer_weights", "proj.weight", "norm.weight", "qformer.layer.0.intermediate.dense.weight") if key not in state]:
        raise AdapterError(f"{weights}: not the release layout (no {', '.join(missing)})")
    ours = release_config.get(OURS, {})
    num_taps, num_queries, whisper_dim = state["queries"].shape
    if tap_layers is None and convention is None and ours.get("tap_layers"):
        tap_layers, convention = ours["tap_layers"], "as exported"
    convention = convention or "training"
    if tap_layers is None:
        tap_layers = release_tap_layers(num_taps, encoder_depth(whisper), convention)
    layers = {int(key.split(".")[2]) for key in state if key.startswith("qformer.layer.")}
    connector = QFormerConnector(ConnectorConfig(
        whisper_dim=whisper_dim,
        llm_dim=state["proj.weight"].shape[0],
        tap_layers=tap_layers,
        num_queries=num_queries,
        qformer_layers=len(layers),
        num_heads=ours.get("num_heads"),
        ffn_dim=state["qformer.layer.0.intermediate.dense.weight"].shape[0],
    ))  # fmt: skip
    missing, unexpected = connector.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise AdapterError(f"{weights}: does not fit the connector (missing {missing[:3]}, unexpected {unexpected[:3]})")
    record = {"source": source or str(release_dir.resolve()), "tap_convention": convention, "tap_layers": list(tap_layers), "config": release_config}
    return save_connector(connector, out_dir, whisper, llm, extra={"imported_release": record})


def prepare_release(source: str, out_dir: str | os.PathLike, whisper_dir: str | os.PathLike, llm_dir: str | os.PathLike,
                    convention: str | None = None) -> Path:
    """The release `source` names (`hub:owner/name`, downloaded here; or a local folder) as an adapter folder on
    the workflow's prepared backbones. Refused when the release names other backbones than those: its connector
    would load on them and answer nonsense."""
    spec = parse_source(source)
    if spec.kind == "package":
        raise AdapterError(f"{source}: a release is a hub id (hub:owner/name) or a local folder")
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        release_dir = download_release(spec.hub_id, Path(tmp)) if spec.kind == "hub" else spec.path
        config_path = Path(release_dir) / RELEASE_CONFIG
        release_config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        for role, key, prepared in (("whisper", "whisper_model_id", whisper_dir), ("llm", "llama_model_id", llm_dir)):
            named = release_config.get(key)
            if named and backbone_name(named) != model_name(prepared):
                raise AdapterError(f"{source}: trained on {role} {named!r}, but models.{role} is {model_name(prepared)!r}")
        return import_release(release_dir, out_dir, whisper=whisper_dir, llm=llm_dir, convention=convention, source=source)


def download_release(hub_id: str, target: Path) -> Path:
    os.environ["HF_HUB_OFFLINE"] = "0"  # a local rule: the login node has network, every other job is offline
    from huggingface_hub import snapshot_download

    snapshot_download(hub_id, local_dir=target, allow_patterns=[RELEASE_WEIGHTS, RELEASE_CONFIG])
    return target


def backbone_name(named: str) -> str:
    """A release's whisper/llama id as a prepared folder's name: a hub id as is, a folder (our exports) by its record."""
    return model_name(named) if Path(named).is_dir() else named


def export_release(adapter_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """The authors' layout from an adapter folder (the connector only: the release format has no LoRA)."""
    config = load_adapter_config(adapter_dir)
    if config.get("lora"):
        raise AdapterError(f"{adapter_dir}: carries a LoRA for the LLM, which the release layout cannot hold")
    connector = load_connector(adapter_dir, config["connector"])
    fields: dict[str, Any] = config["connector"]
    release_config = {
        "llama_model_id": config["llm"],
        "whisper_model_id": config["whisper"],
        "prompt_size": fields["num_queries"],
        OURS: {"tap_layers": list(fields["tap_layers"]), "num_heads": connector.config.num_heads, "exported_from": str(Path(adapter_dir).resolve())},
    }
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        torch.save(to_release_state(connector.state_dict()), tmp / RELEASE_WEIGHTS)
        (tmp / RELEASE_CONFIG).write_text(json.dumps(release_config, indent=2) + "\n")
    return out_dir
