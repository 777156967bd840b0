"""Work folders that outlive a killed job, and the one rule for reusing them.

A long stage (attributes, the Whisper pass, captioning, training) keeps its progress in a work folder that
Snakemake does not empty, so a rerun after a kill resumes there. The folder is stamped with a hash of
everything that decides the output: settings, input tables, models. A rerun with another stamp starts from
an empty folder, so progress made for other inputs is never merged with new work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger(__name__)

STAMP_FILE = "inputs.sha256"
WHOLE_FILE_BYTES = 1 << 20  # model files above this are identified by name and size (weights run to gigabytes)


def stamp(settings: Any, files: Iterable[str | Path] = ()) -> str:
    """sha256 of `settings` (as sorted JSON) and of each input: a file's bytes; a folder (a model) by its
    files' names and sizes and the bytes of its small files (configs, tokenizers)."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in map(Path, files):
        digest.update(str(path).encode())
        if path.is_dir():
            for member in sorted(p for p in path.rglob("*") if p.is_file()):
                size = member.stat().st_size
                digest.update(f"{member.relative_to(path)}:{size}".encode())
                if size <= WHOLE_FILE_BYTES:
                    _update_with_file(digest, member)
        elif path.is_file():
            _update_with_file(digest, path)
        else:
            digest.update(b"<absent>")
    return digest.hexdigest()


def _update_with_file(digest, path: Path) -> None:
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)


def open_work_dir(folder: str | Path, inputs_stamp: str) -> Path:
    """`folder`, ready to resume: kept when it was made for `inputs_stamp`, emptied first otherwise."""
    work = Path(folder)
    stamp_file = work / STAMP_FILE
    if work.exists() and (not stamp_file.exists() or stamp_file.read_text() != inputs_stamp):
        log.info("discarding %s: it was made from other inputs", work)
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(inputs_stamp)
    return work
