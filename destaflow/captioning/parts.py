"""Resumable progress: every finished batch becomes one atomically written part file in `<out>.parts/`.

A job killed at any moment leaves only whole part files, so a rerun reads them, skips what they hold and
writes the rest; the final output is the union of the parts (a part that is a temporary leftover of a
killed write is never read: it does not match the part name pattern).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polars as pl

from destaflow.atomic import atomic_path

PART_NAME = re.compile(r"^part-(\d+)\.parquet$")


def parts_folder(out_path: str | Path) -> Path:
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".parts")


def part_numbers(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return sorted(int(match[1]) for entry in folder.iterdir() if (match := PART_NAME.match(entry.name)))


def write_part(folder: Path, rows: pl.DataFrame) -> Path:
    """Write the next part file (numbered one past the highest present)."""
    folder.mkdir(parents=True, exist_ok=True)
    number = max(part_numbers(folder), default=0) + 1
    target = folder / f"part-{number:06d}.parquet"
    with atomic_path(target) as tmp:
        rows.write_parquet(tmp)
    return target


def read_parts(folder: Path, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    tables = [pl.read_parquet(folder / f"part-{number:06d}.parquet") for number in part_numbers(folder)]
    return pl.concat([table.select(list(schema)).cast(schema) for table in tables]) if tables else pl.DataFrame(schema=schema)


def remove_parts(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
