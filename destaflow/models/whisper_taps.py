"""Tap a frozen Whisper encoder: the outputs of chosen encoder layers, for the connector.

Convention (DeSTA2's training code, used here for training and inference alike): tap i is the *output of
0-indexed encoder layer i*, before Whisper's final encoder LayerNorm. HF's `hidden_states[i]` is one layer
earlier (its index 0 is the embeddings), which is what the released inference code indexed by mistake.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from transformers import WhisperFeatureExtractor

from destaflow.audio import TARGET_RATE

FRAME_RATE = 50  # encoder frames per second: 100 log-mel frames/s, halved by the stride-2 conv
MAX_FRAMES = 1500  # Whisper's 30 s window


def frames_for_duration(seconds: float) -> int:
    """Encoder frames that cover `seconds` of audio (at least 1, at most the 30 s window)."""
    return max(1, min(MAX_FRAMES, math.ceil(round(seconds * FRAME_RATE, 6))))


@torch.no_grad()
def tap_encoder(model: nn.Module, input_features: Tensor, tap_layers: Sequence[int]) -> Tensor:
    """Run the encoder of a Whisper model on 30 s log-mels (B, mels, 3000); return (B, L, 1500, d)."""
    return run_encoder(model, input_features, tap_layers)[0]


@torch.no_grad()
def run_encoder(model: nn.Module, input_features: Tensor, tap_layers: Sequence[int]) -> tuple[Tensor, Tensor]:
    """The taps (B, L, 1500, d) and the encoder's output (B, 1500, d), which Whisper's decoder reads."""
    encoder = model.get_encoder()
    outputs: dict[int, Tensor] = {}

    def keep(index: int):
        def hook(_module: nn.Module, _inputs: tuple, output: Tensor | tuple) -> None:
            outputs[index] = output[0] if isinstance(output, tuple) else output

        return hook

    handles = [encoder.layers[i].register_forward_hook(keep(i)) for i in sorted(set(tap_layers))]
    try:
        encoded = encoder(input_features.to(encoder.conv1.weight)).last_hidden_state  # the encoder's device and dtype
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack([outputs[i] for i in tap_layers], dim=1), encoded


def frame_mask(frames: Sequence[int], length: int | None = None, device: torch.device | None = None) -> Tensor:
    """Bool (B, length): True on each clip's first frames[b] frames; length defaults to the longest clip."""
    length = length or max(frames)
    return torch.arange(length, device=device)[None, :] < torch.tensor(list(frames), device=device)[:, None]


def trim_to_frames(tapped: Tensor, frames: Sequence[int]) -> tuple[Tensor, Tensor]:
    """Cut (B, L, 1500, d) to the longest clip's frames; the mask hides the rest of the shorter clips."""
    length = max(frames)
    return tapped[:, :, :length], frame_mask(frames, length, tapped.device)


def tap_layers_for(whisper_dir: str, configured: list[int] | None) -> list[int]:
    """The configured taps, or the paper's choice for this encoder's depth (read from its config.json)."""
    from destaflow.models.connector import default_tap_layers  # connector imports this module

    layers = json.loads((Path(whisper_dir) / "config.json").read_text())["encoder_layers"]
    taps = configured or default_tap_layers(layers)
    if max(taps) >= layers:
        raise ValueError(f"tap layers {taps} need more than the {layers} encoder layers of {whisper_dir}")
    return taps


def log_mels(feature_extractor: WhisperFeatureExtractor, audios: Sequence[np.ndarray]) -> Tensor:
    """(B, mels, 3000): Whisper log-mel features, each clip padded (or cut) to the 30 s window; the one front end
    of training, the encoder cache and inference."""
    return feature_extractor(list(audios), sampling_rate=TARGET_RATE, padding="max_length", return_tensors="pt").input_features
