"""Adapter training on the real prepared tiny.en + SmolLM2 with eight espeak-ng clips (about a minute)."""

import dataclasses
import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from conftest import require_espeak
from destaflow.models.sources import model_name
from destaflow.models.whisper_taps import frames_for_duration, log_mels, tap_encoder
from destaflow.training.cache import EncoderCache, build_encoder_cache
from destaflow.models.adapter import load_adapter_config as read_adapter_config
from destaflow.inference import DestaModel
from destaflow.training.checkpoint import load_state
from destaflow.training.data import TapSource, full_window_mask, read_examples, text_batch
from destaflow.training.distributed import Env
from destaflow.training.loop import build_model, train_adapter, validation_loss
from destaflow.training.settings import accumulation_steps, epoch_order, global_batch_indices, learning_rate, resolve_settings

pytestmark = pytest.mark.slow  # trains on real (tiny) backbones

torch.set_num_threads(1)  # 2 spinning OpenMP threads crawl when another job holds a core

MODELS = Path(__file__).resolve().parent.parent / "resources" / "models"
USER = "What can you hear from the audio?"
SENTENCES = [
    "The cat sat on the mat.",
    "It is raining today.",
    "Please open the window.",
    "I like green apples.",
    "The train leaves at noon.",
    "We walked to the park.",
    "She reads a book.",
    "Turn left at the corner.",
]
# Small and quick: 8 queries instead of 64 keep the LLM sequence short; everything else as configured.
SMALL = {"num_queries": 8, "threads": 1, "warmup_steps": 1, "eval_samples": 1, "sample_tokens": 4, "checkpoint_every": 0}


def model_dirs(request) -> tuple[str, str]:
    """tiny.en + SmolLM2: resources/models when the workflow prepared them, else the session-prepared packages."""
    if (MODELS / "whisper" / "config.json").exists() and (MODELS / "llm" / "config.json").exists():
        return str(MODELS / "whisper"), str(MODELS / "llm")
    prepared = request.getfixturevalue("prepared_models")  # skips when the model packages are not installed
    return str(prepared["whisper"]), str(prepared["llm"])


def make_dataset(root: Path) -> dict[str, Path]:
    """Eight espeak-ng clips: c0-c3 train, c4-c5 more train, c6-c7 valid; targets name the voice and the words."""
    require_espeak()
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, text in enumerate(SENTENCES):
        voice, who = ("en-us+f3", "A woman") if i % 2 == 0 else ("en-us+m3", "A man")
        path = root / f"clip{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
        info = sf.info(str(path))
        rows.append({
            "id": f"c{i}", "caption_index": 0, "corpus": "espeak", "speaker": voice, "split": "valid" if i >= 6 else "train",
            "audio_path": str(path), "duration": info.frames / info.samplerate, "transcription": text, "input": USER,
            "target": f"{who} says: {text}", "llm": "", "gen_params": "",
            "seed": f"[00:00:00-00:00:02] {text} (Gender: {'Female' if i % 2 == 0 else 'Male'}, Duration: 2s)",
        })
    table = pl.DataFrame(rows)
    paths = {"train": root / "train.parquet", "valid": root / "valid.parquet", "train4": root / "train4.parquet", "train4x10": root / "train4x10.parquet"}
    table.filter(pl.col("split") == "train").write_parquet(paths["train"])
    table.filter(pl.col("split") == "valid").write_parquet(paths["valid"])
    first4 = table.head(4)
    first4.write_parquet(paths["train4"])
    pl.concat([first4.with_columns(caption_index=pl.lit(k)) for k in range(10)]).write_parquet(paths["train4x10"])
    return paths


@pytest.fixture(scope="module")
def dirs(request) -> tuple[str, str]:
    return model_dirs(request)


def cached_dataset(tmp_path_factory, whisper_dir: str, clips_per_shard: int) -> dict[str, Path]:
    """make_dataset's clips plus their encoder cache (taps of layers 0-3) under paths["cache"]."""
    paths = make_dataset(tmp_path_factory.mktemp("clips"))
    paths["cache"] = tmp_path_factory.mktemp("cache") / "encoder"
    build_encoder_cache([str(paths["train"]), str(paths["valid"])], whisper_dir, [0, 1, 2, 3], str(paths["cache"]), batch_size=4, clips_per_shard=clips_per_shard)
    return paths


