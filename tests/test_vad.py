"""Voice activity: region arithmetic, the pyannote stage on synthesized clips padded with known silence, the
attribute stage reading it, and bad audio kept or quarantined."""

import statistics

import numpy as np
import polars as pl
import pytest
import soundfile as sf

from conftest import espeak_clips
from destaflow.attributes.dsp import active_span, active_span_seconds, phoneme_count
from destaflow.attributes.extract import build_extractor, extract_attributes
from destaflow.audio import load_audio
from destaflow.config import validate_config
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
