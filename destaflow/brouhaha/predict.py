"""The brouhaha-style model at inference (pyannote environment): per-frame outputs, and a clip's SNR and C50."""

from __future__ import annotations

import numpy as np
import torch

from destaflow.brouhaha.model import clip_levels

RATE = 16_000


class Predictor:
    """pyannote's sliding-window Inference over a clip: (frames, [speech, snr, c50]) averaged where windows overlap."""

    def __init__(self, model, batch_size: int = 32) -> None:
        from pyannote.audio import Inference

        self.inference = Inference(model, batch_size=batch_size)

    @classmethod
    def from_checkpoint(cls, path: str, batch_size: int = 32) -> Predictor:
        from pyannote.audio import Model

        model = Model.from_pretrained(path)
        if model is None:
            raise RuntimeError(f"pyannote.audio could not load the brouhaha checkpoint {path}")
        return cls(model, batch_size)

    def __call__(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(frame centre times in seconds, (frames, 3) outputs) of a 16 kHz mono clip, cut to the clip."""
        scores = self.inference({"waveform": torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None], "sample_rate": RATE})
        times = np.array([scores.sliding_window[i].middle for i in range(len(scores.data))])
        inside = times < len(samples) / RATE
        return times[inside], scores.data[inside]

    def levels(self, samples: np.ndarray) -> dict[str, float | None]:
        return clip_levels(self(samples)[1])
