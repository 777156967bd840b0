"""What every corpus reader must do, on each reader's fixture in the corpus's real layout: a valid manifest
with unique ids, splits by speaker as configured, quarantined rows that say why, the root alone as enough
settings, and an empty folder refused with a message naming what is missing. Each corpus's own quirks are
tested in its test_corpus_<name>.py."""

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import polars as pl
import pytest

from corpus_fixtures import accentdb, dailytalk, iemocap, prompttts, reader_settings, vctk, voxceleb1
from destaflow import manifest
from destaflow.corpora.base import CorpusLayoutError, speaker_split
from destaflow.corpora.registry import READERS, read_corpus


@dataclass(frozen=True)
class Case:
    build: Callable[[Path], Path | tuple[Path, Path]]  # -> root, or (root, audio root)
    empty_root_error: str  # what reading an empty folder must say


CASES = {
    "accentdb": Case(accentdb.build, r"accentdb root .* lacks data"),
    "dailytalk": Case(dailytalk.build, r"dailytalk root .* lacks metadata.json, data"),
    "iemocap": Case(iemocap.build, r"iemocap root .* lacks Session1/sentences/wav"),
    "prompttts": Case(prompttts.build, r"prompttts root .* holds no PromptSpeech metadata"),
    "vctk": Case(vctk.build, r"speaker-info.txt"),
    "voxceleb1": Case(voxceleb1.build, r"vox1_meta.csv"),
}


def test_every_reader_has_a_case():
    assert set(CASES) == set(READERS)


@pytest.fixture(scope="module", params=sorted(CASES))
def corpus(request, tmp_path_factory):
    name = request.param
    built = CASES[name].build(tmp_path_factory.mktemp(name))
    root, audio_root = built if isinstance(built, tuple) else (built, None)
    settings = reader_settings(name, root, {}, audio_root=str(audio_root) if audio_root else None)
    table, quarantine = read_corpus(name, settings)
    return name, settings, table, quarantine


def test_the_manifest_is_valid_with_unique_ids(corpus):
    name, _, table, quarantine = corpus
    manifest.validate(table, "corpus")
    assert table.height > 0 and table["id"].is_unique().all()
    assert table["id"].str.starts_with(f"{name}-").all() and (table["corpus"] == name).all()
    assert not set(table["id"]) & set(quarantine["id"])


def test_splits_are_by_speaker_as_configured(corpus):
    _, settings, table, _ = corpus
    speakers = table.group_by("speaker").agg(pl.col("split").n_unique().alias("splits"), pl.col("split").first())
    assert speakers["splits"].max() == 1
    for speaker, split in zip(speakers["speaker"], speakers["split"]):
        assert split == speaker_split(speaker, settings["split"], settings["split_seed"])


def test_quarantined_rows_say_why(corpus):
    _, _, _, quarantine = corpus
    assert quarantine["reason"].str.len_chars().min() or quarantine.height == 0


def test_the_root_alone_is_enough(corpus):
    name, settings, table, quarantine = corpus
    minimal = {"reader": name, "root": settings["root"]} | ({"audio_root": settings["audio_root"]} if settings["audio_root"] else {})
    again, again_quarantined = read_corpus(name, minimal)
    assert again.height + again_quarantined.height == table.height + quarantine.height


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_empty_folder_is_a_clear_layout_error(name, tmp_path):
    with pytest.raises(CorpusLayoutError, match=CASES[name].empty_root_error):
        read_corpus(name, reader_settings(name, tmp_path, {}))
