"""Reader registry: corpus reader name -> function that yields manifest rows from a corpus root."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any, Callable, Iterable

import polars as pl

from destaflow import manifest, tables
from destaflow.corpora import accentdb, dailytalk, iemocap, prompttts, vctk, voxceleb1
from destaflow.corpora.base import finish_manifest

log = logging.getLogger(__name__)

Reader = Callable[[Path, dict[str, Any]], Iterable[dict[str, Any]]]

# reader name (config `corpora.<name>.reader`) -> `read(root, settings)` yielding manifest rows
READERS: dict[str, Reader] = {
    "vctk": vctk.read,
    "iemocap": iemocap.read,
    "dailytalk": dailytalk.read,
    "accentdb": accentdb.read,
    "prompttts": prompttts.read,
    "voxceleb1": voxceleb1.read,
}


def get_reader(name: str) -> Reader:
    if name not in READERS:
        raise ValueError(f"unknown corpus reader {name!r}; known: {', '.join(READERS)}")
    return READERS[name]


def read_corpus(name: str, settings: dict[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read corpus `name` as configured; return (manifest, quarantine of unreadable clips)."""
    rows = list(get_reader(settings["reader"])(Path(settings["root"]), settings))
    for row in rows:
        row.setdefault("corpus", name)
    cap = settings.get("max_clips")
    if cap is not None and len(rows) > cap:
        rows = random.Random(settings.get("split_seed", 0)).sample(rows, cap)
    roots = [Path(settings[key]) for key in ("root", "audio_root") if settings.get(key)]
    table, quarantine = finish_manifest(rows, roots=roots)
    return (table.sort("id") if table.height else table), quarantine


def write_corpus(name: str, settings: dict[str, Any], manifest_path: str | Path, quarantine_path: str | Path) -> None:
    """Read a corpus and write its manifest and quarantine table (both atomically)."""
    table, quarantine = read_corpus(name, settings)
    log.info("%s: %d clips kept, %d quarantined", name, table.height, quarantine.height)
    if table.height == 0:
        raise ValueError(f"corpus {name!r} at {settings['root']} yielded no readable clips")
    tables.write_quarantine(quarantine, quarantine_path)
    manifest.write(table, manifest_path, "corpus")
