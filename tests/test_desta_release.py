"""The authors' DeSTA2 release layout: a synthetic qformer_connector.pth at whisper-tiny sizes is imported, chats,
is exported and re-imported with identical outputs; its module's forward is reproduced."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import BertConfig
from transformers.models.bert.modeling_bert import BertEncoder

from destaflow.cli import main as cli
from destaflow.inference import DestaModel
from destaflow.models.adapter import AdapterError, load_adapter_config, load_connector
from destaflow.models.desta_release import RELEASE_WEIGHTS, import_release, prepare_release, release_tap_layers

pytestmark = pytest.mark.slow  # loads the packaged backbones

QUERIES, TAPS, AUTHORS_FFN = 64, 4, 3072


def authors_qformer(whisper_dim: int) -> BertEncoder:
    """The authors' Q-Former as their code builds it: BertConfig()'s defaults but for width, heads, depth and
    cross-attention (so a 3072-wide feed-forward at every size)."""
    config = BertConfig(hidden_size=whisper_dim, num_attention_heads=whisper_dim // 64, num_hidden_layers=2, add_cross_attention=True, is_decoder=True)
    config._attn_implementation = "eager"
    return BertEncoder(config).eval()


@pytest.fixture(scope="module")
def release(prepared_models, tmp_path_factory):
    whisper, llm = prepared_models["whisper"], prepared_models["llm"]
    d = json.loads((whisper / "config.json").read_text())["d_model"]
    llm_dim = json.loads((llm / "config.json").read_text())["hidden_size"]
    generator = torch.Generator().manual_seed(3)
    qformer = authors_qformer(d)
    state = {f"layer_prompts.{i}": torch.randn(1, QUERIES, d, generator=generator) for i in range(TAPS)}
    state["layer_weights"] = torch.randn(QUERIES, TAPS, generator=generator)
    state |= {f"qformer.{key}": value + 0.01 * torch.randn(value.shape, generator=generator) for key, value in qformer.state_dict().items()}
    state |= {"proj.0.weight": 1 + 0.1 * torch.randn(d, generator=generator), "proj.0.bias": 0.1 * torch.randn(d, generator=generator),
              "proj.1.weight": 0.05 * torch.randn(llm_dim, d, generator=generator), "proj.1.bias": torch.zeros(llm_dim)}  # fmt: skip
    folder = tmp_path_factory.mktemp("release")
    torch.save(state, folder / RELEASE_WEIGHTS)
    (folder / "config.json").write_text(json.dumps({"llama_model_id": str(llm), "whisper_model_id": str(whisper), "prompt_size": QUERIES}))
    return folder, state


def authors_forward(state: dict, tapped: list[torch.Tensor]) -> torch.Tensor:
    """The release module's forward, written from its published description: one Q-Former call per tapped layer
    with that layer's prompts, per-query softmax over layers, LayerNorm, Linear."""
    d = tapped[0].shape[-1]
    qformer = authors_qformer(d)
    qformer.load_state_dict({key.removeprefix("qformer."): value for key, value in state.items() if key.startswith("qformer.")})
    visible = torch.zeros(1, 1, QUERIES, QUERIES)  # queries see each other (the old BertEncoder's no-mask default)
    outs = [qformer(state[f"layer_prompts.{i}"], attention_mask=visible, encoder_hidden_states=states).last_hidden_state for i, states in enumerate(tapped)]
    mixed = torch.einsum("lbqd,ql->bqd", torch.stack(outs), state["layer_weights"].softmax(dim=-1))
    normed = torch.nn.functional.layer_norm(mixed, (d,), state["proj.0.weight"], state["proj.0.bias"], eps=1e-5)
    return normed @ state["proj.1.weight"].T + state["proj.1.bias"]


