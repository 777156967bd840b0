import logging

import polars as pl
import pytest

from corpus_fixtures import vctk as fixture
from corpus_fixtures import reader_settings
from destaflow import manifest
from destaflow.corpora.registry import read_corpus

LABELS = {
    "gender": {"F": "female", "M": "male"},
    "accent": {"English": "English", "Scottish": "Scottish", "Indian": "Indian", "American": "American", "Australian English": "Australian"},
}
SPLIT = {"train": 0.5, "valid": 0.25, "test": 0.25}


def settings_for(root, **extra):
    return reader_settings("vctk", root, LABELS, SPLIT, **extra)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return fixture.build(tmp_path_factory.mktemp("vctk"))


@pytest.fixture(scope="module")
def corpus(root):
    table, quarantine = read_corpus("vctk", settings_for(root))
    return manifest.validate(table, "corpus"), quarantine


def row(table, clip):
    rows = table.filter(pl.col("id") == f"vctk-{clip}").to_dicts()
    assert len(rows) == 1, f"{clip} not kept exactly once"
    return rows[0]


def test_every_utterance_is_kept_or_quarantined(corpus):
    table, quarantine = corpus
    assert table.height + quarantine.height == len(fixture.CLIPS)
    assert set(table["id"]) | set(quarantine["id"]) == {f"vctk-{clip}" for clip in fixture.CLIPS}
    assert table["id"].is_unique().all()


def test_labels_come_from_speaker_info_and_transcripts(corpus):
    table, _ = corpus
    scottish = row(table, "p234_001")
    assert (scottish["gender"], scottish["age"], scottish["accent"]) == ("female", "22", "Scottish")
    assert scottish["text"] == "She can scoop these things into three red bags."
    assert scottish["vctk_region"] == "West Dumfries" and scottish["speaker"] == "vctk-p234"
    assert {scottish[f"{a}_source"] for a in ("gender", "age", "accent", "text")} == {"label"}
    australian = row(table, "p326_002")
    assert (australian["gender"], australian["accent"], australian["vctk_region"]) == ("male", "Australian", "Sydney")
    indian = row(table, "p248_001")
    assert (indian["accent"], indian["vctk_region"]) == ("Indian", None)


def test_release_quirks_are_carried_not_fatal(corpus):
    table, _ = corpus
    no_mic2 = row(table, "p280_001")
    assert (no_mic2["accent"], no_mic2["vctk_region"], no_mic2["vctk_comment"]) == ("unknown", "France", "mic2 files unavailable")
    no_text = row(table, "p315_001")
    assert no_text["text"] is None and no_text["text_source"] is None and no_text["gender"] == "male"
    assert no_text["vctk_comment"] == "Text and mic2 files unavailable"
    unlisted = row(table, "s5_001")
    assert unlisted["gender"] is None and unlisted["gender_source"] is None and unlisted["text"] == "Please call Stella."


def test_unreadable_and_missing_audio_are_quarantined_with_reasons(corpus):
    _, quarantine = corpus
    reasons = dict(zip(quarantine["id"], quarantine["reason"]))
    assert set(reasons) == {f"vctk-{fixture.CORRUPT_MIC1}", f"vctk-{fixture.AUDIO_MISSING}"}
    assert all(reasons.values())
    assert reasons[f"vctk-{fixture.CORRUPT_MIC1}"] != "missing file"


def test_missing_audio_is_quarantined_as_missing_file(corpus, root):
    _, quarantine = corpus
    assert dict(zip(quarantine["id"], quarantine["reason"]))[f"vctk-{fixture.AUDIO_MISSING}"] == "missing file"
    _, mic2_quarantine = read_corpus("vctk", settings_for(root, mic="mic2"))
    missing = set(mic2_quarantine.filter(pl.col("reason") == "missing file")["id"])
    assert {"vctk-p280_001", "vctk-p280_002", f"vctk-{fixture.AUDIO_MISSING}"} <= missing


def test_audio_is_mic1_flac_at_48k_by_default(corpus, root):
    table, _ = corpus
    assert set(table["vctk_mic"]) == {"mic1"}
    assert all(path.endswith("_mic1.flac") and path.startswith(str(root.absolute())) for path in table["audio_path"])
    assert set(table["sample_rate"]) == {fixture.SAMPLE_RATE}



def test_mic2_leaves_speakers_without_mic2_in_quarantine(root):
    table, quarantine = read_corpus("vctk", settings_for(root, mic="mic2"))
    assert set(table["vctk_mic"]) == {"mic2"} and all(p.endswith("_mic2.flac") for p in table["audio_path"])
    assert {"vctk-p280_001", "vctk-p280_002", f"vctk-{fixture.AUDIO_MISSING}"} <= set(quarantine["id"])
    assert not any(clip.startswith("vctk-p315") for clip in table["id"])  # neither transcript nor mic2 audio


def test_partial_settings_suffice(root):
    table, _ = read_corpus("vctk", {"reader": "vctk", "root": str(root)})
    assert row(table, "p234_001")["gender"] == "f"  # unmapped labels pass through lower-cased


def test_odd_speaker_info_line_is_skipped_with_a_warning(tmp_path, caplog):
    root = fixture.build(tmp_path)
    with (root / "speaker-info.txt").open("a", encoding="utf-8") as info:
        info.write("p999  garbled\n")
    with caplog.at_level(logging.WARNING):
        table, _ = read_corpus("vctk", settings_for(root))
    assert "p999" in caplog.text
    assert row(table, "p225_001")["gender"] == "female"



def test_unknown_mic_is_rejected(root):
    with pytest.raises(ValueError, match="mic3"):
        read_corpus("vctk", settings_for(root, mic="mic3"))
