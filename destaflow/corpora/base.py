"""What every corpus reader shares: speaker-disjoint splits, label maps, audio probing and quarantine."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import polars as pl
import soundfile as sf

from destaflow import manifest, tables

class CorpusLayoutError(ValueError):
    """The corpus root does not look like the distributed layout the reader expects."""


def require_paths(root: Path, *relative: str, corpus: str) -> None:
    missing = [r for r in relative if not (root / r).exists()]
    if missing:
        raise CorpusLayoutError(f"{corpus} root {root} lacks {', '.join(missing)}: is this the distributed layout?")


def speaker_split(speaker: str, fractions: dict[str, float], seed: int = 0) -> str:
    """Deterministic split of a speaker from a hash, so a speaker never crosses splits and reruns agree."""
    digest = hashlib.sha256(f"{seed}:{speaker}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = 0.0
    for split in manifest.SPLITS:
        cumulative += fractions.get(split, 0.0)
        if position < cumulative:
            return split
    return "train"


DEFAULT_SPLIT = {"train": 0.9, "valid": 0.05, "test": 0.05}


def split_for(speaker: str, settings: dict[str, Any]) -> str:
    """The speaker's split under a corpus entry's `split` fractions and `split_seed` (schema defaults if absent)."""
    return speaker_split(speaker, settings.get("split") or DEFAULT_SPLIT, settings.get("split_seed", 0))


def map_label(value: Any, mapping: dict[str, str] | None) -> str | None:
    """Map a raw corpus label into the attribute vocabulary; unmapped values pass through lower-cased."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if mapping and text in mapping:
        return mapping[text]
    return text.lower()


def map_with_defaults(raw: Any, attribute: str, settings: dict[str, Any], defaults: dict[str, dict[str, str]]) -> str | None:
    """Raw label -> vocabulary word; the configured map overrides a reader's default map entry by entry."""
    mapping = {**defaults.get(attribute, {}), **(settings.get("labels") or {}).get(attribute, {})}
    return map_label(raw, mapping)


def probe_audio(path: Path) -> tuple[int, float]:
    """Sample rate and duration from the file header (cheap; no decoding)."""
    if not path.is_file():
        raise FileNotFoundError(path)
    info = sf.info(str(path))
    if info.frames <= 0 or info.samplerate <= 0:
        raise ValueError("file has no samples")
    return info.samplerate, info.frames / info.samplerate


def inside(path: Path, roots: Sequence[Path]) -> bool:
    """Lexically (symlinks allowed, `..` not): is `path` under one of `roots`?"""
    resolved = Path(os.path.abspath(path))
    return any(resolved.is_relative_to(os.path.abspath(root)) for root in roots)


def finish_manifest(rows: Iterable[dict[str, Any]], stage: str = "corpus", roots: Sequence[Path] = ()) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Probe every row's audio; return (kept manifest, quarantine). Rows need id, audio_path and labels.
    With `roots`, a path that leaves them (a `../` in corpus metadata) is quarantined, never read."""
    kept, quarantined = [], []
    for row in rows:
        if roots and not inside(Path(row["audio_path"]), roots):
            reason = f"audio path outside the corpus root ({', '.join(map(str, roots))})"
            quarantined.append(tables.quarantine_row(row["id"], row["audio_path"], stage, reason))
            continue
        try:
            rate, duration = probe_audio(Path(row["audio_path"]))
        except Exception as error:  # any unreadable file is quarantined with its reason, never fatal
            quarantined.append(tables.quarantine_row(row["id"], row["audio_path"], stage, _reason(error)))
            continue
        kept.append({**row, "audio_path": str(row["audio_path"]), "sample_rate": rate, "duration": duration, "duration_source": "dsp:header-frames"})
    table = pl.DataFrame(kept, infer_schema_length=None) if kept else pl.DataFrame(schema={c: col.dtype for c, col in manifest.CORPUS_COLUMNS.items()})
    return table, tables.quarantine_table(quarantined)


def _reason(error: Exception) -> str:
    if isinstance(error, FileNotFoundError) or "No such file" in str(error):
        return "missing file"
    return f"{type(error).__name__}: {error}"


def labelled(**attributes: Any) -> dict[str, Any]:
    """Attribute columns taken from corpus annotation: `<attr>` plus `<attr>_source` = 'label' (None stays None)."""
    unknown = set(attributes) - set(manifest.ATTRIBUTES)
    if unknown:
        raise ValueError(f"not attributes: {sorted(unknown)}")
    columns: dict[str, Any] = {}
    for name, value in attributes.items():
        columns[name] = value
        columns[f"{name}_source"] = None if value is None else "label"
    return columns
