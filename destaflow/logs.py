"""Per-job logging: everything a job prints (logging, warnings, tqdm bars) goes to its log file."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def log_to_file(path: str | os.PathLike, level: int = logging.INFO) -> None:
    """Send logging and stderr (warnings, tracebacks, progress bars) to `path`."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "a", buffering=1)
    sys.stderr = stream
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(stream)],
        force=True,
    )
    logging.captureWarnings(True)
