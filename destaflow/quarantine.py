"""The quarantine table: clips a stage could not use, each with the stage and a one-line reason.

Every stage keeps the invariant: rows in = rows out + rows quarantined.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from destaflow.atomic import atomic_path

QUARANTINE_COLUMNS = {"id": pl.String, "audio_path": pl.String, "stage": pl.String, "reason": pl.String}


def write_quarantine(table: pl.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        table.write_parquet(tmp)


def reason_of(error: Exception) -> str:
    """One line for the quarantine table, the same whichever stage met the error."""
    return (str(error).strip() or type(error).__name__).splitlines()[0]
