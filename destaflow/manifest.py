"""The one manifest schema that flows through every stage (one row per clip, parquet via polars).

Stages only ever add columns. Each of the twelve DeSTA2 attributes, once present, is a value column
`<attr>` plus a provenance column `<attr>_source` saying where the value came from: `label` (the corpus's
own annotation), a model id (e.g. `openai/whisper-small`) or a DSP method name (e.g. `dsp:sample-count`).
Audio is referenced by `audio_path`, never stored in the table. Columns not listed here are allowed: they
are corpus-specific raw labels or measurements (e.g. the demo's `synth_wpm`) and travel along unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import polars as pl

from destaflow.atomic import atomic_path

ATTRIBUTES: tuple[str, ...] = (
    "gender",
    "age",
    "accent",
    "emotion",
    "pitch",
    "volume",
    "speaking_speed",
    "snr",
    "c50",
    "duration",
    "intent",
    "text",
)
"""The paper's twelve clip attributes. `duration` is seconds (float); the others are words or numbers as text."""

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Column:
    dtype: type[pl.DataType] | pl.DataType
    description: str
    nullable: bool = False


CORPUS_COLUMNS: dict[str, Column] = {
    "id": Column(pl.String, "unique clip id, stable across stages"),
    "corpus": Column(pl.String, "corpus name as in config (demo, vctk, iemocap, ...)"),
    "audio_path": Column(pl.String, "path of the audio file (relative to the working directory or absolute)"),
    "speaker": Column(pl.String, "speaker id, unique within the corpus"),
    "split": Column(pl.String, "train | valid | test; speakers never cross splits"),
    "sample_rate": Column(pl.Int64, "sample rate of the file on disk (Hz)"),
    "duration": Column(pl.Float64, "clip duration in seconds"),
    "duration_source": Column(pl.String, "provenance of duration"),
}

ATTRIBUTE_COLUMNS: dict[str, Column] = {
    **{
        column: Column(pl.String, description, nullable=True)
        for name in ATTRIBUTES
        if name != "duration"
        for column, description in ((name, f"{name} as a word or number"), (f"{name}_source", f"provenance of {name}"))
    },
}

SEED_COLUMNS: dict[str, Column] = {
    "seed": Column(pl.String, "the seed transcript the captioning LLM reads in place of the audio"),
}

STAGE_COLUMNS: dict[str, dict[str, Column]] = {
    "corpus": CORPUS_COLUMNS,
    "attributes": {**CORPUS_COLUMNS, **ATTRIBUTE_COLUMNS},
    "seed": {**CORPUS_COLUMNS, **ATTRIBUTE_COLUMNS, **SEED_COLUMNS},
}
"""Columns each stage guarantees on its output, cumulative (a later stage includes the earlier ones)."""


class ManifestError(ValueError):
    """A manifest that breaks the schema; the message names the column and the problem."""


def attribute_columns(df: pl.DataFrame) -> list[str]:
    return [name for name in ATTRIBUTES if name in df.columns]


def validate(df: pl.DataFrame, stage: str) -> pl.DataFrame:
    """Check `df` against the schema of `stage`; return it unchanged or raise ManifestError."""
    if stage not in STAGE_COLUMNS:
        raise ManifestError(f"unknown manifest stage {stage!r}; known: {', '.join(STAGE_COLUMNS)}")
    for name, column in STAGE_COLUMNS[stage].items():
        if name not in df.columns:
            raise ManifestError(f"{stage} manifest lacks column {name!r} ({column.description})")
        if df.schema[name] != column.dtype:
            raise ManifestError(f"{stage} manifest column {name!r} has type {df.schema[name]}, expected {column.dtype}")
        if not column.nullable and df[name].null_count():
            raise ManifestError(f"{stage} manifest column {name!r} has {df[name].null_count()} null values")
    for name in attribute_columns(df):
        source = f"{name}_source"
        if source not in df.columns:
            raise ManifestError(f"attribute column {name!r} has no provenance column {source!r}")
        unsourced = df.filter(pl.col(name).is_not_null() & pl.col(source).is_null()).height
        if unsourced:
            raise ManifestError(f"{unsourced} rows have a {name!r} value but no {source!r}")
    for name, dtype in df.schema.items():
        if dtype == pl.Binary or (isinstance(dtype, pl.List) and dtype.inner.is_numeric()):
            raise ManifestError(f"column {name!r} holds {dtype}: audio belongs in files referenced by audio_path")
    duplicated = df["id"].is_duplicated().sum()
    if duplicated:
        raise ManifestError(f"{duplicated} rows share an id with another row")
    bad_splits = df.filter(~pl.col("split").is_in(SPLITS))["split"].unique().to_list()
    if bad_splits:
        raise ManifestError(f"split values {bad_splits} are not among {SPLITS}")
    crossing = df.group_by("corpus", "speaker").agg(pl.col("split").n_unique().alias("n")).filter(pl.col("n") > 1)
    if crossing.height:
        raise ManifestError(f"speakers occur in more than one split: {crossing['speaker'].head(5).to_list()}")
    return df


def write(df: pl.DataFrame, path: str | os.PathLike, stage: str) -> None:
    """Validate, then write parquet atomically."""
    validate(df, stage)
    with atomic_path(path) as tmp:
        df.write_parquet(tmp)


def read(path: str | os.PathLike, stage: str) -> pl.DataFrame:
    """Read a manifest and validate it as the output of `stage`."""
    return validate(pl.read_parquet(path), stage)


def describe() -> str:
    """The schema as a Markdown table (`python -m destaflow.manifest`)."""
    lines = ["| stage | column | type | description |", "|---|---|---|---|"]
    for stage, columns in STAGE_COLUMNS.items():
        for name, column in columns.items():
            lines.append(f"| {stage} | `{name}` | {column.dtype} | {column.description} |")
    lines.append(f"| any | `<attr>`, `<attr>_source` | String (duration: Float64) | attributes: {', '.join(ATTRIBUTES)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
