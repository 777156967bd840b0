"""The attribute stage as a whole: corpus manifest in, attributes manifest and quarantine out.

A corpus is processed in chunks of `clips_per_chunk` clips. With a work folder, each finished chunk is
written there (kept rows and quarantined rows), so a job killed after hours resumes at the first unfinished
chunk; the folder is stamped with the stage's inputs and discarded when they change, and removed once the
outputs are written.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from destaflow import manifest, tables
from destaflow.atomic import atomic_path
from destaflow.attributes.extract import build_extractor, complete_attribute_columns, extract_attributes
from destaflow.attributes.settings import AttributeSettings
from destaflow.workdir import open_work_dir, stamp

log = logging.getLogger(__name__)


def run_stage(
    corpus_manifest: str,
    extractor_names: list[str],
    settings: AttributeSettings | dict[str, Any],
    model_dirs: dict[str, str],
    out_manifest: str,
    out_quarantine: str,
    work_dir: str | None = None,
) -> None:
    settings = AttributeSettings.of(settings)
    table = manifest.read(corpus_manifest, "corpus")
    extractors = [build_extractor(name, settings, model_dirs) for name in extractor_names]
    log.info("extractors: %s", ", ".join(e.name for e in extractors))
    chunk = settings.clips_per_chunk or max(table.height, 1)
    work = Path(work_dir) if work_dir else None
    if work is not None:
        open_work_dir(work, stamp([extractor_names, settings.as_dict(), model_dirs], [corpus_manifest, *model_dirs.values()]))
    kept, quarantined = [], []
    for number, start in enumerate(range(0, table.height, chunk)):
        done = _finished_chunk(work, number) if work is not None else None
        if done is None:
            done = extract_attributes(table.slice(start, chunk), extractors, settings.batch_size, settings.bins)
            if work is not None:
                _write_chunk(work, number, *done)
        else:
            log.info("chunk %d (clips %d-%d) already done in %s", number, start, min(start + chunk, table.height) - 1, work)
        kept.append(done[0])
        quarantined.append(done[1])
    result = complete_attribute_columns(pl.concat(kept, how="diagonal_relaxed")) if kept else complete_attribute_columns(table.clear())
    quarantine = pl.concat(quarantined) if quarantined else tables.quarantine_table()
    log.info("%d clips in, %d kept, %d quarantined", table.height, result.height, quarantine.height)
    if result.height + quarantine.height != table.height:
        raise RuntimeError(f"lost clips: {table.height} in, {result.height} kept + {quarantine.height} quarantined")
    tables.write_quarantine(quarantine, out_quarantine)
    manifest.write(result, out_manifest, "attributes")
    if work is not None:
        shutil.rmtree(work)


def _chunk_paths(work: Path, number: int) -> tuple[Path, Path]:
    return work / f"chunk-{number:05d}.kept.parquet", work / f"chunk-{number:05d}.quarantine.parquet"


def _finished_chunk(work: Path, number: int) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    kept_path, quarantine_path = _chunk_paths(work, number)
    if not kept_path.exists():  # written last: its presence means the chunk is complete
        return None
    return pl.read_parquet(kept_path), pl.read_parquet(quarantine_path)


def _write_chunk(work: Path, number: int, kept: pl.DataFrame, quarantine: pl.DataFrame) -> None:
    kept_path, quarantine_path = _chunk_paths(work, number)
    with atomic_path(quarantine_path) as tmp:
        quarantine.write_parquet(tmp)
    with atomic_path(kept_path) as tmp:
        kept.write_parquet(tmp)
