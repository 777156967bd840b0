"""The learned SNR estimator: trains on the workflow's clips, saves safetensors, and tells noisy from clean."""

import json

import numpy as np
import polars as pl
import pytest
import torch

from conftest import espeak_clips
from destaflow import manifest
from destaflow.attributes.extract import build_extractor
from destaflow.attributes.snr_model import load_snr_model, train_snr_estimator
from destaflow.audio import load_audio

pytestmark = pytest.mark.slow  # trains the SNR estimator

torch.set_num_threads(1)

VOICES = {"en-us+f2": "train", "en-us+m3": "train", "en-gb-x-rp+f4": "train", "en-us+m2": "valid", "en-us+f5": "test"}
SENTENCES = ["The quick brown fox jumps over the lazy dog.", "Rain is expected tomorrow in the north."]
AUGMENT = {
    "name": "augmented", "clips": 8, "seed": 3, "snr_db": [0, 30], "noise_types": ["white", "pink", "babble"],
    "babble_speakers": [1, 2], "reverb_probability": 0.3, "noise_probability": 1.0,
    "room": {"length_m": [5, 6], "width_m": [4, 5], "height_m": [2.8, 3.2], "rt60_s": [0.3, 0.5], "distance_m": [1, 2]},
}  # fmt: skip
SETTINGS = {"steps": 200, "batch_size": 8, "clips": 100, "clean_share": 0.1, "lr": 0.002, "seed": 0, "snr_db": [-5, 40]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("snr-corpus")
    rows = [
        {"id": f"{c['voice']}-{c['index']}", "corpus": "tiny", "audio_path": str(c["path"]), "speaker": c["voice"], "split": c["split"],
         "sample_rate": c["sample_rate"], "duration": c["duration"], "duration_source": "dsp:sample-count"}
        for c in espeak_clips(root, VOICES, SENTENCES, peak=0.5)
    ]  # fmt: skip
    path = root / "tiny.parquet"
    manifest.write(pl.DataFrame(rows), path, "corpus")
    return path, rows


@pytest.fixture(scope="module")
def estimator(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("snr") / "snr_estimator"
    train_snr_estimator([str(corpus[0])], AUGMENT, SETTINGS, out, threads=1)
    return out


def test_saves_safetensors_config_and_held_out_metrics(estimator):
    assert sorted(p.name for p in estimator.iterdir()) == ["config.json", "metrics.json", "model.safetensors"]
    metrics = json.loads((estimator / "metrics.json").read_text())
    assert metrics["held_out"] == "valid" and metrics["mixtures"] == 200 and 0 <= metrics["within_3db"] <= 1
    assert metrics["clean_clips"] == 2 and metrics["noise_kinds"] == ["babble", "pink", "white"]


def test_estimates_order_noisy_below_clean(estimator, corpus):
    model = load_snr_model(estimator)
    speech = load_audio(next(r["audio_path"] for r in corpus[1] if r["split"] == "test")).samples.astype(np.float64)
    rng = np.random.default_rng(5)
    estimates = {}
    for snr in (0, 30):
        noise = rng.standard_normal(len(speech))
        noise *= np.sqrt(np.mean(speech**2) / (np.mean(noise**2) * 10 ** (snr / 10)))
        estimates[snr] = model.estimate([(speech + noise).astype(np.float32)])[0]
    assert estimates[30] - estimates[0] > 12, estimates


def test_extractor_fills_snr_with_its_provenance_and_keeps_labels(estimator, corpus):
    extractor = build_extractor("learned_snr", {}, {"snr_estimator": str(estimator)})
    rows = [dict(corpus[1][0]), dict(corpus[1][1], snr_db=12.0, snr_db_source="label")]
    audios = [load_audio(r["audio_path"]).samples for r in rows]
    out = extractor.run(rows, audios)
    assert isinstance(out[0]["snr_db"], float) and out[1] == {}
    assert extractor.name == "model:destaflow-snr-net"


def test_the_extractor_without_a_trained_folder_says_which_rule_makes_it():
    with pytest.raises(ValueError, match="train_snr_estimator"):
        build_extractor("learned_snr", {}, {})
