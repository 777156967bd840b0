"""The finetuning stage: the instruction set, and LoRA in the training loop on the real tiny.en + SmolLM2."""

import os
import re
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from destaflow import manifest
from destaflow.finetune import balance_labels, build_instruction_set, cap_per_task, finetune_settings
from destaflow.models.adapter import load_adapter_config, save_adapter
from destaflow import tables
from destaflow.training.cache import EncoderCache
from destaflow.inference import DestaModel
from destaflow.training.checkpoint import load_state
from destaflow.training.data import TapSource, read_examples
from destaflow.training.distributed import Env, close_distributed, init_distributed
from destaflow.training.lora import average_lora_gradients, trainable_parameters
from destaflow.training.checkpoint import resume_fingerprint
from destaflow.training.loop import build_model, optimiser_step, train_adapter
from destaflow.training.settings import resolve_settings
from test_training import SMALL, USER, cached_dataset, model_dirs
from test_training_ddp import free_port

pytestmark = pytest.mark.slow  # trains on real (tiny) backbones

torch.set_num_threads(1)  # 2 spinning OpenMP threads crawl when another job holds a core

LORA = {"enabled": True}  # the defaults: rank 8, alpha 32, dropout 0.05 on q/k/v
QKV_LORA = re.compile(r"\.layers\.\d+\.self_attn\.[qkv]_proj\.lora_[AB]\.default\.weight$")


# ---- the instruction set -------------------------------------------------------------------------------------


def write_attribute_manifest(path: Path, corpus: str, rows: list[dict], extra: dict | None = None) -> str:
    """An attributes-stage manifest: the given labels (sourced 'label'), everything else null."""
    schema = {name: column.dtype for name, column in manifest.STAGE_COLUMNS["attributes"].items()}
    full = []
    for row in rows:
        record = {name: None for name in schema} | {"corpus": corpus, "audio_path": f"{row['id']}.wav", "sample_rate": 16000, "duration": 1.5, "duration_source": "dsp:sample-count"}
        record |= row | {f"{name}_source": "label" for name in row if name in manifest.ATTRIBUTES and name != "duration"}
        full.append(record | (extra or {}))
    extra_schema = {name: pl.String for name in extra or {}}
    manifest.write(pl.DataFrame(full, schema=schema | extra_schema), path, "attributes")
    return str(path)


@pytest.fixture
def labelled(tmp_path) -> dict:
    """Two corpora; gender train 3 female : 1 male, valid 1 : 1, test male only; clip x3 has no transcript."""
    a = [
        {"id": "a1", "speaker": "s1", "split": "train", "gender": "female", "accent": "Scottish"},
        {"id": "a2", "speaker": "s1", "split": "train", "gender": "female", "accent": "Scottish"},
        {"id": "a3", "speaker": "s2", "split": "train", "gender": "female", "accent": "Irish"},
        {"id": "a4", "speaker": "s3", "split": "train", "gender": "male", "accent": "Irish"},
        {"id": "a5", "speaker": "s4", "split": "valid", "gender": "female", "accent": "Irish"},
    ]
    x = [
        {"id": "x1", "speaker": "t1", "split": "valid", "gender": "male"},
        {"id": "x2", "speaker": "t2", "split": "test", "gender": "male"},
        {"id": "x3", "speaker": "t3", "split": "test", "gender": "female"},
    ]
    manifests = [write_attribute_manifest(tmp_path / "a.parquet", "a", a), write_attribute_manifest(tmp_path / "x.parquet", "x", x, {"raw_tag": "r"})]
    transcripts = tmp_path / "transcripts.parquet"
    pl.DataFrame({"id": [r["id"] for r in a + x if r["id"] != "x3"], "transcription": [f"words of {r['id']}" for r in a + x if r["id"] != "x3"], "transcription_source": "w"}).write_parquet(transcripts)
    return {"manifests": manifests, "transcripts": [str(transcripts)]}


def read_split(out: Path, split: str) -> pl.DataFrame:
    return pl.read_parquet(out / f"{split}.parquet")


