"""The attribute stage's settings (the `attributes` section): see destaflow.settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from destaflow.settings import Settings


@dataclass(frozen=True)
class SnrEstimatorSettings(Settings):
    """Training of the learned SNR estimator (destaflow.attributes.snr_model)."""

    SECTIONS = ("attributes.snr_estimator",)

    steps: int
    batch_size: int
    clips: int
    sources: list[str] | None
    clean_share: float
    lr: float
    seed: int
    snr_db: list[float]  # [low, high] of the training mixtures


@dataclass(frozen=True)
class AttributeSettings(Settings):
    """Which extractors run, how clips are batched and chunked, and how measurements are binned into words."""

    SECTIONS = ("attributes",)

    extractors: list[str]
    per_corpus: dict[str, list[str]]
    batch_size: int
    asr_window_step_s: float | None
    clips_per_chunk: int | None
    # The voice-activity pass and the brouhaha-style model run in the pyannote environment, which gets them as
    # JSON (destaflow.vad, destaflow.brouhaha) and reads them there.
    vad: dict[str, Any]
    brouhaha: dict[str, Any]
    snr_estimator: SnrEstimatorSettings
    bins: dict[str, Any]
