"""Voice activity: region arithmetic, the pyannote stage on synthesized clips padded with known silence, the
attribute stage reading it, bad audio kept or quarantined; the brouhaha-style model trained for a few steps with
pyannote's API, loaded and run in the same pass."""

import json
import statistics
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf

from conftest import espeak_clips
from destaflow.attributes.dsp import active_span, active_span_seconds, phoneme_count
from destaflow.attributes.extract import build_extractor, extract_attributes
from destaflow.audio import load_audio
from destaflow.brouhaha import train_brouhaha
from destaflow.config import augment_settings, validate_config
from destaflow.isolated_env import EnvironmentMissing, interpreter
from destaflow.vad import detect_voice_activity
from destaflow.vad.regions import boundary_errors, clip_regions, summarise

RATE = 16_000


def test_regions_are_cut_to_the_clip_and_merged():
    assert clip_regions([(2.0, 3.0), (-0.5, 1.0), (0.8, 1.5), (4.0, 9.0), (5.0, 5.0)], 6.0) == [(0.0, 1.5), (2.0, 3.0), (4.0, 6.0)]


def test_summary_of_speech_and_silence():
    row = summarise([(1.0, 2.5), (3.0, 4.0)], [(1.2, 1.4)], 5.0)
    assert row["speech_duration"] == 2.5 and row["leading_silence"] == 1.0 and row["trailing_silence"] == 1.0
    assert row["overlap_duration"] == pytest.approx(0.2)
    assert row["speech_regions"] == [{"start": 1.0, "end": 2.5}, {"start": 3.0, "end": 4.0}]
    silent = summarise([], [], 2.0)
    assert silent["speech_duration"] == 0 and silent["leading_silence"] == silent["trailing_silence"] == 2.0


def test_boundary_errors_pair_onsets_with_onsets():
    assert boundary_errors([(1.02, 2.0), (3.0, 3.9)], [(1.0, 2.05), (3.1, 4.0)]) == pytest.approx([0.02, 0.1, 0.05, 0.1])
    assert boundary_errors([], [(1.0, 2.0)]) == []


