"""Continuous measurements -> attribute words, through bin edges kept in configuration."""

from __future__ import annotations

import bisect
import math


def to_word(value: float | None, edges: list[float], words: list[str]) -> str | None:
    """`words[i]` for edges[i-1] <= value < edges[i]; len(words) must be len(edges) + 1. None/NaN -> None."""
    if len(words) != len(edges) + 1:
        raise ValueError(f"{len(edges)} bin edges need {len(edges) + 1} words, got {len(words)}")
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"bin edges must increase strictly: {edges}")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return words[bisect.bisect_right(edges, value)]


def pitch_word(pitch_hz: float | None, gender: str | None, bins: dict[str, dict]) -> str | None:
    """Pitch relative to the speaker's gender (a low female voice is not a low male voice)."""
    table = bins.get(gender or "", bins.get("any"))
    if table is None:
        return None
    return to_word(pitch_hz, table["edges"], table["words"])
