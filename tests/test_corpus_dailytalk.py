"""The DailyTalk reader on a tiny corpus in the release layout."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pytest
from conftest import require_espeak
from corpus_fixtures import dailytalk, reader_settings

from destaflow import manifest
from destaflow.corpora import registry

LABELS = {
    "emotion": {"no emotion": "neutral", "happiness": "happy", "surprise": "surprised"},
    "intent": {"question": "asking", "inform": "informing"},
    "gender": {"female": "woman"},
}


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory) -> Path:
    require_espeak()
    return dailytalk.build(tmp_path_factory.mktemp("dailytalk"))


def settings_for(root: Path, **overrides) -> dict:
    return reader_settings("dailytalk", root, LABELS, **overrides)


@pytest.fixture(scope="module")
def read(corpus_root):
    settings = settings_for(corpus_root)
    rows = list(registry.get_reader("dailytalk")(corpus_root, settings))
    table, quarantine = registry.read_corpus("dailytalk", settings)
    return rows, manifest.validate(table, "corpus"), quarantine


def clip(table: pl.DataFrame, stem: str) -> dict:
    return table.filter(pl.col("id") == f"dailytalk-{stem}").row(0, named=True)


def test_every_turn_is_a_clip(read):
    rows, table, quarantine = read
    assert len(rows) == len(dailytalk.TURNS) == 9
    assert table.height + quarantine.height == len(rows)
    assert quarantine.select("id", "reason").rows() == [("dailytalk-2_1_d47", "missing file")]
    assert table["id"].n_unique() == table.height


def test_labels_come_from_metadata_through_the_label_maps(read):
    _, table, _ = read
    question = clip(table, "1_0_d47")
    assert (question["emotion"], question["intent"], question["gender"]) == ("happy", "asking", "male")
    assert question["text"] == "Oh, lovely. Where is the wedding?"
    assert (question["dailytalk_dialog"], question["dailytalk_turn"]) == (47, 1)
    assert (question["dailytalk_emotion"], question["dailytalk_act"], question["dailytalk_topic"]) == (
        "happiness",
        "question",
        "relationship",
    )
    assert question["sample_rate"] == 44_100 and 0 < question["duration"] <= 1.0
    assert Path(question["audio_path"]).is_absolute()

    answer = clip(table, "1_1_d7")
    assert (answer["speaker"], answer["gender"], answer["intent"], answer["emotion"]) == (
        "dailytalk-1",
        "woman",
        "informing",
        "happy",
    )
    assert clip(table, "0_0_d7")["emotion"] == "neutral"
    assert clip(table, "2_0_d7")["intent"] == "directive"  # unmapped raw labels pass through
    assert clip(table, "1_1_d120")["emotion"] == "disgusted"  # reader default when the config has no entry


def test_wav_without_metadata_keeps_its_text_only(read):
    _, table, _ = read
    orphan = clip(table, "2_0_d120")
    assert orphan["text"] == "Anyway."
    assert orphan["emotion"] is None and orphan["intent"] is None
    assert orphan["gender"] == "male"


def test_speakers_are_the_two_voice_actors_across_dialogs(read):
    _, table, _ = read
    assert set(table["speaker"]) == {"dailytalk-0", "dailytalk-1"}
    assert table.group_by("speaker").agg(pl.col("split").n_unique())["split"].max() == 1
    assert table.group_by("speaker").agg(pl.col("gender").n_unique())["gender"].max() == 1


def test_turn_with_impossible_speaker_is_skipped_with_a_warning(corpus_root, caplog):
    with caplog.at_level(logging.WARNING, logger="destaflow.corpora.dailytalk"):
        rows = list(registry.get_reader("dailytalk")(corpus_root, settings_for(corpus_root)))
    assert any("has no speaker 0/1" in message for message in caplog.messages)
    assert not any(row["dailytalk_turn"] == 3 for row in rows)


def test_dailydialog_numeric_ids_map_to_words(tmp_path):
    corpus = tmp_path / "dailytalk"
    (corpus / "data").mkdir(parents=True)
    (corpus / "metadata.json").write_text('{"3": {"0": {"text": "Hi.", "speaker": 0, "emotion": 4, "act": 2}}}')
    (row,) = registry.get_reader("dailytalk")(corpus, {"reader": "dailytalk", "root": str(corpus)})
    assert (row["emotion"], row["intent"], row["text"]) == ("happy", "question", "Hi.")
