"""The `voice_activity` extractor: the voice-activity rule's table (destaflow.vad) joined onto the clips."""

from __future__ import annotations

from typing import Any

import polars as pl

from destaflow.attributes.base import Extractor
from destaflow.vad.regions import MEASUREMENTS


def voice_activity_extractor(settings: dict[str, Any], model_dirs: dict[str, str]) -> Extractor:
    """model_dirs["voice_activity"]: the corpus's table. A clip it lacks (quarantined there) gets no values."""
    if "voice_activity" not in model_dirs:
        raise ValueError("the voice_activity extractor needs the corpus's voice-activity table (rule voice_activity)")
    table = pl.read_parquet(model_dirs["voice_activity"])
    sources = table["vad_source"].unique().to_list()
    by_id = {row.pop("id"): row for row in table.select("id", *MEASUREMENTS).to_dicts()}

    def run(rows: list[dict[str, Any]], audios) -> list[dict[str, Any]]:
        return [by_id.get(row["id"], {}) for row in rows]

    return Extractor(sources[0] if len(sources) == 1 else "pyannote", MEASUREMENTS, run, needs_audio=False)
