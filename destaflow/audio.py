"""Load any audio file as 16 kHz mono float32, or fail with a short reason fit for a quarantine table.

Decoding goes through libsndfile (wav, flac, ogg/vorbis/opus, mp3 with libsndfile >= 1.1); resampling
through soxr. Policy for clips longer than Whisper's 30 s window: `load_audio` returns the whole clip and
callers decide; `trim_to` cuts at a limit and says how much it cut, so nothing is truncated silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

TARGET_RATE = 16_000
WHISPER_WINDOW_S = 30.0


class AudioError(ValueError):
    """A clip that cannot be used; str() is the quarantine reason."""


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # float32, mono, TARGET_RATE
    source_rate: int
    source_channels: int

    @property
    def duration(self) -> float:
        return len(self.samples) / TARGET_RATE


def load_audio(path: str | Path, target_rate: int = TARGET_RATE) -> Audio:
    path = Path(path)
    if not path.exists():
        raise AudioError("missing file")
    return decode_audio(str(path), target_rate)


def decode_audio(source: str | BinaryIO, target_rate: int = TARGET_RATE) -> Audio:
    """Decode a file path or an open binary stream (e.g. a dataset row's audio bytes in a BytesIO)."""
    try:
        data, rate = sf.read(source, dtype="float32", always_2d=True)
    except Exception as error:  # libsndfile reports corrupt headers, unknown containers, ... as various types
        raise AudioError(f"undecodable: {str(error).splitlines()[0][:200]}") from None
    if data.shape[0] == 0:
        raise AudioError("no samples")
    if not np.all(np.isfinite(data)):
        raise AudioError("non-finite samples (NaN or inf)")
    channels = data.shape[1]
    mono = data.mean(axis=1) if channels > 1 else data[:, 0]
    if rate != target_rate:
        mono = soxr.resample(mono, rate, target_rate).astype(np.float32)
    if not np.any(mono):
        raise AudioError("digital silence")
    return Audio(np.ascontiguousarray(mono, dtype=np.float32), rate, channels)


def trim_to(samples: np.ndarray, seconds: float, rate: int = TARGET_RATE) -> tuple[np.ndarray, float]:
    """Cut `samples` to at most `seconds`; return the kept part and the seconds cut off."""
    limit = int(seconds * rate)
    return samples[:limit], max(0.0, (len(samples) - limit) / rate)
