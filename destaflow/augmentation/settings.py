"""The `augment` settings, checked once so that later code can trust them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

NOISE_TYPES = ("white", "pink", "babble", "file")


@dataclass(frozen=True)
class Range:
    low: float
    high: float


@dataclass(frozen=True)
class RoomRanges:
    """Shoebox rooms for pyroomacoustics: side lengths, target RT60 and source-microphone distance."""

    length_m: Range
    width_m: Range
    height_m: Range
    rt60_s: Range
    distance_m: Range


@dataclass(frozen=True)
class AugmentSettings:
    name: str
    clips: int
    seed: int
    snr_db: Range
    noise_types: tuple[str, ...]
    noise_dir: str | None
    babble_speakers: tuple[int, int]
    reverb_probability: float
    noise_probability: float
    rir_dir: str | None
    room: RoomRanges | None


REQUIRED = ("clips", "seed", "snr_db", "noise_types", "babble_speakers", "reverb_probability", "noise_probability")
OPTIONAL = {"name": "augmented", "noise_dir": None, "rir_dir": None, "room": None}
ROOM_KEYS = ("length_m", "width_m", "height_m", "rt60_s", "distance_m")


def parse_settings(settings: Mapping[str, Any]) -> AugmentSettings:
    """Check `settings` and return them typed; a ValueError names the offending key."""
    unknown = set(settings) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise ValueError(f"unknown augment setting(s) {sorted(unknown)}; allowed: {', '.join(sorted([*REQUIRED, *OPTIONAL]))}")
    missing = [key for key in REQUIRED if key not in settings]
    if missing:
        raise ValueError(f"augment settings lack {', '.join(missing)}")
    values = {**OPTIONAL, **settings}
    parsed = AugmentSettings(
        name=str(values["name"]),
        clips=_positive_int(values["clips"], "clips"),
        seed=int(values["seed"]),
        snr_db=_range(values["snr_db"], "snr_db"),
        noise_types=_noise_types(values["noise_types"]),
        noise_dir=values["noise_dir"],
        babble_speakers=_speaker_range(values["babble_speakers"]),
        reverb_probability=_probability(values["reverb_probability"], "reverb_probability"),
        noise_probability=_probability(values["noise_probability"], "noise_probability"),
        rir_dir=values["rir_dir"],
        room=None if values["room"] is None else parse_room(values["room"]),
    )
    _check_consistency(parsed)
    return parsed


def _check_consistency(settings: AugmentSettings) -> None:
    if settings.reverb_probability == 0 and settings.noise_probability == 0:
        raise ValueError("augment.reverb_probability and augment.noise_probability are both 0: nothing to add")
    if "file" in settings.noise_types and settings.noise_dir is None:
        raise ValueError("augment.noise_types includes 'file' but augment.noise_dir is null")
    if settings.reverb_probability > 0 and settings.rir_dir is None and settings.room is None:
        raise ValueError("augment.reverb_probability > 0 needs augment.rir_dir or augment.room")


def _positive_int(value: Any, key: str) -> int:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"augment.{key} must be a positive integer, got {value!r}")
    return value


def _range(value: Any, key: str) -> Range:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"augment.{key} must be [low, high], got {value!r}")
    low, high = float(value[0]), float(value[1])
    if low > high:
        raise ValueError(f"augment.{key}: range [{low}, {high}] has low > high")
    return Range(low, high)


def _speaker_range(value: Any) -> tuple[int, int]:
    span = _range(value, "babble_speakers")
    if span.low < 1 or span.low != int(span.low) or span.high != int(span.high):
        raise ValueError(f"augment.babble_speakers must be whole numbers >= 1, got {value!r}")
    return int(span.low), int(span.high)


def _probability(value: Any, key: str) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"augment.{key} must lie in [0, 1], got {value!r}")
    return float(value)


def _noise_types(value: Any) -> tuple[str, ...]:
    types = tuple(value)
    unknown = [t for t in types if t not in NOISE_TYPES]
    if not types or unknown or len(set(types)) != len(types):
        raise ValueError(f"augment.noise_types must be distinct values among {', '.join(NOISE_TYPES)}, got {value!r}")
    return types


def parse_room(value: Mapping[str, Any]) -> RoomRanges:
    unknown = set(value) - set(ROOM_KEYS)
    missing = set(ROOM_KEYS) - set(value)
    if unknown or missing:
        raise ValueError(
            f"augment.room needs exactly {', '.join(ROOM_KEYS)}; unknown {sorted(unknown)}, missing {sorted(missing)}"
        )
    ranges = {key: _range(value[key], f"room.{key}") for key in ROOM_KEYS}
    if any(span.low <= 0 for span in ranges.values()):
        raise ValueError("augment.room ranges must be positive")
    return RoomRanges(**ranges)
