"""The transcription stage: the backbone Whisper's own transcript of every clip, stored for training.

DeSTA2 feeds the LLM what the frozen Whisper decoder hears (not the corpus text), so training, caching and
inference all use this transcript.
"""

from __future__ import annotations

import logging

import polars as pl
from tqdm import tqdm

from destaflow import manifest
from destaflow.asr import load_whisper, transcribe
from destaflow.atomic import atomic_path
from destaflow.audio import AudioError, load_audio
from destaflow.models.sources import model_name
from destaflow.quarantine import QUARANTINE_COLUMNS, write_quarantine
from destaflow.runtime import chunks

log = logging.getLogger(__name__)

TRANSCRIPT_COLUMNS = {"id": pl.String, "transcription": pl.String, "transcription_source": pl.String}


def transcribe_corpus(clip_manifest: str, whisper_dir: str, batch_size: int, out_path: str, quarantine_path: str) -> None:
    table = manifest.read(clip_manifest, "attributes")
    processor, model = load_whisper(whisper_dir)
    source = model_name(whisper_dir)
    rows, quarantined = [], []
    for batch in tqdm(list(chunks(table.select("id", "audio_path").to_dicts(), batch_size)), desc="transcribing", unit="batch"):
        kept, audios = [], []
        for row in batch:
            try:
                audios.append(load_audio(row["audio_path"]).samples)
                kept.append(row)
            except AudioError as error:
                quarantined.append({**row, "stage": "transcribe", "reason": str(error)})
        for row, text in zip(kept, transcribe(audios, processor, model, batch_size) if kept else []):
            rows.append({"id": row["id"], "transcription": text, "transcription_source": source})
    if len(rows) + len(quarantined) != table.height:
        raise RuntimeError(f"lost clips: {table.height} in, {len(rows)} transcribed + {len(quarantined)} quarantined")
    log.info("%d clips transcribed, %d quarantined", len(rows), len(quarantined))
    write_quarantine(pl.DataFrame(quarantined, schema=QUARANTINE_COLUMNS), quarantine_path)
    with atomic_path(out_path) as tmp:
        pl.DataFrame(rows, schema=TRANSCRIPT_COLUMNS).write_parquet(tmp)
