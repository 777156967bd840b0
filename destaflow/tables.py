"""The columns of every table a stage hands on, besides the clip manifests (destaflow.manifest), in one place.

Each table is written through `write` and read through `read`, which check its declared columns (present,
of the declared type; a table may carry more) so a stage that changes a table's shape fails where it writes
it, not three stages later. Quarantine rows are made by `quarantine_row` only: one way to say why.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from destaflow.atomic import atomic_path

QUARANTINE = {"id": pl.String, "audio_path": pl.String, "stage": pl.String, "reason": pl.String}
"""Clips a stage could not use: rows in = rows kept + rows quarantined, in every stage."""

CAPTIONS = {
    "id": pl.String, "caption_index": pl.Int64, "corpus": pl.String, "split": pl.String, "seed": pl.String,
    "prompt": pl.String, "response": pl.String, "llm": pl.String, "backend": pl.String, "gen_params": pl.String,
    "sample_seed": pl.Int64, "n_tokens": pl.Int64, "hit_token_limit": pl.Boolean,
}  # fmt: skip
"""One caption per (clip, caption index): the LLM's answer to the prompt about the clip's seed transcript."""

TRANSCRIPTS = {"id": pl.String, "transcription": pl.String, "transcription_source": pl.String}
"""Whisper's transcript of every clip the Whisper pass read."""

ENCODER_INDEX = {"id": pl.String, "shard": pl.String, "key": pl.String, "frames": pl.Int64}
"""Where each clip's tapped encoder states are in the encoder cache."""

EXAMPLES = {"id": pl.String, "audio_path": pl.String, "duration": pl.Float64, "transcription": pl.String, "input": pl.String, "target": pl.String}
"""What training reads: a clip, its transcript, the user turn and the target (the caption set and the
finetuning stage's instruction set alike; the caption set also carries `seed`, the likelihood probe's labels)."""

TRAINSET = {
    "id": pl.String, "caption_index": pl.Int64, "corpus": pl.String, "speaker": pl.String, "split": pl.String,
    "audio_path": pl.String, "duration": pl.Float64, "transcription": pl.String, "input": pl.String, "target": pl.String,
    "seed": pl.String, "llm": pl.String, "gen_params": pl.String,
}  # fmt: skip
"""The caption-trained stage's examples (the finetuning set too, its captioning columns null): captions joined
with their clips and transcripts; an examples table with provenance."""

VOICE_ACTIVITY = {
    "id": pl.String,
    "speech_regions": pl.List(pl.Struct({"start": pl.Float64, "end": pl.Float64})),
    "speech_duration": pl.Float64,
    "leading_silence": pl.Float64,
    "trailing_silence": pl.Float64,
    "overlap_duration": pl.Float64,
    "vad_source": pl.String,
    "snr_db": pl.Float64,
    "c50_db": pl.Float64,
    "brouhaha_source": pl.String,
}
"""One row per clip the voice-activity pass read (seconds; dB). The last three are null unless the
brouhaha-style model ran in the same pass."""

TABLES: dict[str, dict[str, pl.DataType]] = {
    "quarantine": QUARANTINE,
    "captions": CAPTIONS,
    "transcripts": TRANSCRIPTS,
    "encoder_index": ENCODER_INDEX,
    "examples": EXAMPLES,
    "trainset": TRAINSET,
    "voice_activity": VOICE_ACTIVITY,
}

REASON_CHARS = 300


class TableError(ValueError):
    pass


def check(table: pl.DataFrame, name: str, where: str | Path = "", columns: list[str] | None = None) -> pl.DataFrame:
    """`table` if it holds the declared columns of table `name` (those among `columns`, when given) with their
    declared types, else TableError."""
    declared = {c: t for c, t in TABLES[name].items() if columns is None or c in columns}
    missing = [column for column in declared if column not in table.columns]
    wrong = [f"{column} is {table.schema[column]}, not {dtype}" for column, dtype in declared.items()
             if column in table.columns and table.schema[column] != dtype and table[column].dtype != pl.Null]  # fmt: skip
    if missing or wrong:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + wrong
        raise TableError(f"{where or 'table'} does not hold the {name} table's columns: {'; '.join(problems)}")
    return table


def write(table: pl.DataFrame, path: str | Path, name: str) -> None:
    """Check, then write atomically (a killed job leaves the old file or none)."""
    check(table, name, path)
    with atomic_path(path) as tmp:
        table.write_parquet(tmp)


def read(path: str | Path, name: str, columns: list[str] | None = None) -> pl.DataFrame:
    """Read and check; with `columns`, only those (the declared ones among them must be there, of their types)."""
    return check(pl.read_parquet(path, columns=columns), name, path, columns)


def reason_of(error: Exception | str) -> str:
    """One line for the quarantine table, the same whichever stage met the problem."""
    text = error if isinstance(error, str) else (str(error).strip() or type(error).__name__)
    return (text.strip().splitlines() or [""])[0][:REASON_CHARS]


def quarantine_row(clip_id: str, audio_path: str | None, stage: str, problem: Exception | str) -> dict[str, str | None]:
    return {"id": clip_id, "audio_path": None if audio_path is None else str(audio_path), "stage": stage, "reason": reason_of(problem)}


def quarantine_table(rows: Iterable[dict[str, str | None]] = ()) -> pl.DataFrame:
    """Rows made by quarantine_row as the quarantine table (empty when there are none)."""
    return pl.DataFrame(list(rows), schema=QUARANTINE)


def write_quarantine(table: pl.DataFrame | Iterable[dict[str, str | None]], path: str | Path) -> None:
    """A stage's quarantine output: a quarantine table, or the rows of one."""
    write(table if isinstance(table, pl.DataFrame) else quarantine_table(table), path, "quarantine")
