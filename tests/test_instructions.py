import polars as pl
import pytest

from destaflow.instructions import build_records, options_sentence


def table():
    return pl.DataFrame([
        {"id": "a", "audio_path": "a.wav", "split": "train", "gender": "female", "accent": "Scottish", "snr_db": 12.0, "snr_db_source": "label", "c50_db": None, "c50_db_source": None},
        {"id": "b", "audio_path": "b.wav", "split": "test", "gender": "male", "accent": "American", "snr_db": 60.0, "snr_db_source": "dsp:frame-energy-snr", "c50_db": 5.0, "c50_db_source": "label"},
        {"id": "c", "audio_path": "c.wav", "split": "train", "gender": None, "accent": "Caribbean", "snr_db": None, "snr_db_source": None, "c50_db": None, "c50_db_source": None},
    ])


def test_options_are_listed_the_benchmark_way():
    assert options_sentence(["female", "male"]) == "The answer could be female or male."
    assert options_sentence(["slow", "normal", "fast"]) == "The answer could be slow, normal or fast."


def test_records_per_clip_and_task_with_labels_from_corpus_or_augmentation():
    records = build_records(table(), ["gender", "accent", "noise", "reverberation"], seed=0)
    by_id = {r["id"]: r for r in records.iter_rows(named=True)}
    assert "c:gender" not in by_id  # no label, no record
    assert by_id["a:gender"]["label"] == "female" and by_id["a:gender"]["instruction"].endswith("The answer could be female or male.")
    assert by_id["b:accent"]["instruction"].endswith("The answer could be American, Caribbean or Scottish.")
    assert by_id["a:noise"]["label"] == "noisy" and by_id["b:noise"]["label"] == "clean"  # an estimate is not a label
    assert by_id["b:reverberation"]["label"] == "reverberant" and by_id["a:reverberation"]["label"] == "dry"
    assert by_id["b:gender"]["split"] == "test" and by_id["b:gender"]["file"] == "b.wav"


def test_same_seed_same_wording_and_unknown_task_refused():
    assert build_records(table(), ["gender"], 3).equals(build_records(table(), ["gender"], 3))
    with pytest.raises(ValueError, match="unknown instruction task"):
        build_records(table(), ["age"], 0)
