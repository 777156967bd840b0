"""The brouhaha-style model as pyannote.audio's own Model and Task (runs in the pyannote environment).

brouhaha (Lavechin et al., 2023) is a PyanNet whose frames each give three outputs: speech activity, SNR and
C50. Here: `BrouhahaNet` is pyannote's PyanNet with a three-wide head (sigmoid on speech, linear SNR and C50 in
tens of dB) and, by default, log band energies (`LogBands`) in place of its SincNet front end: 7x cheaper a step
on CPU, and SNR within 3 dB went from 37 % to 70 % of held-out mixtures (README); `BrouhahaTask` is pyannote's voice-activity task whose chunks also carry the mixture's SNR and C50 on
every frame, trained with binary cross-entropy on speech plus a smooth L1 on SNR (speech frames only: SNR is
a property of the speech) and on C50. `MixtureProtocol` hands pyannote the mixtures as a pyannote.database
protocol.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from pyannote.audio.core.task import Problem, Resolution, Specifications
from pyannote.audio.models.segmentation import PyanNet
from pyannote.audio.tasks import VoiceActivityDetection
from pyannote.audio.utils.params import merge_dict
from pyannote.audio.utils.receptive_field import (
    multi_conv_num_frames,
    multi_conv_receptive_field_center,
    multi_conv_receptive_field_size,
)
from pyannote.core import Annotation, Segment, SlidingWindowFeature, Timeline
from pyannote.database.protocol import SpeakerDiarizationProtocol
from torch import nn

OUTPUTS = ["speech", "snr", "c50"]
CHECKPOINT = "brouhaha.ckpt"  # in the model folder, beside metrics.json
DB_SCALE = 10.0  # the head predicts SNR and C50 in tens of dB: targets near unit scale
RATE = 16_000


class SpeechSigmoid(nn.Module):
    """Sigmoid on the speech output only; SNR and C50 stay linear."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[..., :1].sigmoid(), x[..., 1:]], dim=-1)


