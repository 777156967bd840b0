"""The quarantine table: clips a stage could not use, each with the stage and a one-line reason.

Every stage keeps the invariant: rows in = rows out + rows quarantined. The columns and the one way to make a
row are destaflow.tables' (QUARANTINE, quarantine_row, reason_of).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from destaflow import tables
from destaflow.tables import QUARANTINE as QUARANTINE_COLUMNS
from destaflow.tables import quarantine_row, reason_of

__all__ = ["QUARANTINE_COLUMNS", "quarantine_row", "reason_of", "write_quarantine"]


def write_quarantine(table: pl.DataFrame, path: str | Path) -> None:
    tables.write(table, path, "quarantine")
