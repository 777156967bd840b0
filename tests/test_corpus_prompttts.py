"""The PromptTTS reader on a tiny PromptSpeech release with partly missing, user-supplied audio."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pytest
from conftest import require_espeak
from corpus_fixtures import prompttts, reader_settings

from destaflow import manifest
from destaflow.corpora import base, registry

LABELS = {
    "gender": {"Male": "man"},
    "pitch": {"high": "high-pitched"},
    "volume": {"low": "soft"},
    "emotion": {"cheerful": "happy", "whispering": "whispering"},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    require_espeak()
    return prompttts.build(tmp_path_factory.mktemp("prompttts"))


def settings_for(root: Path, audio_root: Path | None, **overrides) -> dict:
    return reader_settings("prompttts", root, LABELS, audio_root=str(audio_root) if audio_root else None, **overrides)


@pytest.fixture(scope="module")
def read(built):
    root, audio = built
    settings = settings_for(root, audio)
    rows = list(registry.get_reader("prompttts")(root, settings))
    table, quarantine = registry.read_corpus("prompttts", settings)
    return rows, manifest.validate(table, "corpus"), quarantine


def clip(table: pl.DataFrame, item: str) -> dict:
    return table.filter(pl.col("id") == f"prompttts-{item}").row(0, named=True)


def test_every_prompt_is_a_clip_and_items_without_audio_are_quarantined(read):
    rows, table, quarantine = read
    assert len(rows) == len(prompttts.SYNTHESIZED) + len(prompttts.REAL) == 7
    assert table.height + quarantine.height == len(rows)
    missing = {f"prompttts-{i.name}" for i in prompttts.SYNTHESIZED + prompttts.REAL if not i.has_audio}
    assert set(quarantine["id"]) == missing
    assert set(quarantine["reason"]) == {"missing file"}
    assert table["id"].n_unique() == table.height


def test_synthesized_labels_through_the_label_maps(read):
    _, table, _ = read
    cheerful = clip(table, "0_000307")
    styles = ("gender", "pitch", "speaking_speed", "volume", "emotion")
    assert [cheerful[style] for style in styles] == ["man", "normal", "fast", "normal", "happy"]
    assert cheerful["prompttts_style_prompt"] == "A man says cheerfully at a fast pace"
    assert cheerful["prompttts_source"] == "Synthesized_test/Synthesized_test.txt"
    assert cheerful["text"] is None and cheerful["text_source"] is None
    assert cheerful["sample_rate"] == 16_000 and 0 < cheerful["duration"] <= 1.0

    sad = clip(table, "0_000308")
    assert (sad["gender"], sad["pitch"], sad["volume"], sad["emotion"]) == ("female", "high-pitched", "soft", "sad")
    assert clip(table, "1_000013")["emotion"] == "neutral"  # reader default: the plain style is neutral


def test_real_version_reads_header_text_and_libritts_tree(read):
    _, table, _ = read
    real = clip(table, "1034_121119_000002_000000")
    assert (real["gender"], real["speaking_speed"], real["volume"], real["emotion"]) == ("female", "fast", "loud", None)
    assert real["text"] == "He asked his father." and real["text_source"] == "label"
    assert real["speaker"] == "prompttts-libritts1034"
    assert real["audio_path"].endswith("train-clean-100/1034/121119/1034_121119_000002_000000.wav")
    assert real["sample_rate"] == 24_000


def test_speakers_are_libritts_speakers_or_one_synthetic_voice_per_gender(read):
    rows, table, _ = read
    assert {row["speaker"] for row in rows} == {
        "prompttts-synth-male",
        "prompttts-synth-female",
        "prompttts-libritts1034",
        "prompttts-libritts6829",
    }
    assert table.group_by("speaker").agg(pl.col("split").n_unique())["split"].max() == 1


def test_non_metadata_text_files_are_skipped_with_a_warning(built, caplog):
    root, audio = built
    with caplog.at_level(logging.WARNING, logger="destaflow.corpora.prompttts"):
        rows = list(registry.get_reader("prompttts")(root, settings_for(root, audio)))
    assert any("README.txt" in message and "file skipped" in message for message in caplog.messages)
    assert not any("normalized" in row["id"] for row in rows)


def test_without_audio_root_every_clip_is_still_yielded_and_quarantined(built):
    root, _ = built
    table, quarantine = registry.read_corpus("prompttts", {"reader": "prompttts", "root": str(root)})
    assert table.height == 0 and quarantine.height == 7
    assert set(quarantine["reason"]) == {"missing file"}


def test_a_missing_root_is_a_clear_layout_error(tmp_path):
    with pytest.raises(base.CorpusLayoutError, match=r"prompttts root .*nowhere is not a folder"):
        registry.read_corpus("prompttts", settings_for(tmp_path / "nowhere", None))
