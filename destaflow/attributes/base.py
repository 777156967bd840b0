"""What an attribute extractor is, and how its outputs merge into a manifest row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from destaflow.manifest import ATTRIBUTES


@dataclass
class Extractor:
    """Fills `writes` columns for a batch of clips; `name` is the provenance recorded beside each value.

    `run(rows, audios)` gets the manifest rows (dicts, with columns earlier extractors added) and their
    16 kHz mono audio, and returns one dict of column -> value per row.
    """

    name: str
    writes: tuple[str, ...]
    run: Callable[[list[dict[str, Any]], list[np.ndarray]], list[dict[str, Any]]]
    needs_audio: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def merge(row: dict[str, Any], values: dict[str, Any], provenance: str) -> None:
    """Add an extractor's values to a row. Labels come first: an attribute the corpus labels, or a
    measurement the corpus knows exactly (source `label`, e.g. an augmented clip's true SNR), is kept."""
    for column, value in values.items():
        if value is None:
            continue
        if column in ATTRIBUTES and row.get(column) is not None:
            continue
        if row.get(f"{column}_source") == "label" and row.get(column) is not None:
            continue
        row[column] = value
        row[f"{column}_source"] = provenance