def test_the_imported_connector_computes_what_the_authors_module_does(release, tmp_path):
    folder, state = release
    adapter = import_release(folder, tmp_path / "adapter")
    config = load_adapter_config(adapter)
    assert config["connector"]["ffn_dim"] == AUTHORS_FFN and config["connector"]["tap_layers"] == [0, 1, 2, 3]
    assert config["imported_release"]["tap_convention"] == "training"
    connector = load_connector(adapter, config["connector"] | {"attn_implementation": "eager"}).eval()
    tapped = [torch.randn(1, 30, state["layer_prompts.0"].shape[-1]) for _ in range(TAPS)]
    with torch.no_grad():
        torch.testing.assert_close(connector(tapped), authors_forward(state, tapped), atol=1e-5, rtol=1e-5)


def test_import_chat_export_reimport_gives_identical_outputs(release, tmp_path):
    folder, state = release
    clip = tmp_path / "clip.wav"
    sf.write(clip, 0.1 * np.sin(np.linspace(0, 2000, 16000)).astype(np.float32), 16000)
    messages = [{"role": "audio", "content": str(clip)}, {"role": "user", "content": "What can you hear?"}]

    assert cli(["import-release", str(folder), "--out", str(tmp_path / "first")]) == 0
    first = DestaModel.from_pretrained(tmp_path / "first", device="cpu").chat(messages, max_new_tokens=8)
    assert cli(["export-release", str(tmp_path / "first"), "--out", str(tmp_path / "exported")]) == 0
    exported = torch.load(tmp_path / "exported" / RELEASE_WEIGHTS, weights_only=True)
    assert exported.keys() == state.keys() and all(torch.equal(exported[key], state[key]) for key in state)
    assert cli(["import-release", str(tmp_path / "exported"), "--out", str(tmp_path / "second")]) == 0
    second = DestaModel.from_pretrained(tmp_path / "second", device="cpu").chat(messages, max_new_tokens=8)
    assert first == second and first.strip()
    assert load_adapter_config(tmp_path / "second")["connector"] == load_adapter_config(tmp_path / "first")["connector"]


def test_the_workflow_imports_a_release_onto_its_own_backbones_and_refuses_other_ones(release, prepared_models, tmp_path):
    """What the import_release rule does for an `evaluation.systems` entry of kind release."""
    folder, _ = release
    whisper, llm = prepared_models["whisper"], prepared_models["llm"]
    adapter = prepare_release(str(folder), tmp_path / "adapter", whisper, llm, convention="training")
    record = load_adapter_config(adapter)
    assert record["imported_release"]["source"] == str(folder) and record["llm"] == str(llm.resolve())
    other = tmp_path / "other"
    other.mkdir()
    (other / RELEASE_WEIGHTS).write_bytes((folder / RELEASE_WEIGHTS).read_bytes())
    (other / "config.json").write_text(json.dumps({"llama_model_id": "meta-llama/Meta-Llama-3-8B-Instruct", "whisper_model_id": str(whisper)}))
    with pytest.raises(AdapterError, match="trained on llm 'meta-llama/Meta-Llama-3-8B-Instruct', but models.llm is"):
        prepare_release(str(other), tmp_path / "refused", whisper, llm)
    assert not (tmp_path / "refused").exists()


def test_tap_conventions_and_unsafe_files(tmp_path):
    assert release_tap_layers(4, 12, "training") == [2, 5, 8, 11]
    assert release_tap_layers(4, 12, "inference") == [1, 4, 7, 10]  # hidden_states[2, 5, 8, 11]
    with pytest.raises(AdapterError, match="embeddings"):
        release_tap_layers(4, 4, "inference")  # whisper-tiny: hidden_states[0] would be the embeddings
    torch.save({"layer_prompts.0": torch.zeros(1), "note": Unsafe()}, tmp_path / RELEASE_WEIGHTS)
    (tmp_path / "config.json").write_text(json.dumps({"llama_model_id": "l", "whisper_model_id": "openai/whisper-small"}))
    with pytest.raises(AdapterError, match="unreadable as a tensor state dict"):
        import_release(tmp_path, tmp_path / "out")


class Unsafe:
    """Anything but tensors: weights_only loading refuses to unpickle it."""
