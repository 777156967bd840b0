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
        waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None]
        if len(samples) <= self.inference.duration * RATE:  # one pass over the whole clip: pyannote would pad it with silence
            with torch.inference_mode():
                data = self.inference.model(waveform[None])[0].numpy()
            frames = self.inference.model.receptive_field
        else:
            scores = self.inference({"waveform": waveform, "sample_rate": RATE})
            data, frames = scores.data, scores.sliding_window
        times = np.array([frames[i].middle for i in range(len(data))])
        inside = times < len(samples) / RATE
        return times[inside], data[inside]

    def levels(self, samples: np.ndarray) -> dict[str, float | None]:
        return clip_levels(self(samples)[1])