def pyannote_python():
    try:
        return interpreter("pyannote")
    except EnvironmentMissing as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def padded_corpus(tmp_path_factory):
    """Four espeak-ng clips padded with known silence (one said twice with a pause between), plus a broken and an
    empty file. Truth: the padding plus the energy span of espeak-ng's own audio."""
    root = tmp_path_factory.mktemp("vad")
    clips = espeak_clips(root, {"en-us+m3": "train", "en-us+f3": "train"}, ["The cat sat on the mat by the door.", "Please call me back tomorrow morning."], 0.5)
    rows, truth = [], {}
    for number, (clip, (lead, pause, trail)) in enumerate(zip(clips, [(0.5, None, 1.0), (1.5, None, 0.3), (0.8, 1.2, 0.6), (0.3, None, 2.0)])):
        speech = load_audio(clip["path"]).samples
        start, end = active_span(speech)
        said = len(speech) / RATE
        pieces, regions = [np.zeros(int(lead * RATE)), speech], [(lead + start, lead + end)]
        if pause is not None:
            pieces += [np.zeros(int(pause * RATE)), speech]
            regions.append((lead + said + pause + start, lead + said + pause + end))
        pieces.append(np.zeros(int(trail * RATE)))
        path = root / f"padded-{number}.wav"
        sf.write(path, np.concatenate(pieces).astype(np.float32), RATE)
        rows.append({"id": f"clip{number}", "audio_path": str(path)})
        truth[f"clip{number}"] = regions
    (root / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    sf.write(root / "empty.wav", np.zeros(0, dtype=np.float32), RATE)
    rows += [{"id": "broken", "audio_path": str(root / "broken.wav")}, {"id": "empty", "audio_path": str(root / "empty.wav")}]
    manifest = root / "corpus.parquet"
    pl.DataFrame(rows).write_parquet(manifest)
    return root, manifest, truth


@pytest.fixture(scope="module")
def detected(padded_corpus):
    pyannote_python()
    root, manifest, truth = padded_corpus
    settings = validate_config({})["attributes"]["vad"]
    detect_voice_activity(str(manifest), str(root / "vad.parquet"), str(root / "vad-quarantine.parquet"), {**settings, "threads": 1})
    return pl.read_parquet(root / "vad.parquet"), pl.read_parquet(root / "vad-quarantine.parquet"), truth


def test_pyannote_runs_in_its_own_environment_and_finds_the_speech(detected):
    table, quarantine, truth = detected
    assert set(table["id"]) == set(truth) and set(quarantine["id"]) == {"broken", "empty"}  # rows in = kept + quarantined
    assert quarantine["reason"].str.len_chars().min() > 0 and (quarantine["stage"] == "voice_activity").all()
    assert table["vad_source"].unique().to_list() == ["pyannote:murmurai-core/pytorch_model.bin"]
    errors = []
    for row in table.iter_rows(named=True):
        found = [(r["start"], r["end"]) for r in row["speech_regions"]]
        assert len(found) == len(truth[row["id"]]), (row["id"], found, truth[row["id"]])
        errors += boundary_errors(found, truth[row["id"]])
    assert statistics.median(errors) <= 0.05, errors
    paused = table.filter(pl.col("id") == "clip2").row(0, named=True)
    (first, _), (_, last) = truth["clip2"]
    assert paused["leading_silence"] == pytest.approx(first, abs=0.1)
    assert paused["speech_duration"] < last - first - 1.0  # the 1.2 s pause is not speech
    assert (table["overlap_duration"] < 0.2).all()  # one voice at a time


def test_attribute_stage_reads_voice_activity_and_rates_per_second_of_speech(detected, padded_corpus):
    table, _, truth = detected
    root, manifest, _ = padded_corpus
    settings = validate_config({})["attributes"]
    corpus = pl.read_parquet(manifest).filter(pl.col("id").is_in(list(truth))).with_columns(text=pl.lit("the cat sat on the mat"))
    extractors = [build_extractor(name, settings, {"voice_activity": str(root / "vad.parquet")}) for name in ("voice_activity", "speech_rate")]
    kept, quarantined = extract_attributes(corpus, extractors, 4, settings["bins"])
    assert kept.height == len(truth) and quarantined.height == 0
    assert (kept["speech_duration_source"] == "pyannote:murmurai-core/pytorch_model.bin").all()
    paused = kept.filter(pl.col("id") == "clip2").row(0, named=True)
    samples = load_audio(paused["audio_path"]).samples
    assert paused["speech_rate"] == pytest.approx(phoneme_count("the cat sat on the mat") / paused["speech_duration"], abs=0.01)
    assert paused["speech_rate"] > phoneme_count("the cat sat on the mat") / active_span_seconds(samples)  # the pause no longer counts


def test_missing_environment_is_a_clear_error(monkeypatch, tmp_path):
    import destaflow.isolated_env as isolated

    monkeypatch.delenv("DESTAFLOW_PYANNOTE_PYTHON", raising=False)
    monkeypatch.setattr(isolated, "_imports", lambda module: False)
    monkeypatch.setattr(isolated, "local_env_dirs", lambda name: [tmp_path / name])
    with pytest.raises(EnvironmentMissing, match="bin/setup"):
        isolated.interpreter("pyannote")


@pytest.fixture(scope="module")
def tiny_brouhaha(tmp_path_factory):
    """A brouhaha-style checkpoint trained for 3 steps on mixtures of espeak-ng clips (train and valid speakers)."""
    pyannote_python()
    root = tmp_path_factory.mktemp("brouhaha")
    voices = {"en-us+m3": "train", "en-us+f3": "train", "en-gb+m2": "train", "en-gb+f2": "valid"}
    clips = espeak_clips(root, voices, ["The cat sat on the mat by the door.", "Please call me back tomorrow morning."], 0.5)
    manifest = root / "corpus.parquet"
    pl.DataFrame([{"id": f"{c['voice']}-{c['index']}", "audio_path": str(c["path"]), "speaker": c["voice"], "split": c["split"]} for c in clips]).write_parquet(manifest)
    config = validate_config({})
    settings = config["attributes"]["brouhaha"] | {"steps": 3, "batch_size": 4, "chunk_s": 1.0, "hidden": 8, "mixtures": 8, "held_out": 4, "rooms": 2, "threads": 1}
    train_brouhaha([str(manifest)], augment_settings(config), settings, str(root / "model"), str(root / "work"))
    return root, manifest


@pytest.mark.slow  # trains a brouhaha-style model
def test_brouhaha_trains_with_pyannote_and_scores_held_out_mixtures(tiny_brouhaha):
    root, _ = tiny_brouhaha
    metrics = json.loads((root / "model" / "metrics.json").read_text())
    assert metrics["held_out"] == "valid" and metrics["held_out_mixtures"] == 4 and metrics["steps"] == 3
    assert 0 <= metrics["snr_within_3db"] <= 1 and 0 <= metrics["vad_frame_accuracy"] <= 1
    assert not (root / "work").exists()  # the mixtures are removed once the model is saved


IN_PYANNOTE_ENV = """
import sys
import numpy as np
from destaflow.brouhaha.model import LogBands
from destaflow.brouhaha.predict import Predictor
from destaflow.brouhaha.train import build_model

predictor = Predictor.from_checkpoint(sys.argv[1])
assert isinstance(predictor.inference.model.sincnet, LogBands), type(predictor.inference.model.sincnet)
short = (np.random.default_rng(0).standard_normal(8000) * 0.1).astype(np.float32)  # 0.5 s: under the 1 s chunk
times, outputs = predictor(short)
assert outputs.shape == (len(times), 3) and 0.4 < times[-1] < 0.5, times
sincnet = build_model({"hidden": 8, "frontend": "sincnet"})
assert sincnet.hparams["frontend"] == "sincnet" and sincnet.hparams["lstm"]["monolithic"] is True, dict(sincnet.hparams)
print("ok")
"""


@pytest.mark.slow  # trains a brouhaha-style model
def test_brouhaha_front_end_is_saved_and_a_short_clip_runs_whole(tiny_brouhaha):
    """The checkpoint rebuilds the front end it was trained with (a SincNet in its place would not load the
    weights), PyanNet's own defaults survive in the saved hyper-parameters, and a clip shorter than a training
    chunk is run in one pass, not padded with silence (which would read as a clean clip)."""
    import subprocess

    root, _ = tiny_brouhaha
    ckpt = root / "model" / "brouhaha.ckpt"
    done = subprocess.run([str(pyannote_python()), "-P", "-c", IN_PYANNOTE_ENV, str(ckpt)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


@pytest.mark.slow  # trains a brouhaha-style model
def test_brouhaha_checkpoint_loads_and_feeds_c50(tiny_brouhaha):
    root, manifest = tiny_brouhaha
    settings = validate_config({})["attributes"]["vad"] | {"brouhaha": str(root / "model"), "threads": 1}
    detect_voice_activity(str(manifest), str(root / "vad.parquet"), str(root / "vad-quarantine.parquet"), settings)
    table = pl.read_parquet(root / "vad.parquet")
    assert table["snr_db"].is_not_null().all() and table["c50_db"].is_not_null().all()
    assert (table["brouhaha_source"] == "model:destaflow-brouhaha").all()
    corpus = pl.read_parquet(manifest)
    attributes = validate_config({})["attributes"]
    extractor = build_extractor("brouhaha", attributes, {"voice_activity": str(root / "vad.parquet")})
    kept, _ = extract_attributes(corpus, [extractor], 8, attributes["bins"])
    assert (kept["c50_db_source"] == "model:destaflow-brouhaha").all() and kept["c50"].is_not_null().all()
    assert "snr_db" not in kept.columns  # its SNR is not used: learned_snr is the one SNR estimator
    assert (kept["c50_source"] == "model:destaflow-brouhaha").all()  # the word carries the measurement's provenance


@pytest.mark.slow  # trains a brouhaha-style model
def test_seeds_of_a_real_layout_corpus_carry_c50(tiny_brouhaha, tmp_path):
    """VCTK's layout (the fixture), no room labels: the voice-activity pass with the brouhaha-style model fills C50."""
    from corpus_fixtures import reader_settings
    from corpus_fixtures import vctk as fixture
    from destaflow.corpora.registry import read_corpus
    from destaflow.seed import add_seeds

    root, _ = tiny_brouhaha
    labels = {"gender": {"F": "female", "M": "male"}, "accent": {"English": "English", "Scottish": "Scottish", "Indian": "Indian",
                                                                  "American": "American", "Australian English": "Australian"}}  # fmt: skip
    corpus, _ = read_corpus("vctk", reader_settings("vctk", fixture.build(tmp_path / "vctk"), labels, {"train": 0.5, "valid": 0.25, "test": 0.25}))
    corpus.write_parquet(tmp_path / "vctk.parquet")
    settings = validate_config({})["attributes"]
    detect_voice_activity(str(tmp_path / "vctk.parquet"), str(tmp_path / "vad.parquet"), str(tmp_path / "q.parquet"),
                          settings["vad"] | {"brouhaha": str(root / "model"), "threads": 1})  # fmt: skip
    quarantined = pl.read_parquet(tmp_path / "q.parquet")
    extractors = [build_extractor(name, settings, {"voice_activity": str(tmp_path / "vad.parquet")}) for name in ("voice_activity", "brouhaha")]
    kept, unusable = extract_attributes(corpus, extractors, 8, settings["bins"])
    assert kept.height + unusable.height == corpus.height and set(quarantined["id"]) <= set(unusable["id"])
    seeds = add_seeds(kept, ["gender", "accent", "snr", "c50"])["seed"]
    assert seeds.str.contains(r"Reverberation: [A-Za-z ]+ \(C50 -?\d+ dB\)").all(), seeds.to_list()[:3]