def test_instruction_set_has_the_training_set_columns_per_split(labelled, tmp_path):
    out = tmp_path / "instructions"
    examples = build_instruction_set(labelled["manifests"], labelled["transcripts"], ["gender", "accent"], seed=0, out_dir=str(out), balance=False)
    for split in manifest.SPLITS:
        table = read_split(out, split)
        assert table.columns == list(tables.TRAINSET) and set(table["split"]) <= {split}
        assert table.schema["caption_index"] == pl.Int64 and table.schema["duration"] == pl.Float64
    assert pl.concat([read_split(out, s) for s in manifest.SPLITS]).sort("id", "caption_index").equals(examples)

    row = examples.filter((pl.col("id") == "a4") & (pl.col("caption_index") == 1)).row(0, named=True)  # accent = task 1
    assert row["target"] == "Irish" and row["input"].endswith("The answer could be Irish or Scottish.")
    assert (row["transcription"], row["audio_path"], row["corpus"], row["speaker"]) == ("words of a4", "a4.wav", "a", "s3")
    assert row["seed"] is None and row["llm"] is None and row["gen_params"] is None
    assert "x3" not in examples["id"].to_list()  # no transcript, no example
    assert examples.select("id", "caption_index").is_unique().all()


def test_balancing_keeps_as_many_of_each_label_as_the_rarest_has(labelled, tmp_path):
    run = lambda seed, out: build_instruction_set(labelled["manifests"], labelled["transcripts"], ["gender"], seed, str(tmp_path / out))  # noqa: E731
    examples = run(0, "b0")
    counts = {(r["split"], r["target"]): r["n"] for r in examples.group_by("split", "target").agg(pl.len().alias("n")).iter_rows(named=True)}
    assert counts == {("train", "female"): 1, ("train", "male"): 1, ("valid", "female"): 1, ("valid", "male"): 1, ("test", "male"): 1}
    summary = pl.read_csv(tmp_path / "b0" / "summary.csv")
    assert summary.columns == ["task", "split", "label", "examples"] and summary["examples"].sum() == examples.height == 5
    assert run(0, "again").equals(examples)  # seeded
    assert len({tuple(run(seed, f"s{seed}").filter(pl.col("split") == "train")["id"]) for seed in range(8)}) > 1  # the draw varies


def test_max_per_task_caps_each_task_and_split_keeping_labels_balanced():
    records = pl.DataFrame({
        "task": ["gender"] * 10 + ["pitch"] * 6, "split": ["train"] * 16,
        "label": ["female"] * 6 + ["male"] * 4 + ["high", "low", "normal"] * 2, "clip_id": [str(n) for n in range(16)],
    })
    capped = balance_labels(records, seed=0, max_per_task=4)
    counts = dict(capped.group_by("task", "label").len().select(pl.concat_str("task", "label", separator=":"), "len").iter_rows())
    assert counts == {"gender:female": 2, "gender:male": 2, "pitch:high": 1, "pitch:low": 1, "pitch:normal": 1}
    assert balance_labels(records, seed=0).height == 8 + 6  # uncapped: the rarest label's count per label
    assert cap_per_task(records, seed=0, max_per_task=5).group_by("task").len().sort("task")["len"].to_list() == [5, 5]


def test_the_two_table_iv_variants_differ_only_in_the_starting_connector():
    caption_stage = {"lr": 1e-4, "epochs": 3, "num_queries": 64}
    desta2 = finetune_settings(caption_stage, {"init_from_captions": True, "train": {"lr": 5e-5}}, "results/adapter/adapter")
    ft_only = finetune_settings(caption_stage, {"init_from_captions": False, "train": {"lr": 5e-5}}, None)
    assert desta2["init_adapter"] == "results/adapter/adapter" and ft_only["init_adapter"] is None
    assert desta2["lora"] == ft_only["lora"] == {"enabled": True, "rank": 8, "alpha": 32, "dropout": 0.05, "target_modules": ["q_proj", "k_proj", "v_proj"]}
    assert desta2["lr"] == 5e-5 and desta2["epochs"] == 3
    with pytest.raises(ValueError, match="caption-trained adapter"):
        finetune_settings(caption_stage, {}, None)


