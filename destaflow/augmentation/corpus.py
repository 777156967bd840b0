"""Render planned clips to 16 kHz wav files and write the augmented corpus manifest and quarantine."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import polars as pl
import soundfile as sf
from tqdm import tqdm

from destaflow import manifest, tables
from destaflow.atomic import atomic_path
from destaflow.audio import TARGET_RATE, AudioError, load_audio
from destaflow.augmentation.noise import headroom_gain, make_noise, scale_to_snr
from destaflow.augmentation.plan import ClipPlan, plan_clips, read_sources
from destaflow.augmentation.reverb import apply_reverb, build_rir, clarity_db, reverberation_time_s
from destaflow.augmentation.settings import parse_settings

STAGE = "augment"
# labels that neither noise nor reverberation change; volume is dropped (the level changed) and re-measured later
KEPT_LABELS = ("gender", "age", "accent", "emotion", "pitch", "speaking_speed", "intent", "text")
MEASUREMENTS = ("snr_db", "c50_db", "rt60_s")
RT60_METHOD = "schroeder-T20"
EXTRA_COLUMNS: dict[str, pl.DataType] = {
    "noise_type": pl.String(),
    "noise_file": pl.String(),
    "babble_ids": pl.String(),
    "reverb_type": pl.String(),
    "rir_file": pl.String(),
    "room_dims_m": pl.String(),
    "room_rt60_target_s": pl.Float64(),
    "room_distance_m": pl.Float64(),
    "rt60_method": pl.String(),
    "mix_gain_db": pl.Float64(),
    "source_id": pl.String(),
    "source_corpus": pl.String(),
}


@dataclass(frozen=True)
class RenderedClip:
    """The written mix and its parts, all after the anti-clipping gain: mix == speech + noise."""

    mix: np.ndarray
    speech: np.ndarray  # the (reverberant) speech
    noise: np.ndarray | None
    rir: np.ndarray | None  # aligned to its direct path
    gain_db: float


def render_clip(plan: ClipPlan) -> RenderedClip:
    """Load the source, reverberate, add noise at the planned SNR, scale the whole mix below full scale."""
    try:
        dry = load_audio(plan.source["audio_path"]).samples.astype(np.float64)
    except AudioError as error:
        raise AudioError(f"source: {error}") from None
    rir = build_rir(plan.reverb) if plan.reverb else None
    speech = apply_reverb(dry, rir) if rir is not None else dry
    noise = scale_to_snr(speech, make_noise(plan.noise, len(speech)), plan.noise.snr_db) if plan.noise else None
    mix = speech if noise is None else speech + noise
    gain = headroom_gain(mix)
    return RenderedClip(mix * gain, speech * gain, None if noise is None else noise * gain, rir, 20 * math.log10(gain))


def write_wav(path: Path, samples: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        sf.write(tmp, samples.astype(np.float32), TARGET_RATE, subtype="PCM_16", format="WAV")


def output_path(audio_dir: str | Path, plan: ClipPlan) -> Path:
    return Path(audio_dir) / plan.source["split"] / f"{plan.id.replace('/', '_')}.wav"


def manifest_row(plan: ClipPlan, clip: RenderedClip, corpus: str, audio_path: Path) -> dict[str, Any]:
    source = plan.source
    row: dict[str, Any] = {
        "id": plan.id,
        "corpus": corpus,
        "audio_path": str(audio_path),
        "speaker": source["speaker"],
        "split": source["split"],
        "sample_rate": TARGET_RATE,
        "duration": len(clip.mix) / TARGET_RATE,
        "duration_source": "dsp:sample-count",
    }
    for label in KEPT_LABELS:
        if label in source:
            row[label], row[f"{label}_source"] = source[label], source.get(f"{label}_source")
    measured = {
        "snr_db": plan.noise.snr_db if plan.noise else None,
        "c50_db": _rounded(clarity_db(clip.rir), 2) if clip.rir is not None else None,
        "rt60_s": _rounded(reverberation_time_s(clip.rir), 3) if clip.rir is not None else None,
    }
    for name, value in measured.items():
        row[name], row[f"{name}_source"] = value, None if value is None else "label"
    return row | _provenance(plan, clip, measured["rt60_s"] is not None)


def _provenance(plan: ClipPlan, clip: RenderedClip, has_rt60: bool) -> dict[str, Any]:
    noise, reverb = plan.noise, plan.reverb
    room = reverb.room if reverb else None
    return {
        "noise_type": noise.kind if noise else None,
        "noise_file": noise.noise_file if noise else None,
        "babble_ids": ",".join(clip_id for clip_id, _ in noise.babble) if noise and noise.babble else None,
        "reverb_type": reverb.kind if reverb else None,
        "rir_file": reverb.rir_file if reverb else None,
        "room_dims_m": "x".join(f"{side:g}" for side in room.dims_m) if room else None,
        "room_rt60_target_s": room.rt60_target_s if room else None,
        "room_distance_m": round(room.distance_m, 3) if room else None,
        "rt60_method": RT60_METHOD if has_rt60 else None,
        "mix_gain_db": clip.gain_db,
        "source_id": plan.source["id"],
        "source_corpus": plan.source["corpus"],
    }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def manifest_schema(source_columns: list[str]) -> dict[str, pl.DataType]:
    schema: dict[str, pl.DataType] = {name: column.dtype for name, column in manifest.CORPUS_COLUMNS.items()}
    for label in KEPT_LABELS:
        if label in source_columns:
            schema[label] = schema[f"{label}_source"] = pl.String()
    for name in MEASUREMENTS:
        schema[name], schema[f"{name}_source"] = pl.Float64(), pl.String()
    return schema | EXTRA_COLUMNS


def augment_corpus(
    source_manifests: list[str], settings: Mapping[str, Any], audio_dir: str, manifest_path: str, quarantine_path: str
) -> None:
    """Draw clips from corpus-stage manifests, add reverberation and/or noise, write wavs, manifest and quarantine."""
    parsed = parse_settings(settings)
    pool = read_sources(source_manifests)
    kept, quarantined = [], []
    for plan in tqdm(plan_clips(pool, parsed), desc=f"augmenting into {parsed.name}", unit="clip"):
        try:
            clip = render_clip(plan)
        except AudioError as error:
            quarantined.append(tables.quarantine_row(plan.id, plan.source["audio_path"], STAGE, error))
            continue
        path = output_path(audio_dir, plan)
        write_wav(path, clip.mix)
        kept.append(manifest_row(plan, clip, parsed.name, path))
    table = pl.DataFrame(kept, schema=manifest_schema(pool.table.columns)).sort("id")
    manifest.write(table, manifest_path, "corpus")
    tables.write_quarantine(tables.quarantine_table(quarantined).sort("id"), quarantine_path)
