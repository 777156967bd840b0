"""Signal-processing measurements: level, pitch, speaking rate. No model weights."""

from __future__ import annotations

import functools
import re
import subprocess
from typing import Any

import numpy as np

from destaflow.attributes.base import Extractor

RATE = 16_000
FRAME = 320  # 20 ms at 16 kHz
ACTIVE_BELOW_PEAK_DB = 35.0


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level over the whole clip in dB relative to full scale."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * np.log10(max(rms, 1e-10))


def frame_rms(samples: np.ndarray) -> np.ndarray:
    """RMS of each whole 20 ms frame."""
    frames = len(samples) // FRAME
    return np.sqrt(np.mean(np.square(samples[: frames * FRAME].reshape(frames, FRAME), dtype=np.float64), axis=1))


def active_span(samples: np.ndarray) -> tuple[float, float]:
    """(start, end) seconds of the first and last 20 ms frame within 35 dB of the loudest frame: the clip with
    leading and trailing silence cut (an energy rule, blind to pauses and fooled by noise)."""
    energy = frame_rms(samples)
    if len(energy) == 0:
        return 0.0, len(samples) / RATE
    active = np.flatnonzero(energy > energy.max() * 10 ** (-ACTIVE_BELOW_PEAK_DB / 20))
    if len(active) == 0:  # digital silence
        return 0.0, 0.0
    return active[0] * FRAME / RATE, (active[-1] + 1) * FRAME / RATE


def energy_regions(samples: np.ndarray, below_peak_db: float = 40.0, min_gap_s: float = 0.2) -> list[tuple[float, float]]:
    """Speech regions of a clean clip: runs of 20 ms frames within `below_peak_db` of the loudest, gaps shorter
    than `min_gap_s` bridged. Truth for training a voice-activity head on clean speech, not a detector."""
    energy = frame_rms(samples)
    if len(energy) == 0 or energy.max() == 0:
        return []
    active = energy > energy.max() * 10 ** (-below_peak_db / 20)
    regions: list[list[float]] = []
    for index in np.flatnonzero(active):
        start, end = index * FRAME / RATE, (index + 1) * FRAME / RATE
        if regions and start - regions[-1][1] < min_gap_s:
            regions[-1][1] = end
        else:
            regions.append([start, end])
    return [(start, end) for start, end in regions]


def active_span_seconds(samples: np.ndarray) -> float:
    start, end = active_span(samples)
    return end - start


def pitch_stats(samples: np.ndarray) -> tuple[float | None, float | None]:
    """Mean and standard deviation of F0 over voiced frames (Praat's autocorrelation tracker)."""
    import parselmouth

    pitch = parselmouth.Sound(samples.astype(np.float64), sampling_frequency=RATE).to_pitch(time_step=0.01, pitch_floor=60.0, pitch_ceiling=500.0)
    f0 = pitch.selected_array["frequency"]
    voiced = f0[f0 > 0]
    if voiced.size < 3:
        return None, None
    return float(np.mean(voiced)), float(np.std(voiced))


_PHONEME_SYMBOLS = re.compile(r"[ˈˌːˑ\s\-_']")


@functools.lru_cache(maxsize=100_000)
def phoneme_count(text: str, voice: str = "en-us") -> int:
    """Phonemes in `text` from espeak-ng's IPA transcription (stress and length marks not counted)."""
    ipa = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice, text], capture_output=True, text=True, check=True).stdout
    return len(_PHONEME_SYMBOLS.sub("", ipa))


def volume_extractor() -> Extractor:
    def run(rows, audios):
        return [{"volume_db": round(rms_dbfs(a), 2)} for a in audios]

    return Extractor("dsp:rms-dbfs", ("volume_db",), run)


def pitch_extractor() -> Extractor:
    def run(rows, audios):
        out = []
        for audio in audios:
            mean, std = pitch_stats(audio)
            out.append({"pitch_hz": mean, "pitch_std_hz": std})
        return out

    return Extractor("dsp:praat-f0", ("pitch_hz", "pitch_std_hz"), run)


def speech_rate_extractor() -> Extractor:
    """Phonemes per second of speech; needs `text` (a corpus label or an earlier ASR extractor). Seconds of
    speech are the voice-activity extractor's `speech_duration` when it ran before, else the active span."""

    def run(rows: list[dict[str, Any]], audios):
        out = []
        for row, audio in zip(rows, audios):
            text = row.get("text")
            span = row["speech_duration"] if row.get("speech_duration") is not None else active_span_seconds(audio)
            rate = phoneme_count(text) / span if text and span > 0 else None
            out.append({"speech_rate": None if rate is None else round(rate, 2)})
        return out

    return Extractor("dsp:espeak-phonemes-per-second", ("speech_rate",), run)


NOISE_FLOOR_FRACTION = 0.10


def frame_energy_snr(samples: np.ndarray) -> float | None:
    """Blind SNR estimate in dB: noise power = mean power of the quietest 10 % of 20 ms frames; speech power =
    mean excess over it. Fair for stationary noise; biased by babble and reverberant tails (see bench/)."""
    frames = len(samples) // FRAME
    if frames < 10:
        return None
    power = np.mean(np.square(samples[: frames * FRAME].reshape(frames, FRAME), dtype=np.float64), axis=1)
    quietest = np.sort(power)[: max(1, int(frames * NOISE_FLOOR_FRACTION))]
    noise = float(np.mean(quietest))
    speech = float(np.mean(np.maximum(power - noise, 0.0)))
    if speech <= 0.0:
        return None
    return round(10.0 * np.log10(speech / max(noise, 1e-12)), 2)


def snr_extractor() -> Extractor:
    def run(rows, audios):
        return [{"snr_db": frame_energy_snr(a)} for a in audios]

    return Extractor("dsp:frame-energy-snr", ("snr_db",), run)
