"""Training mixtures for the learned estimators: clean training clips with the augmentation stage's noise and rooms.

Each mixture draws one clean clip, reverberates it with the augmentation's probability (simulated shoebox rooms
or RIR files), and adds one of its noise kinds (white, pink, babble of other speakers, MUSAN files) at an SNR
drawn from a range; a share of mixtures stays clean. Its true SNR and C50 are known by construction.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from destaflow.audio import AudioError, load_audio
from destaflow.augmentation.noise import list_musan_noise_files, looped_segment, pink_noise
from destaflow.augmentation.reverb import align_to_direct_path, apply_reverb, clarity_db, draw_room, list_rir_files, simulate_room
from destaflow.augmentation.settings import AugmentSettings

log = logging.getLogger(__name__)

MIN_TALKERS_FOR_BABBLE = 2


@dataclass(frozen=True)
class Mixture:
    samples: np.ndarray  # float32, peak at most 0.99
    snr_db: float  # max_snr_db when no noise was added
    c50_db: float | None  # the room's C50; None when not reverberated (or the RIR has no energy after 50 ms)
    clip: int  # index of the clean clip it was made from (same timeline: reverberation keeps it)
    reverberant: bool = False


class MixtureMaker:
    """Random mixtures of clean training clips with the augmentation stage's noise and reverberation kinds."""

    def __init__(
        self,
        clips: list[np.ndarray],
        speakers: list[str],
        augment: AugmentSettings,
        rng: np.random.Generator,
        noise_files: list[np.ndarray] | None = None,
        rooms: int = 60,
        clean_share: float = 0.0,
        max_snr_db: float = 50.0,
    ):
        self.clips, self.speakers, self.augment, self.rng = clips, speakers, augment, rng
        self.clean_share, self.max_snr_db = clean_share, max_snr_db
        kinds = list(augment.noise_types)
        if len(set(speakers)) < MIN_TALKERS_FOR_BABBLE and "babble" in kinds:
            kinds.remove("babble")
        if not kinds:
            raise ValueError("training mixtures need a noise type other than babble when the clips have one speaker")
        self.kinds = kinds
        self.noise_files = (noise_files if noise_files is not None else load_noise_files(augment)) if "file" in kinds else []
        self.rirs = self._rirs(rooms) if augment.reverb_probability > 0 else []
        self.clarity = [clarity_db(rir) for rir in self.rirs]

    def _rirs(self, count: int) -> list[np.ndarray]:
        if self.augment.rir_dir:
            files = list_rir_files(self.augment.rir_dir)
            chosen = sorted(self.rng.choice(len(files), min(count, len(files)), replace=False))
            return [align_to_direct_path(load_audio(files[i]).samples.astype(np.float64)) for i in chosen]
        return [align_to_direct_path(simulate_room(draw_room(self.rng, self.augment.room))) for _ in range(count)]

    def noise(self, kind: str, length: int, target: int) -> np.ndarray:
        if kind == "white":
            return self.rng.standard_normal(length)
        if kind == "pink":
            return pink_noise(self.rng, length)
        if kind == "file":
            return looped_segment(self.noise_files[self.rng.integers(len(self.noise_files))], length, self.rng)
        others = [i for i, s in enumerate(self.speakers) if s != self.speakers[target]]
        low, high = self.augment.babble_speakers
        total = np.zeros(length)
        for i in self.rng.choice(others, min(int(self.rng.integers(low, high + 1)), len(others)), replace=False):
            total += looped_segment(self.clips[i] / (rms(self.clips[i]) or 1.0), length, self.rng)
        return total

    def make(self, snr_range: tuple[float, float]) -> Mixture:
        target = int(self.rng.integers(len(self.clips)))
        speech = self.clips[target].astype(np.float64)
        c50, reverberant = None, False
        if self.rirs and self.rng.random() < self.augment.reverb_probability:
            room = int(self.rng.integers(len(self.rirs)))
            speech, c50, reverberant = apply_reverb(speech, self.rirs[room]), self.clarity[room], True
        if self.rng.random() < self.clean_share:
            return Mixture((speech / max(1.0, np.max(np.abs(speech)) / 0.99)).astype(np.float32), self.max_snr_db, c50, target, reverberant)
        snr = float(self.rng.uniform(*snr_range))
        noise = self.noise(self.kinds[self.rng.integers(len(self.kinds))], len(speech), target)
        noise *= math.sqrt(np.mean(speech**2) / (max(np.mean(noise**2), 1e-20) * 10 ** (snr / 10)))
        mix = speech + noise
        return Mixture((mix / max(1.0, np.max(np.abs(mix)) / 0.99)).astype(np.float32), snr, c50, target, reverberant)

    def __call__(self, snr_range: tuple[float, float]) -> tuple[np.ndarray, float]:
        mixture = self.make(snr_range)
        return mixture.samples, mixture.snr_db


def load_noise_files(augment: AugmentSettings) -> list[np.ndarray]:
    return [load_audio(p).samples for p in list_musan_noise_files(augment.noise_dir)] if "file" in augment.noise_types else []


def load_clean_clips(rows: list[dict[str, Any]]) -> tuple[list[np.ndarray], list[str]]:
    """float32 clips (half the memory of float64: 2,000 clips of 8 s hold ~1 GB) and their speakers."""
    clips, speakers = [], []
    for row in rows:
        try:
            samples = load_audio(row["audio_path"]).samples.astype(np.float32)
        except AudioError as error:
            log.warning("training mixtures: leaving out %s: %s", row["id"], error)
            continue
        if rms(samples) > 0:
            clips.append(samples)
            speakers.append(str(row.get("speaker")))
    return clips, speakers


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples))))
