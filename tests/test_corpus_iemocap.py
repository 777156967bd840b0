"""The IEMOCAP reader on a tiny corpus in the release layout."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pytest
from conftest import require_espeak
from corpus_fixtures import iemocap, reader_settings

from destaflow import manifest
from destaflow.corpora import registry

LABELS = {
    "gender": {"F": "woman", "M": "man"},
    "emotion": {"neu": "calm", "exc": "happy", "hap": "happy", "fru": "frustrated", "ang": "angry"},
}


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory) -> Path:
    require_espeak()
    return iemocap.build(tmp_path_factory.mktemp("iemocap"))


def settings_for(root: Path, **overrides) -> dict:
    return reader_settings("iemocap", root, LABELS, **overrides)


@pytest.fixture(scope="module")
def read(corpus_root):
    settings = settings_for(corpus_root)
    rows = list(registry.get_reader("iemocap")(corpus_root, settings))
    table, quarantine = registry.read_corpus("iemocap", settings)
    return rows, manifest.validate(table, "corpus"), quarantine


def clip(table: pl.DataFrame, utterance: str) -> dict:
    return table.filter(pl.col("id") == f"iemocap-{utterance}").row(0, named=True)


def test_every_evaluated_utterance_is_a_clip(read):
    rows, table, quarantine = read
    assert len(rows) == sum(len(u) for u in iemocap.SESSIONS.values()) == 9
    assert table.height + quarantine.height == len(rows)
    assert quarantine["id"].to_list() == ["iemocap-Ses01M_script01_1_M001"]
    assert quarantine["reason"].to_list() == ["missing file"]
    assert table["id"].n_unique() == table.height


def test_labels_come_from_evaluation_and_transcription_through_the_label_maps(read):
    _, table, _ = read
    first = clip(table, "Ses01F_impro01_F000")
    assert (first["gender"], first["emotion"], first["text"]) == ("woman", "calm", "Excuse me.")
    assert first["speaker"] == "iemocap-Ses01F"
    assert (first["iemocap_valence"], first["iemocap_activation"], first["iemocap_dominance"]) == (2.5, 2.5, 2.5)
    assert first["iemocap_dialog"] == "Ses01F_impro01" and first["iemocap_session"] == 1
    assert first["gender_source"] == first["emotion_source"] == first["text_source"] == "label"
    assert first["sample_rate"] == 16_000 and 0 < first["duration"] <= 1.0
    assert Path(first["audio_path"]).is_absolute()

    male_in_female_dialog = clip(table, "Ses01F_impro01_M000")
    assert (male_in_female_dialog["speaker"], male_in_female_dialog["gender"]) == ("iemocap-Ses01M", "man")
    assert male_in_female_dialog["emotion"] == "frustrated"
    assert clip(table, "Ses01M_script01_1_F000")["emotion"] == "happy"  # exc merged into happy


def test_unmapped_labels_fall_back_to_reader_defaults(read):
    _, table, _ = read
    assert clip(table, "Ses02F_impro02_M001")["emotion"] == "surprised"
    assert clip(table, "Ses02F_impro02_M000")["emotion"] == "sad"


def test_no_agreement_gives_no_emotion_and_non_speech_is_stripped(read):
    _, table, _ = read
    undecided = clip(table, "Ses01F_impro01_F001")
    assert undecided["emotion"] is None and undecided["emotion_source"] is None
    assert undecided["iemocap_emotion"] == "xxx"
    assert undecided["text"] == "Yeah."
    assert not table["id"].str.contains("XX").any()


def test_speakers_are_session_and_gender(read):
    _, table, _ = read
    assert set(table["speaker"]) == {"iemocap-Ses01F", "iemocap-Ses01M", "iemocap-Ses02F", "iemocap-Ses02M"}


def test_garbled_metadata_line_is_skipped_with_a_warning(corpus_root, caplog):
    with caplog.at_level(logging.WARNING, logger="destaflow.corpora.iemocap"):
        rows = list(registry.get_reader("iemocap")(corpus_root, settings_for(corpus_root)))
    assert any("unreadable evaluation line" in message for message in caplog.messages)
    assert "iemocap-Ses02F_impro02_M009" not in {row["id"] for row in rows}


def test_reader_works_with_partial_settings(corpus_root):
    rows = list(registry.get_reader("iemocap")(corpus_root, {"reader": "iemocap", "root": str(corpus_root)}))
    assert {row["emotion"] for row in rows} >= {"neutral", "happy", "frustrated"}
    assert {row["gender"] for row in rows} == {"female", "male"}
