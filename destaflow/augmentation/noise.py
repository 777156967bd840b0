"""Noise signals (white, pink, babble, MUSAN-style files) and mixing them with speech at an exact SNR."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from destaflow.audio import AudioError, load_audio

PEAK_CEILING = 0.99  # below 16-bit full scale with room for rounding, so writing PCM never clips


@dataclass(frozen=True)
class NoisePlan:
    kind: str
    snr_db: float
    seed: int  # drives the generated noise and where looped noise starts
    noise_file: str | None = None
    babble: tuple[tuple[str, str], ...] = ()  # (clip id, audio path) of each other talker


def list_musan_noise_files(noise_dir: str | Path) -> list[str]:
    """MUSAN keeps noises as noise/<origin>/*.wav (origins: free-sound, sound-bible)."""
    files = sorted(str(path) for path in Path(noise_dir).glob("noise/*/*.wav"))
    if not files:
        raise ValueError(f"augment.noise_dir {noise_dir} holds no noise/<origin>/*.wav files (MUSAN layout)")
    return files


def make_noise(plan: NoisePlan, length: int) -> np.ndarray:
    """The plan's noise, `length` samples long, at an arbitrary level (scale it with `scale_to_snr`)."""
    rng = np.random.default_rng(plan.seed)
    if plan.kind == "white":
        return rng.standard_normal(length)
    if plan.kind == "pink":
        return pink_noise(rng, length)
    if plan.kind == "file":
        return looped_segment(_load(plan.noise_file, "noise file"), length, rng)
    if plan.kind == "babble":
        return babble(plan.babble, length, rng)
    raise ValueError(f"unknown noise type {plan.kind!r}")


def pink_noise(rng: np.random.Generator, length: int) -> np.ndarray:
    """White noise shaped to a 1/f power spectrum (amplitude 1/sqrt(f)), without a DC component."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.fft.rfftfreq(length)
    shaping = np.zeros_like(frequencies)
    shaping[1:] = 1.0 / np.sqrt(frequencies[1:])
    return np.fft.irfft(spectrum * shaping, n=length)


def babble(talkers: tuple[tuple[str, str], ...], length: int, rng: np.random.Generator) -> np.ndarray:
    """Other talkers at equal level, each looped from a random start; unreadable ones are left out."""
    total = np.zeros(length)
    readable = 0
    for _, path in talkers:
        start = rng.random()  # drawn even for unreadable talkers, so the others' starts do not shift
        try:
            speech = load_audio(path).samples.astype(np.float64)
        except AudioError:
            continue
        total += looped_segment(speech / _rms(speech), length, start)
        readable += 1
    if not readable:
        raise AudioError(f"babble: none of the {len(talkers)} drawn talkers is readable")
    return total


def looped_segment(samples: np.ndarray, length: int, start: float | np.random.Generator) -> np.ndarray:
    """`length` samples read circularly from `samples`, starting at a fraction `start` of its length."""
    fraction = start.random() if isinstance(start, np.random.Generator) else start
    offset = int(fraction * len(samples))
    return np.take(samples, (offset + np.arange(length)) % len(samples))


def scale_to_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """`noise` scaled so that 10·log10(speech power / noise power) is exactly `snr_db` over the clip."""
    noise_power = float(np.mean(np.square(noise)))
    if noise_power == 0.0:
        raise AudioError("the noise segment is silent")
    return noise * math.sqrt(float(np.mean(np.square(speech))) / (noise_power * 10 ** (snr_db / 10)))


def snr_db(speech: np.ndarray, noise: np.ndarray) -> float:
    return 10 * math.log10(float(np.sum(np.square(speech))) / float(np.sum(np.square(noise))))


def headroom_gain(mix: np.ndarray, ceiling: float = PEAK_CEILING) -> float:
    """Gain (<= 1) that brings the mix's peak down to `ceiling`; the whole mix is scaled, never clipped."""
    peak = float(np.max(np.abs(mix)))
    return min(1.0, ceiling / peak) if peak > 0 else 1.0


def _load(path: str | None, what: str) -> np.ndarray:
    try:
        return load_audio(path).samples.astype(np.float64)
    except AudioError as error:
        raise AudioError(f"{what} {path}: {error}") from None


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples))))