@pytest.fixture(scope="module")
def data(tmp_path_factory, dirs) -> dict[str, Path]:
    return cached_dataset(tmp_path_factory, dirs[0], clips_per_shard=4)


@pytest.fixture(scope="module")
def model(dirs):
    return build_model(resolve_settings({"num_queries": 8, "dropout": 0.0}), *dirs, Env()).eval()


# ---- pure functions ----------------------------------------------------------------------------------------


def test_schedule_warms_up_linearly_then_decays_by_cosine():
    s = resolve_settings({"lr": 1.0, "warmup_steps": 4, "min_lr": 0.0})
    assert [learning_rate(k, s, 14) for k in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert learning_rate(9, s, 14) == pytest.approx(0.5)  # half-way through the cosine
    assert learning_rate(14, s, 14) == pytest.approx(0.0)
    assert learning_rate(9, dataclasses.replace(s, schedule="constant"), 14) == 1.0


def test_epochs_shuffle_reproducibly_and_the_last_batch_wraps_around():
    order = epoch_order(10, 42, 0)
    assert sorted(order) == list(range(10)) and order == epoch_order(10, 42, 0) and order != epoch_order(10, 42, 1)
    batches = [global_batch_indices(order, k, 4) for k in range(3)]
    assert sum(batches, [])[:10] == order and batches[2][2:] == order[:2]


def test_global_batch_must_split_into_micro_batches_and_processes():
    assert accumulation_steps(resolve_settings({"global_batch": 16, "micro_batch": 4}), 2) == 2
    with pytest.raises(ValueError, match="not a multiple"):
        accumulation_steps(resolve_settings({"global_batch": 6, "micro_batch": 4}), 1)


# ---- encoder cache -----------------------------------------------------------------------------------------


def test_cache_holds_every_clip_trimmed_in_fp16_shards(data, dirs):
    index = pl.read_parquet(data["cache"] / "index.parquet")
    clips = pl.concat([pl.read_parquet(data["train"]), pl.read_parquet(data["valid"])])
    assert sorted(index["id"]) == sorted(clips["id"]) and index["shard"].n_unique() == 2
    assert pl.read_parquet(data["cache"] / "quarantine.parquet").height == 0
    cache = EncoderCache(data["cache"])
    row = clips.row(0, named=True)
    tapped, frames = cache[row["id"]]
    assert frames == frames_for_duration(row["duration"]) and tapped.shape == (4, frames, 384) and tapped.dtype == torch.float32
    shard, key = index.filter(pl.col("id") == row["id"]).select("shard", "key").row(0)
    assert load_file(str(data["cache"] / "shards" / shard))[key].dtype == torch.float16
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

    from destaflow.audio import load_audio

    whisper = WhisperForConditionalGeneration.from_pretrained(dirs[0]).eval()
    features = log_mels(WhisperFeatureExtractor.from_pretrained(dirs[0]), [load_audio(row["audio_path"]).samples])
    fresh = tap_encoder(whisper, features, [0, 1, 2, 3])[0, :, :frames]
    torch.testing.assert_close(tapped, fresh, atol=2e-2, rtol=2e-3)  # fp16 storage


def test_cache_resumes_shard_by_shard_and_quarantines_unreadable_audio(data, dirs, tmp_path):
    shards = sorted((data["cache"] / "shards").glob("*.safetensors"))
    copy = tmp_path / "encoder"
    shutil.copytree(data["cache"], copy)
    (copy / "shards" / shards[1].name).unlink()
    kept = (copy / "shards" / shards[0].name).stat().st_mtime_ns
    build_encoder_cache([str(data["train"]), str(data["valid"])], dirs[0], [0, 1, 2, 3], str(copy), batch_size=4, clips_per_shard=4)
    assert (copy / "shards" / shards[0].name).stat().st_mtime_ns == kept  # not rebuilt
    assert (copy / "shards" / shards[1].name).exists() and len(EncoderCache(copy)) == 8

    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wave file")
    table = pl.read_parquet(data["train"]).head(1)
    extra = table.with_columns(id=pl.lit("missing"), audio_path=pl.lit(str(tmp_path / "nowhere.wav")))
    extra = pl.concat([extra, table.with_columns(id=pl.lit("broken"), audio_path=pl.lit(str(broken)))])
    pl.concat([table, extra]).write_parquet(tmp_path / "split.parquet")
    index = build_encoder_cache([str(tmp_path / "split.parquet")], dirs[0], [0, 1, 2, 3], str(tmp_path / "q"), batch_size=4)
    assert index["id"].to_list() == ["c0"]
    quarantine = pl.read_parquet(tmp_path / "q" / "quarantine.parquet").sort("id")
    assert quarantine["id"].to_list() == ["broken", "missing"] and set(quarantine["stage"]) == {"encode_corpus"}
    assert quarantine.filter(pl.col("id") == "missing")["reason"].item() == "missing file"


def test_cache_runs_whisper_in_the_backbone_dtype_and_rebuilds_when_it_changes(data, dirs, tmp_path):
    """train.backbone_dtype: bfloat16 makes the corpus pass's taps what a bf16 Whisper (the speech LM's at answer
    time) gives; a cache made in another dtype is rebuilt, not reused."""
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

    from destaflow.audio import load_audio

    clips = pl.read_parquet(data["train"]).head(2)
    clips.write_parquet(tmp_path / "two.parquet")
    cache_dir = tmp_path / "cache"
    build_encoder_cache([str(tmp_path / "two.parquet")], dirs[0], [0, 1, 2, 3], str(cache_dir), batch_size=2, dtype="bfloat16")
    assert json.loads((cache_dir / "cache_config.json").read_text())["dtype"] == "bfloat16"
    row = clips.row(0, named=True)
    tapped, frames = EncoderCache(cache_dir)[row["id"]]
    whisper = WhisperForConditionalGeneration.from_pretrained(dirs[0], dtype=torch.bfloat16).eval()
    features = log_mels(WhisperFeatureExtractor.from_pretrained(dirs[0]), [load_audio(row["audio_path"]).samples])
    with torch.inference_mode():
        bf16 = tap_encoder(whisper, features.to(torch.bfloat16), [0, 1, 2, 3])[0, :, :frames].float()
        fp32 = tap_encoder(whisper.float(), features, [0, 1, 2, 3])[0, :, :frames]
    torch.testing.assert_close(tapped, bf16.half().float())
    assert not torch.allclose(tapped, fp32, atol=2e-2, rtol=2e-3)  # bf16 is not float32's taps

    shard = next((cache_dir / "shards").glob("*.safetensors"))
    built = shard.stat().st_mtime_ns
    build_encoder_cache([str(tmp_path / "two.parquet")], dirs[0], [0, 1, 2, 3], str(cache_dir), batch_size=2, dtype="float32")
    assert shard.stat().st_mtime_ns != built and json.loads((cache_dir / "cache_config.json").read_text())["dtype"] == "float32"


def test_one_pass_gives_the_asr_stage_transcripts_and_caches_read_as_one(data, dirs, tmp_path):
    from destaflow.asr import load_whisper, transcribe
    from destaflow.audio import load_audio

    clips = pl.read_parquet(data["train"]).head(3).with_columns(id=pl.concat_str(pl.lit("x"), "id"))
    audios = [load_audio(path).samples for path in clips["audio_path"]]
    long_audio = np.concatenate([audios[0], np.zeros(31 * 16000, np.float32), audios[1]])  # two windows
    sf.write(tmp_path / "long.wav", long_audio, 16000)
    clips = pl.concat([clips, clips.head(1).with_columns(id=pl.lit("xlong"), audio_path=pl.lit(str(tmp_path / "long.wav")), duration=pl.lit(len(long_audio) / 16000))])
    clips.write_parquet(tmp_path / "corpus.parquet")
    build_encoder_cache([str(tmp_path / "corpus.parquet")], dirs[0], [0, 1, 2, 3], str(tmp_path / "one"), batch_size=4,
                        transcripts_path=str(tmp_path / "transcripts.parquet"), quarantine_path=str(tmp_path / "quarantine.parquet"))
    transcripts = pl.read_parquet(tmp_path / "transcripts.parquet").sort("id")
    processor, model = load_whisper(dirs[0])  # what the ASR cascade and `destaflow transcribe` use
    expected = transcribe([load_audio(path).samples for path in clips.sort("id")["audio_path"]], processor, model, 4)
    assert transcripts["transcription"].to_list() == expected and len(expected[-1]) > len(expected[0])  # xlong: both windows
    assert pl.read_parquet(tmp_path / "quarantine.parquet").height == 0

    with pytest.raises(ValueError, match="no encoder cache"):
        EncoderCache([])
    both = EncoderCache([data["cache"], tmp_path / "one"])
    assert len(both) == 8 + 4
    original = clips.row(0, named=True)["id"].removeprefix("x")
    torch.testing.assert_close(both["x" + original][0], both[original][0])  # the same audio, cached twice
    with pytest.raises(ValueError, match="more than one encoder cache"):
        EncoderCache([data["cache"], data["cache"]])


def test_a_killed_corpus_pass_resumes_from_its_work_folder_and_publishes_whole(data, dirs, tmp_path, monkeypatch):
    from destaflow.training import cache as cache_module
    from destaflow.training.cache import encode_corpus

    work, cache = tmp_path / "work", tmp_path / "cache"
    corpus = tmp_path / "corpus.parquet"
    pl.concat([pl.read_parquet(data["train"]), pl.read_parquet(data["valid"])]).write_parquet(corpus)
    outputs = [str(cache), str(tmp_path / "transcripts.parquet"), str(tmp_path / "quarantine.parquet")]

    def killed(_):
        raise KeyboardInterrupt  # the job dies before publishing

    with monkeypatch.context() as patch:
        patch.setattr(cache_module, "atomic_dir", killed)
        with pytest.raises(KeyboardInterrupt):
            encode_corpus(str(corpus), dirs[0], [0, 1, 2, 3], 4, True, str(work), *outputs, clips_per_shard=4)
    (work / "shards" / "shard-00001.safetensors").unlink()  # as if killed earlier: shard 0 done, shard 1 missing
    done = (work / "shards" / "shard-00000.safetensors").stat().st_mtime_ns
    encode_corpus(str(corpus), dirs[0], [0, 1, 2, 3], 4, True, str(work), *outputs, clips_per_shard=4)
    assert not work.exists() and (cache / "shards" / "shard-00000.safetensors").stat().st_mtime_ns == done
    assert len(EncoderCache(cache)) == 8 and pl.read_parquet(tmp_path / "transcripts.parquet").height == 8


# ---- batches: cached and reference paths give the same loss -------------------------------------------------


def batch_loss(model, batch_text, tapped, mask) -> float:
    with torch.no_grad():
        loss, _ = model(batch_text.inputs, model.audio_embeddings(tapped, mask))
    return float(loss)


def test_cached_and_uncached_taps_give_the_same_loss(model, data, dirs, tmp_path):
    examples = read_examples(data["train"])[:4]
    text = text_batch(model, examples, 200)
    frames = [frames_for_duration(e["duration"]) for e in examples]

    cached_trimmed = batch_loss(model, text, *TapSource(model, EncoderCache(data["cache"]), trim=True)(examples))
    reference_trimmed = batch_loss(model, text, *TapSource(model, None, trim=True, whisper_dir=dirs[0])(examples))
    full, no_mask = TapSource(model, None, trim=False, whisper_dir=dirs[0])(examples)
    assert full.shape == (4, 4, 1500, 384) and no_mask is None
    reference_full = batch_loss(model, text, full, None)
    reference_full_masked = batch_loss(model, text, full, full_window_mask(frames))

    # masked frames change nothing: trimmed (cached or not) == all 1500 frames with the padding masked
    assert abs(cached_trimmed - reference_full_masked) < 1e-4
    assert abs(reference_trimmed - reference_full_masked) < 1e-5
    assert abs(reference_full - reference_full_masked) > 1e-3  # ... and the mask is what makes the difference

    untrimmed = tmp_path / "untrimmed"
    pl.read_parquet(data["train"]).head(4).write_parquet(tmp_path / "four.parquet")
    build_encoder_cache([str(tmp_path / "four.parquet")], dirs[0], [0, 1, 2, 3], str(untrimmed), batch_size=4, trim=False)
    cached_full = batch_loss(model, text, *TapSource(model, EncoderCache(untrimmed), trim=False)(examples))
    assert abs(cached_full - reference_full) < 1e-4  # the reference loop, only fp16 storage between them
    with pytest.raises(ValueError, match="untrimmed cache"):
        TapSource(model, EncoderCache(data["cache"]), trim=False)


def test_bf16_backbones_on_cpu_train_the_fp32_connector_to_the_same_losses(data, dirs):
    """train.backbone_dtype: bfloat16 casts the frozen Whisper and LLM and runs the step under CPU autocast; the
    connector's weights, gradients and optimiser stay fp32, and the losses stay within 1 % of fp32's."""
    import copy

    from destaflow.training.loop import optimiser_step

    examples = read_examples(data["train"])[:4]
    start, losses = None, {}
    for dtype in ("float32", "bfloat16"):
        settings = resolve_settings({"num_queries": 8, "dropout": 0.0, "global_batch": 4, "micro_batch": 2, "backbone_dtype": dtype})
        model = build_model(settings, *dirs, Env())
        start = start or copy.deepcopy(model.connector.state_dict())  # both start from the same connector
        model.connector.load_state_dict(start)
        taps = TapSource(model, EncoderCache(data["cache"]), trim=True)
        optimizer = torch.optim.AdamW(model.connector.parameters(), lr=1e-3)
        losses[dtype] = [optimiser_step(model, model.connector, optimizer, examples, taps, settings, Env()) for _ in range(2)]
        assert next(model.llm.parameters()).dtype == getattr(torch, dtype) and next(model.whisper.parameters()).dtype == getattr(torch, dtype)
        assert all(p.dtype == torch.float32 for p in model.connector.parameters())
        assert all(s["exp_avg"].dtype == torch.float32 for s in optimizer.state.values())
    for fp32, bf16 in zip(losses["float32"], losses["bfloat16"]):
        fp32_loss, bf16_loss = fp32.loss_sum / fp32.tokens, bf16.loss_sum / bf16.tokens
        assert abs(bf16_loss - fp32_loss) / fp32_loss < 0.01, (fp32_loss, bf16_loss)


def test_token_cap_cuts_targets_and_counts_them(model, data):
    examples = read_examples(data["train"])[:4]
    full = text_batch(model, examples, None)
    context = min(int(row.ne(-100).nonzero()[0]) for row in full.inputs["labels"])
    capped = text_batch(model, examples, context + 2)
    assert full.num_truncated == 0 and capped.num_truncated == 4 and capped.tokens < full.tokens


# ---- the loop ----------------------------------------------------------------------------------------------


def run(data, dirs, out, settings, **kwargs) -> dict:
    return train_adapter(SMALL | settings, *dirs, str(data.get("train_split", data["train4"])), str(data["valid"]), str(data["cache"]), str(out), **kwargs)


def logged_losses(out: Path) -> list[float]:
    return pl.read_csv(out / "log.csv")["loss"].to_list()


KILLED_TRAINING = """
import json, sys, time
import torch
from destaflow.training import loop
from destaflow.training.runlog import RunLogs

torch.set_num_threads(1)
real_step = RunLogs.step

def hang_after_step_3(self, row):
    real_step(self, row)
    if row["step"] == 3:
        print("step 3 logged", flush=True)
        time.sleep(600)  # killed here

RunLogs.step = hang_after_step_3
loop.train_adapter(*json.loads(sys.argv[1]))
"""


def test_a_stopped_or_sigkilled_run_resumes_with_the_same_losses(data, dirs, tmp_path):
    settings = {"epochs": 2, "global_batch": 2, "micro_batch": 1, "dropout": 0.1}  # 2 steps per epoch, dropout on
    run(data, dirs, tmp_path / "straight", settings)
    reference = logged_losses(tmp_path / "straight")
    assert len(reference) == 4

    out = tmp_path / "interrupted"
    summary = run(data, dirs, out, settings, max_steps=1)
    assert summary["stopped_early"] and summary["steps"] == 1 and load_state(out / "checkpoint" / "state.pt")["position"] == 1

    arguments = [SMALL | settings | {"checkpoint_every": 2}, *dirs, str(data["train4"]), str(data["valid"]), str(data["cache"]), str(out)]
    job = subprocess.Popen([sys.executable, "-c", KILLED_TRAINING, json.dumps(arguments)], stdout=subprocess.PIPE, text=True)
    assert job.stdout.readline().strip() == "step 3 logged", "the training job ended before it could be killed"
    os.kill(job.pid, signal.SIGKILL)  # checkpoint_every does not change the run
    job.wait()
    assert job.returncode == -signal.SIGKILL
    assert len(logged_losses(out)) == 3  # step 3 was logged, but its checkpoint was never written
    summary = run(data, dirs, out, settings)
    resumed = logged_losses(out)
    assert pl.read_csv(out / "log.csv")["step"].to_list() == [1, 2, 3, 4]
    assert all(abs(a - b) <= 1e-6 for a, b in zip(resumed, reference, strict=True)), (resumed, reference)
    assert pl.read_csv(out / "valid.csv")["valid_loss"].to_list() == pytest.approx(pl.read_csv(tmp_path / "straight" / "valid.csv")["valid_loss"].to_list(), abs=1e-6)
    assert pl.read_csv(out / "probe.csv").drop("step").equals(pl.read_csv(tmp_path / "straight" / "probe.csv").drop("step"))
    straight, interrupted = (load_file(str(d / "adapter" / "connector.safetensors")) for d in (tmp_path / "straight", out))
    assert all(torch.allclose(straight[k], interrupted[k], atol=1e-6) for k in straight)

    with pytest.raises(ValueError, match="other training settings"):
        run(data, dirs, out, settings | {"lr": 5e-4})


def test_loss_falls_on_four_clips_and_the_adapter_reloads(data, dirs, tmp_path, model):
    out = tmp_path / "sanity"
    settings = {"epochs": 1, "global_batch": 2, "micro_batch": 2, "lr": 3e-3, "schedule": "constant", "dropout": 0.0, "eval_samples": 2}
    summary = run(data | {"train_split": data["train4x10"]}, dirs, out, settings)
    losses = logged_losses(out)
    assert summary["steps"] == len(losses) == 20
    assert sum(losses[-4:]) / 4 < 0.6 * sum(losses[:4]) / 4, losses

    log = pl.read_csv(out / "log.csv")
    assert log.columns == ["step", "epoch", "loss", "lr", "tokens", "seconds"] and (log["tokens"] > 0).all()
    valid = pl.read_csv(out / "valid.csv")
    assert valid.height == 1 and valid["train_truncated"].item() == 0 and math.isfinite(valid["valid_loss"].item())
    probe = pl.read_csv(out / "probe.csv")  # before training and after the epoch, on the two validation clips
    assert probe["epoch"].to_list() == [0, 1] and probe["attribute"].to_list() == ["gender", "gender"]
    assert probe["n"].to_list() == [2, 2] and probe["majority"].to_list() == [50.0, 50.0]
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [s["id"] for s in samples] == ["c6", "c7"] and samples[0]["reference"] == f"A woman says: {SENTENCES[6]}"
    assert json.loads((out / "summary.json").read_text())["steps"] == 20

    # the checkpoint is the connector and nothing else, and it reproduces the logged validation loss
    weights = load_file(str(out / "adapter" / "connector.safetensors"))
    assert set(weights) == set(model.connector.state_dict())
    config = read_adapter_config(out / "adapter")
    assert config["connector"]["num_queries"] == 8 and config["connector"]["tap_layers"] == [0, 1, 2, 3]
    assert (config["whisper_name"], config["llm_name"]) == (model_name(dirs[0]), model_name(dirs[1]))
    reloaded = DestaModel.from_pretrained(out / "adapter").speech_lm
    taps = TapSource(reloaded, EncoderCache(data["cache"]), trim=True)
    valid_loss, _, _ = validation_loss(reloaded, read_examples(data["valid"]), taps, resolve_settings(SMALL | settings), Env())
    assert valid_loss == pytest.approx(valid["valid_loss"].item(), abs=1e-5)