def test_without_a_lora_block_the_settings_and_fingerprint_are_the_caption_stages():
    settings = resolve_settings({"num_queries": 8})
    assert settings.lora is None and settings.init_adapter is None
    assert resolve_settings({"lora": {"enabled": False, "rank": 4}}).lora is None
    assert '"lora"' not in resume_fingerprint(settings, 4) and '"init_adapter"' not in resume_fingerprint(settings, 4)
    assert '"lora"' in resume_fingerprint(resolve_settings({"lora": LORA}), 4)
    with pytest.raises(ValueError, match="unknown lora settings"):
        resolve_settings({"lora": {"enabled": True, "r": 4}})


# ---- LoRA in the training loop --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dirs(request) -> tuple[str, str]:
    return model_dirs(request)


@pytest.fixture(scope="module")
def data(tmp_path_factory, dirs) -> dict[str, Path]:
    return cached_dataset(tmp_path_factory, dirs[0], clips_per_shard=8)


def frozen_parameters(model) -> dict[str, torch.Tensor]:
    trained = {id(p) for p in trainable_parameters(model)}
    return {name: p.detach().clone() for name, p in model.named_parameters() if id(p) not in trained}


def test_lora_trains_only_the_connector_and_qkv_lora_and_reloads_for_inference(data, dirs, tmp_path):
    from transformers import WhisperFeatureExtractor


    settings = resolve_settings(SMALL | {"dropout": 0.0, "lora": LORA, "lr": 1e-2})
    model = build_model(settings, *dirs, Env())
    lora_names = [name for name, p in model.llm.named_parameters() if p.requires_grad]
    assert len(lora_names) == 6 * model.llm.config.num_hidden_layers and all(QKV_LORA.search(name) for name in lora_names)
    dropouts = [m for name, m in model.llm.named_modules() if name.endswith("lora_dropout")]
    assert dropouts and all(m.training for m in dropouts) and not model.llm.get_decoder().training and not model.whisper.training

    frozen = frozen_parameters(model)
    connector = {name: p.detach().clone() for name, p in model.connector.named_parameters()}
    lora = {name: p.detach().clone() for name, p in model.llm.named_parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=settings.lr)
    taps = TapSource(model, EncoderCache(data["cache"]), trim=True)
    for _ in range(2):
        optimiser_step(model, model.connector, optimizer, read_examples(data["train4"]), taps, settings, Env())

    assert all(torch.equal(p, frozen[name]) for name, p in frozen_parameters(model).items()) and len(frozen) == len(frozen_parameters(model))
    assert all(not torch.equal(getattr(model.connector, name), connector[name]) for name in ("queries", "layer_weights"))
    assert not torch.equal(model.connector.proj.weight, connector["proj.weight"])
    assert all(not torch.equal(p, lora[name]) for name, p in model.llm.named_parameters() if p.requires_grad)

    adapter = save_adapter(model, tmp_path / "adapter", *dirs, {"step": 2})
    assert load_adapter_config(adapter)["lora"] == "lora" and (adapter / "lora" / "adapter_model.safetensors").exists()
    messages = [{"role": "audio", "content": read_examples(data["valid"])[0]["audio_path"]}, {"role": "user", "content": USER}]
    in_memory = DestaModel.from_components(model, WhisperFeatureExtractor.from_pretrained(dirs[0]))
    loaded = DestaModel.from_pretrained(adapter, device="cpu")
    assert loaded.chat(messages, max_new_tokens=6) == in_memory.chat(messages, max_new_tokens=6)
    q_base = frozen["llm.base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight"]
    q_merged = loaded.speech_lm.llm.model.layers[0].self_attn.q_proj.weight
    assert not torch.equal(q_merged, q_base)  # the LoRA was merged in, and it is not zero
    torch.testing.assert_close(DestaModel.from_pretrained(adapter).speech_lm.llm.model.layers[0].self_attn.q_proj.weight, q_merged)


def run(data, dirs, out, settings, train="train4", **kwargs) -> dict:
    return train_adapter(SMALL | settings, *dirs, str(data[train]), str(data["valid"]), str(data["cache"]), str(out), **kwargs)


def logged_losses(out: Path) -> list[float]:
    return pl.read_csv(out / "log.csv")["loss"].to_list()


