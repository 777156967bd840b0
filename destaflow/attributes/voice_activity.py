"""Extractors that read the voice-activity rule's table (destaflow.vad): its speech measurements (`voice_activity`)
and the brouhaha-style model's C50 from the same pass (`brouhaha`)."""

from __future__ import annotations

from typing import Any

import polars as pl

from destaflow.attributes.base import Extractor
from destaflow.attributes.settings import AttributeSettings
from destaflow.vad.regions import MEASUREMENTS


def _table_extractor(model_dirs: dict[str, str], columns: tuple[str, ...], source_column: str, needed_by: str) -> Extractor:
    """An extractor that looks clips up by id; a clip the table lacks (quarantined there) gets no values."""
    if "voice_activity" not in model_dirs:
        raise ValueError(f"the {needed_by} extractor needs the corpus's voice-activity table (rule voice_activity)")
    table = pl.read_parquet(model_dirs["voice_activity"])
    if table[source_column].null_count() == table.height and table.height:
        raise ValueError(f"{model_dirs['voice_activity']} has no {', '.join(columns)}: the voice-activity pass ran without that model")
    sources = table[source_column].drop_nulls().unique().to_list()
    by_id = {row.pop("id"): row for row in table.select("id", *columns).to_dicts()}

    def run(rows: list[dict[str, Any]], audios) -> list[dict[str, Any]]:
        return [by_id.get(row["id"], {}) for row in rows]

    return Extractor(sources[0] if len(sources) == 1 else source_column.removesuffix("_source"), columns, run, needs_audio=False)


def voice_activity_extractor(settings: AttributeSettings, model_dirs: dict[str, str]) -> Extractor:
    """model_dirs["voice_activity"]: the corpus's table; speech regions, duration, silences, overlap."""
    return _table_extractor(model_dirs, MEASUREMENTS, "vad_source", "voice_activity")


def brouhaha_extractor(settings: AttributeSettings, model_dirs: dict[str, str]) -> Extractor:
    """c50_db of the brouhaha-style model, computed in the voice-activity pass. Its SNR stays in the table only:
    on held-out mixtures it is far behind learned_snr (README, bench/level_accuracy.py), so one SNR estimator serves."""
    return _table_extractor(model_dirs, ("c50_db",), "brouhaha_source", "brouhaha")
