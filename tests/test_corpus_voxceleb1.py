import logging

import polars as pl
import pytest

from corpus_fixtures import voxceleb1 as fixture
from corpus_fixtures import reader_settings
from destaflow import manifest
from destaflow.corpora.base import CorpusLayoutError
from destaflow.corpora.registry import read_corpus

LABELS = {
    "gender": {"m": "male", "f": "female"},
    "accent": {"Ireland": "Irish", "USA": "American", "India": "Indian", "Australia": "Australian"},
}
SPLIT = {"train": 0.5, "valid": 0.25, "test": 0.25}


def settings_for(root):
    return reader_settings("voxceleb1", root, LABELS, SPLIT)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return fixture.build(tmp_path_factory.mktemp("voxceleb1"))


@pytest.fixture(scope="module")
def corpus(root):
    table, quarantine = read_corpus("voxceleb1", settings_for(root))
    return manifest.validate(table, "corpus"), quarantine


def row(table, clip):
    rows = table.filter(pl.col("id") == "voxceleb1-" + clip.replace("/", "-")).to_dicts()
    assert len(rows) == 1, f"{clip} not kept exactly once"
    return rows[0]


def test_every_wav_is_a_clip_with_a_unique_id(corpus):
    table, quarantine = corpus
    assert table.height + quarantine.height == len(fixture.CLIPS) and quarantine.height == 0
    assert table["id"].is_unique().all()
    assert set(table["sample_rate"]) == {fixture.SAMPLE_RATE}


def test_gender_and_accent_come_from_the_meta_table(corpus):
    table, _ = corpus
    kitt = row(table, "id10270/8jEAjG6SegY/00008")
    assert (kitt["gender"], kitt["accent"], kitt["speaker"]) == ("female", "American", "voxceleb1-id10270")
    assert (kitt["voxceleb1_name"], kitt["voxceleb1_nationality"], kitt["voxceleb1_set"]) == ("Eartha_Kitt", "USA", "test")
    assert (kitt["gender_source"], kitt["accent_source"]) == ("label", "label")
    cornish = row(table, "id10006/-J2ZkqWtTyA/00002")
    assert (cornish["gender"], cornish["accent"], cornish["voxceleb1_video"]) == ("female", "Australian", "-J2ZkqWtTyA")
    unmapped = row(table, "id10019/Ilq3Ea4hLRM/00001")
    assert (unmapped["gender"], unmapped["accent"]) == ("male", "norway")



def test_speaker_without_meta_row_keeps_its_clips_unlabelled(tmp_path, caplog):
    root = fixture.build(tmp_path)
    extra = root / "wav" / "id19999" / "abcdefghijk" / "00001.wav"
    extra.parent.mkdir(parents=True)
    extra.write_bytes((root / "wav" / f"{fixture.CLIPS[0]}.wav").read_bytes())
    with (root / "vox1_meta.csv").open("a", encoding="utf-8") as meta:
        meta.write("id10999\tbroken row\n")
    with caplog.at_level(logging.WARNING):
        table, _ = read_corpus("voxceleb1", settings_for(root))
    assert "id19999" in caplog.text and "line 8" in caplog.text
    orphan = row(table, "id19999/abcdefghijk/00001")
    assert orphan["gender"] is None and orphan["accent"] is None


def test_meta_table_with_another_header_is_a_layout_error(tmp_path):
    root = fixture.build(tmp_path)
    (root / "vox1_meta.csv").write_text("ID,Class_name,Gender,Nationality,Set\nid10001,A.J._Buckley,m,Ireland,dev\n")
    with pytest.raises(CorpusLayoutError, match="tab-separated"):
        read_corpus("voxceleb1", settings_for(root))