class LogBands(nn.Module):
    """A SincNet replacement: log band energies of 32 ms frames (16 ms hop), in dB minus the chunk's median (the
    level does not matter), 46 log-spaced bands through one convolution to SincNet's 60 features. The noise floor
    sits in plain sight in these features; SincNet has to learn its filters first."""

    N_FFT, HOP, FEATURES = 512, 256, 60

    def __init__(self, bands: int = 64) -> None:
        super().__init__()
        edges = np.unique(np.round(np.geomspace(1, self.N_FFT // 2 + 1, bands + 1)).astype(int))
        summing = torch.zeros(self.N_FFT // 2 + 1, len(edges) - 1)
        for band, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
            summing[low:high, band] = 1.0
        self.register_buffer("summing", summing, persistent=False)
        self.register_buffer("window", torch.hann_window(self.N_FFT), persistent=False)
        self.conv = nn.Conv1d(len(edges) - 1, self.FEATURES, 5, padding=2)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, 1, samples) -> (batch, 60, frames)"""
        power = torch.stft(waveforms[:, 0], self.N_FFT, self.HOP, window=self.window, center=False, return_complex=True).abs().pow(2)
        db = 10 * torch.log10(torch.einsum("bft,fk->bkt", power, self.summing) + 1e-10)
        db = (db - db.flatten(1).median(-1).values[:, None, None]) / 20
        return F.leaky_relu(self.conv(db))

    def _frames(self) -> dict[str, list[int]]:
        return {"kernel_size": [self.N_FFT], "stride": [self.HOP], "padding": [0], "dilation": [1]}

    def num_frames(self, num_samples: int) -> int:
        return multi_conv_num_frames(num_samples, **self._frames())

    def receptive_field_size(self, num_frames: int = 1) -> int:
        return multi_conv_receptive_field_size(num_frames, **self._frames())

    def receptive_field_center(self, frame: int = 0) -> int:
        return multi_conv_receptive_field_center(frame, **self._frames())


class BrouhahaNet(PyanNet):
    """PyanNet, its SincNet front end replaced by `LogBands` when `frontend` says so."""

    def __init__(self, frontend: str = "sincnet", sincnet: dict | None = None, lstm: dict | None = None, linear: dict | None = None,
                 sample_rate: int = RATE, num_channels: int = 1, task=None) -> None:  # fmt: skip
        # Lightning saves the arguments of every __init__ in the chain, this one's last: they must carry PyanNet's defaults
        sincnet, lstm = merge_dict(self.SINCNET_DEFAULTS, sincnet), merge_dict(self.LSTM_DEFAULTS, lstm)
        linear = merge_dict(self.LINEAR_DEFAULTS, linear)
        super().__init__(sincnet, lstm, linear, sample_rate, num_channels, task)
        self.save_hyperparameters("frontend")  # Model.from_pretrained rebuilds the same front end
        if frontend == "logbands":
            self.sincnet = LogBands()
        elif frontend != "sincnet":
            raise ValueError(f"unknown brouhaha front end {frontend!r} (sincnet or logbands)")

    def default_activation(self) -> nn.Module:
        return SpeechSigmoid()


class MixtureProtocol(SpeakerDiarizationProtocol):
    """Training mixtures as a pyannote protocol: each file's speech regions as one-speaker annotation."""

    name = "destaflow.mixtures"  # pyannote stamps its prepared-data cache with the protocol's name

    def __init__(self, files: list[dict[str, Any]]) -> None:
        super().__init__()
        self.files = files

    def train_iter(self):
        for file in self.files:
            annotation = Annotation(uri=file["uri"])
            for start, end in file["speech"]:
                annotation[Segment(start, end)] = "speech"
            yield {"uri": file["uri"], "audio": file["audio"], "database": "destaflow", "scope": "file",
                   # up to 50 ms (train.CHUNK_MARGIN_S) before the end: pyannote refuses a chunk ending on the last sample
                   "annotation": annotation, "annotated": Timeline([Segment(0.0, file["duration"] - 0.05)], uri=file["uri"])}  # fmt: skip


class BrouhahaTask(VoiceActivityDetection):
    """Voice activity plus the mixture's SNR and C50 on every frame of each chunk (`levels`: audio path -> dB)."""

    def __init__(self, protocol: MixtureProtocol, levels: dict[str, tuple[float, float]], **options) -> None:
        super().__init__(protocol, **options)
        self.levels = levels
        self.waveforms: dict[str, torch.Tensor] = {}
        self.specifications = Specifications(
            problem=Problem.MULTI_LABEL_CLASSIFICATION,  # speech is; the two regression outputs ride along
            resolution=Resolution.FRAME,
            duration=self.duration,
            min_duration=self.min_duration,
            warm_up=self.warm_up,
            classes=OUTPUTS,
        )

    def get_file(self, file_id: int) -> dict:
        """The waveform itself (read once, kept in memory): pyannote decodes paths with torchcodec, absent here."""
        path = str(self.prepared_data["audio-path"][file_id])
        if path not in self.waveforms:
            self.waveforms[path] = torch.from_numpy(sf.read(path, dtype="float32")[0])[None]
        return {"waveform": self.waveforms[path], "sample_rate": RATE}

    def prepare_chunk(self, file_id: int, start_time: float, duration: float) -> dict:
        sample = super().prepare_chunk(file_id, start_time, duration)
        snr, c50 = self.levels[str(self.prepared_data["audio-path"][file_id])]
        speech = sample["y"].data.astype(np.float32)
        levels = np.broadcast_to(np.array([snr, c50], dtype=np.float32) / DB_SCALE, (len(speech), 2))
        sample["y"] = SlidingWindowFeature(np.concatenate([speech, levels], axis=1), self.model.receptive_field, labels=OUTPUTS)
        return sample

    def training_step(self, batch: dict, batch_idx: int):
        prediction, target = self.model(batch["X"]), batch["y"].float()
        frames = min(prediction.shape[1], target.shape[1])
        prediction, target = prediction[:, :frames], target[:, :frames]
        losses = brouhaha_losses(prediction, target)
        for name, value in losses.items():
            self.model.log(f"loss/{name}", value, on_step=True, on_epoch=False, prog_bar=name == "total", logger=False)
        return {"loss": losses["total"]}

    def default_metric(self):
        return []  # no validation set: held-out mixtures are scored after training


def brouhaha_losses(prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    speech = target[..., 0] > 0.5
    losses = {
        "speech": F.binary_cross_entropy(prediction[..., 0].clamp(1e-6, 1 - 1e-6), target[..., 0]),
        "snr": F.smooth_l1_loss(prediction[..., 1][speech], target[..., 1][speech]) if speech.any() else prediction.sum() * 0.0,
        "c50": F.smooth_l1_loss(prediction[..., 2], target[..., 2]),
    }
    losses["total"] = losses["speech"] + losses["snr"] + losses["c50"]
    return losses


def clip_levels(frames: np.ndarray, speech_threshold: float = 0.5) -> dict[str, float | None]:
    """(frames, 3) aggregated outputs of one clip -> its speech share, SNR (mean over speech frames) and C50 (mean
    over speech frames, or over all frames when none is speech), in dB."""
    speech = frames[:, 0] > speech_threshold
    chosen = frames[speech] if speech.any() else frames
    return {
        "speech_share": float(speech.mean()) if len(frames) else 0.0,
        "snr_db": float(chosen[:, 1].mean() * DB_SCALE) if speech.any() else None,
        "c50_db": float(chosen[:, 2].mean() * DB_SCALE) if len(frames) else None,
    }
