"""Builders of tiny corpora in their real distributed layouts (synthesized audio, real naming)."""

from pathlib import Path

HALVES = {"train": 0.5, "valid": 0.25, "test": 0.25}


def reader_settings(reader: str, root: Path, labels: dict, split: dict | None = None, **overrides) -> dict:
    """A corpus entry as the validated configuration gives it to a reader."""
    settings = {
        "reader": reader,
        "root": str(root),
        "labels": labels,
        "split": split or HALVES,
        "split_seed": 0,
        "max_clips": None,
        "audio_root": None,
    }
    return {**settings, **overrides}
