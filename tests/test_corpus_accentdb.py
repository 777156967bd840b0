import polars as pl
import pytest

from corpus_fixtures import accentdb as fixture
from corpus_fixtures import reader_settings
from destaflow import manifest
from destaflow.corpora.base import CorpusLayoutError
from destaflow.corpora.registry import read_corpus

LABELS = {"accent": {"american": "American", "welsh": "Welsh", "indian": "Indian", "bangla": "Bengali", "malayalam": "Malayali"}}
SPLIT = {"train": 0.5, "valid": 0.25, "test": 0.25}


def settings_for(root):
    return reader_settings("accentdb", root, LABELS, SPLIT)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return fixture.build(tmp_path_factory.mktemp("accentdb"))


@pytest.fixture(scope="module")
def corpus(root):
    table, quarantine = read_corpus("accentdb", settings_for(root))
    return manifest.validate(table, "corpus"), quarantine


def row(table, clip):
    rows = table.filter(pl.col("id") == f"accentdb-{clip}").to_dicts()
    assert len(rows) == 1, f"{clip} not kept exactly once"
    return rows[0]


def test_every_file_is_a_clip(corpus):
    table, quarantine = corpus
    assert quarantine.height == 0
    assert sorted(table["id"]) == sorted(f"accentdb-{clip}" for clip in fixture.CLIPS)


def test_accent_comes_from_the_folder_and_speaker_from_its_subfolder(corpus):
    table, _ = corpus
    american = row(table, "american_s02_001")
    assert (american["accent"], american["accent_source"], american["speaker"]) == ("American", "label", "accentdb-american_s02")
    malayalam = row(table, "malayalam_s03_002")
    assert (malayalam["accent"], malayalam["accentdb_accent"], malayalam["speaker"]) == ("Malayali", "malayalam", "accentdb-malayalam_s03")
    assert "text" not in table.columns and "gender" not in table.columns  # the release labels neither


def test_both_sample_rates_of_the_release_are_read(corpus):
    table, _ = corpus
    rates = dict(zip(table["id"], table["sample_rate"]))
    assert rates["accentdb-welsh_s01_001"] == fixture.COMPILED_RATE
    assert rates["accentdb-bangla_s01_001"] == fixture.RECORDED_RATE



def test_hidden_and_stray_entries_are_ignored(tmp_path):
    root = fixture.build(tmp_path)
    (root / "data" / "american" / "speaker_01" / "._american_s01_001.wav").write_bytes(b"\x00\x05\x16\x07")
    (root / "data" / ".DS_Store").write_bytes(b"\x00")
    (root / "data" / "notes.txt").write_text("stray")
    table, quarantine = read_corpus("accentdb", settings_for(root))
    assert table.height == len(fixture.CLIPS) and quarantine.height == 0


def test_partial_settings_suffice(root):
    table, _ = read_corpus("accentdb", {"reader": "accentdb", "root": str(root)})
    assert row(table, "bangla_s01_001")["accent"] == "bangla"


def test_wrong_root_is_a_layout_error(root):
    with pytest.raises(CorpusLayoutError, match="data"):
        read_corpus("accentdb", settings_for(root / "data"))
