"""Seed transcripts: a clip written as text for the captioning LLM.

Paper form (default): `[00:00:00-00:00:03] How are you? (Gender: Female, Emotion: Happy, Duration: 3s)`.
The `quoted` form follows the project page: `[00:00:00 - 00:00:03]: "How are you?" (Gender: Female, ...)`.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

DISPLAY_NAMES = {
    "gender": "Gender",
    "age": "Age",
    "accent": "Accent",
    "emotion": "Emotion",
    "pitch": "Pitch",
    "volume": "Volume",
    "speaking_speed": "Speaking speed",
    "snr": "Noise level",
    "c50": "Reverberation",
    "intent": "Intent",
}
MEASUREMENT_SUFFIX = {"snr": ("snr_db", "SNR {:.0f} dB"), "c50": ("c50_db", "C50 {:.0f} dB")}
STYLES = ("paper", "quoted")


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def whole_seconds(duration: float) -> int:
    """Duration as the seed shows it: rounded half up, at least one second."""
    return max(1, math.floor(duration + 0.5))


def describe_value(attribute: str, row: Mapping[str, Any]) -> str | None:
    value = row.get(attribute)
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    text = text[0].upper() + text[1:]
    if attribute in MEASUREMENT_SUFFIX:
        column, template = MEASUREMENT_SUFFIX[attribute]
        measured = row.get(column)
        if measured is not None and not (isinstance(measured, float) and math.isnan(measured)):
            text += f" ({template.format(measured)})"
    return text


def format_seed(row: Mapping[str, Any], attributes: list[str], style: str = "paper") -> str:
    """Write one clip as a seed transcript; attributes without a value are left out, `Duration` always ends it."""
    if style not in STYLES:
        raise ValueError(f"unknown seed style {style!r}; known: {', '.join(STYLES)}")
    unknown = [a for a in attributes if a not in DISPLAY_NAMES]
    if unknown:
        raise ValueError(f"attributes {unknown} cannot appear in a seed transcript; known: {', '.join(DISPLAY_NAMES)}")
    seconds = whole_seconds(float(row["duration"]))
    parts = [f"{DISPLAY_NAMES[a]}: {v}" for a in attributes if (v := describe_value(a, row)) is not None]
    parts.append(f"Duration: {seconds}s")
    text = " ".join(str(row.get("text") or "").split())
    if style == "paper":
        span = f"[{clock(0)}-{clock(seconds)}]"
        spoken = f" {text}" if text else ""
    else:
        span = f"[{clock(0)} - {clock(seconds)}]:"
        spoken = f' "{text}"' if text else ""
    return f"{span}{spoken} ({', '.join(parts)})"


def add_seeds(table, attributes: list[str], style: str = "paper"):
    """The `seed`-stage manifest: the attributes manifest plus a `seed` column."""
    import polars as pl

    seeds = [format_seed(row, attributes, style) for row in table.iter_rows(named=True)]
    return table.with_columns(pl.Series("seed", seeds, dtype=pl.String))


def parse_seed(seed: str) -> dict[str, str]:
    """attribute -> value word a seed transcript states (format_seed's inverse for the attributes; measurements
    in parentheses are dropped): `... (Gender: Female, Noise level: Clean (SNR 43 dB), ...)` -> gender Female, snr Clean."""
    stated, group = {}, attribute_group(seed)
    for attribute, name in DISPLAY_NAMES.items():
        match = re.search(rf"(?:^\(|, ){re.escape(name)}: ([^,()]+?)(?: \([^()]*\))?(?=, |\)$)", group)
        if match:
            stated[attribute] = match.group(1).strip()
    return stated


def attribute_group(seed: str) -> str:
    """The seed's closing `( ... )` group of attributes (parentheses nest: measurements sit inside it)."""
    text, depth = seed.rstrip(), 0
    for index in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[index], 0)
        if depth == 0:
            return text[index:] if text.endswith(")") else ""
    return ""
