"""Run the configured extractors over a corpus manifest in batches, then turn measurements into words."""

from __future__ import annotations

import logging
from typing import Any, Callable

import polars as pl
from tqdm import tqdm

from destaflow import binning, manifest, tables
from destaflow.attributes import dsp, models, snr_model, voice_activity
from destaflow.attributes.base import Extractor, merge
from destaflow.attributes.settings import AttributeSettings
from destaflow.audio import AudioError, load_audio

log = logging.getLogger(__name__)

STAGE = "attributes"

ExtractorFactory = Callable[[AttributeSettings, dict[str, str]], Extractor]
"""(attribute settings, model folders by role) -> an Extractor"""

# config name (schema: attributes.extractors) -> factory
REGISTRY: dict[str, ExtractorFactory] = {
    "voice_activity": voice_activity.voice_activity_extractor,
    "brouhaha": voice_activity.brouhaha_extractor,
    "volume": lambda settings, model_dirs: dsp.volume_extractor(),
    "pitch": lambda settings, model_dirs: dsp.pitch_extractor(),
    "speech_rate": lambda settings, model_dirs: dsp.speech_rate_extractor(),
    "snr": lambda settings, model_dirs: dsp.snr_extractor(),
    "learned_snr": snr_model.learned_snr_extractor,
    "whisper_asr": models.whisper_asr_extractor,
    "voice2gender": models.voice2gender_extractor,
    "gender_classifier": models.gender_classifier_extractor,
    "emotion_classifier": models.emotion_classifier_extractor,
}

# attribute word <- measurement column it is binned from
BINNED = {"volume": "volume_db", "pitch": "pitch_hz", "speaking_speed": "speech_rate", "snr": "snr_db", "c50": "c50_db"}


def build_extractor(name: str, settings: AttributeSettings | dict[str, Any], model_dirs: dict[str, str]) -> Extractor:
    if name not in REGISTRY:
        raise ValueError(f"unknown attribute extractor {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name](AttributeSettings.of(settings), model_dirs)


def extract_attributes(
    table: pl.DataFrame, extractors: list[Extractor], batch_size: int, bins: dict[str, Any]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (manifest with attribute and measurement columns, quarantine of clips that could not be used)."""
    rows = table.to_dicts()
    kept: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    for start in tqdm(range(0, len(rows), batch_size), desc="extracting attributes", unit="batch"):
        batch, audios = _load_batch(rows[start : start + batch_size], quarantined)
        if batch:
            kept += _run_extractors(batch, audios, extractors, quarantined)
    for row in kept:
        add_words(row, bins)
    result = pl.DataFrame(kept, infer_schema_length=None) if kept else table.clear()
    return complete_attribute_columns(result), tables.quarantine_table(quarantined)


def _load_batch(rows, quarantined):
    batch, audios = [], []
    for row in rows:
        try:
            audios.append(load_audio(row["audio_path"]).samples)
            batch.append(dict(row))
        except AudioError as error:
            quarantined.append(_quarantine_row(row, tables.reason_of(error)))
    return batch, audios


def _run_extractors(batch, audios, extractors, quarantined):
    """Run each extractor on the batch; if one fails, retry clip by clip and quarantine the clip that fails."""
    for extractor in extractors:
        try:
            outputs = extractor.run(batch, audios)
        except Exception:
            log.exception("extractor %s failed on a batch; retrying clip by clip", extractor.name)
            outputs = []
            survivors, survivor_audio = [], []
            for row, audio in zip(batch, audios):
                try:
                    outputs += extractor.run([row], [audio])
                    survivors.append(row)
                    survivor_audio.append(audio)
                except Exception as error:
                    quarantined.append(_quarantine_row(row, f"{extractor.name}: {type(error).__name__}: {error}"))
            batch, audios = survivors, survivor_audio
        for row, values in zip(batch, outputs):
            merge(row, values, extractor.name)
    return batch


def _quarantine_row(row: dict[str, Any], reason: str) -> dict[str, Any]:
    return tables.quarantine_row(row["id"], row["audio_path"], STAGE, reason)


def add_words(row: dict[str, Any], bins: dict[str, Any]) -> None:
    """Fill attribute words from measurements through the configured bins, where no label exists."""
    for attribute, measure in BINNED.items():
        if row.get(attribute) is not None or row.get(measure) is None or attribute not in bins:
            continue
        if attribute == "pitch":
            word = binning.pitch_word(row[measure], row.get("gender"), bins["pitch"])
        else:
            word = binning.to_word(row[measure], bins[attribute]["edges"], bins[attribute]["words"])
        if word is not None:
            row[attribute] = word
            row[f"{attribute}_source"] = row.get(f"{measure}_source")


def complete_attribute_columns(table: pl.DataFrame) -> pl.DataFrame:
    """Every attribute (and its source) as a String column, null where nothing provided it."""
    columns = []
    for attribute in manifest.ATTRIBUTES:
        if attribute == "duration":
            continue
        for column in (attribute, f"{attribute}_source"):
            if column in table.columns:
                columns.append(pl.col(column).cast(pl.String))
            else:
                columns.append(pl.lit(None, dtype=pl.String).alias(column))
    return table.with_columns(columns)