def test_lora_loss_falls_at_a_high_learning_rate(data, dirs, tmp_path):
    out = tmp_path / "falls"
    settings = {"epochs": 1, "global_batch": 4, "micro_batch": 4, "lr": 3e-3, "schedule": "constant", "dropout": 0.0, "lora": LORA}
    summary = run(data, dirs, out, settings, train="train4x10")
    losses = logged_losses(out)
    assert summary["steps"] == len(losses) == 10
    assert sum(losses[-3:]) / 3 < 0.6 * sum(losses[:3]) / 3, losses
    assert load_adapter_config(out / "adapter")["lora"] == "lora"
    state = load_state(out / "checkpoint" / "state.pt")  # weights_only
    assert state["lora"] and all(QKV_LORA.search(name) for name in state["lora"])


def test_a_stopped_lora_run_resumes_with_the_same_losses(data, dirs, tmp_path):
    settings = {"epochs": 2, "global_batch": 2, "micro_batch": 1, "dropout": 0.1, "lora": LORA}  # dropout on, LoRA's too
    run(data, dirs, tmp_path / "straight", settings)
    reference = logged_losses(tmp_path / "straight")
    out = tmp_path / "stopped"
    assert run(data, dirs, out, settings, max_steps=1)["stopped_early"]
    run(data, dirs, out, settings)
    resumed = logged_losses(out)
    assert len(reference) == 4 and all(abs(a - b) <= 1e-6 for a, b in zip(resumed, reference, strict=True)), (resumed, reference)
    straight, stopped = (load_file(str(d / "adapter" / "lora" / "adapter_model.safetensors")) for d in (tmp_path / "straight", out))
    assert straight.keys() == stopped.keys() and all(torch.allclose(straight[k], stopped[k], atol=1e-6) for k in straight)
    with pytest.raises(ValueError, match="other training settings"):
        run(data, dirs, out, settings | {"lora": {"enabled": True, "rank": 4}})


def test_init_adapter_starts_from_its_connector_and_must_fit(dirs, tmp_path):
    captions = save_adapter(build_model(resolve_settings(SMALL | {"seed": 7}), *dirs, Env()), tmp_path / "captions", *dirs)
    trained = load_file(str(captions / "connector.safetensors"))
    desta2 = build_model(resolve_settings(SMALL | {"lora": LORA, "init_adapter": str(captions)}), *dirs, Env())
    ft_only = build_model(resolve_settings(SMALL | {"lora": LORA}), *dirs, Env())
    assert all(torch.equal(p, trained[name]) for name, p in desta2.connector.state_dict().items())
    assert not torch.equal(ft_only.connector.queries, trained["queries"])
    # the LoRA starts the same either way: its initialisation does not depend on where the connector came from
    assert all(torch.equal(a, b) for a, b in zip(desta2.llm.parameters(), ft_only.llm.parameters()))

    with pytest.raises(ValueError, match="does not fit"):
        build_model(resolve_settings(SMALL | {"num_queries": 16, "init_adapter": str(captions)}), *dirs, Env())
    with pytest.raises(ValueError, match="already carries a LoRA"):
        build_model(resolve_settings(SMALL | {"init_adapter": str(save_adapter(ft_only, tmp_path / "with_lora", *dirs))}), *dirs, Env())


def lora_averaging_worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))
    env = init_distributed()
    try:
        llm = torch.nn.Linear(3, 2)
        llm.bias.requires_grad_(False)  # a frozen weight: left alone
        llm.weight.grad, llm.bias.grad = torch.full((2, 3), float(rank + 1)), torch.full((2,), float(rank + 1))
        average_lora_gradients(SimpleNamespace(llm=llm), env)
        torch.save({"weight": llm.weight.grad, "bias": llm.bias.grad}, f"{out}.{rank}")
    finally:
        close_distributed(env)


def test_lora_gradients_are_averaged_over_processes_as_ddp_averages_the_connectors(tmp_path):
    out = str(tmp_path / "gradient")
    mp.spawn(lora_averaging_worker, args=(2, free_port(), out), nprocs=2, join=True)
    for rank in range(2):
        gradients = torch.load(f"{out}.{rank}", weights_only=True)
        assert torch.equal(gradients["weight"], torch.full((2, 3), 1.5)) and torch.equal(gradients["bias"], torch.full((2,), float(rank + 1)))
