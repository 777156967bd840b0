"""What a clip's speech regions say about it: pure functions, no pyannote."""

from __future__ import annotations

from collections.abc import Sequence


Region = tuple[float, float]

MEASUREMENTS = ("speech_regions", "speech_duration", "leading_silence", "trailing_silence", "overlap_duration")


def clip_regions(regions: Sequence[Region], duration: float) -> list[Region]:
    """Regions cut to [0, duration], sorted, overlapping or touching ones merged, empty ones dropped."""
    cut = sorted((max(0.0, start), min(duration, end)) for start, end in regions)
    merged: list[list[float]] = []
    for start, end in cut:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def summarise(speech: Sequence[Region], overlap: Sequence[Region], duration: float) -> dict:
    """The table's measurements of one clip; a clip without speech is all silence (leading = trailing = its length)."""
    speech = clip_regions(speech, duration)
    overlap = clip_regions(overlap, duration)
    return {
        "speech_regions": [{"start": round(s, 3), "end": round(e, 3)} for s, e in speech],
        "speech_duration": round(sum(e - s for s, e in speech), 3),
        "leading_silence": round(speech[0][0] if speech else duration, 3),
        "trailing_silence": round(duration - speech[-1][1] if speech else duration, 3),
        "overlap_duration": round(sum(e - s for s, e in overlap), 3),
    }


def boundary_errors(found: Sequence[Region], truth: Sequence[Region]) -> list[float]:
    """|error| in seconds of each true boundary against the nearest found boundary of the same kind (onsets to
    onsets, offsets to offsets); a clip with no found region gives none (count it separately)."""
    if not found:
        return []
    errors = []
    for kind in (0, 1):
        found_edges = [region[kind] for region in found]
        errors += [min(abs(edge - f) for f in found_edges) for edge in (region[kind] for region in truth)]
    return errors
