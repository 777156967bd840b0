"""Whisper speech recognition: batched greedy English transcripts, long clips in windows.

Policy for clips longer than Whisper's 30 s window: cut into the fewest consecutive windows of equal length
(none over 30 s), transcribe each, join with spaces; nothing is dropped.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from destaflow.audio import TARGET_RATE, WHISPER_WINDOW_S
from destaflow.runtime import chunks, quiet_loading, torch_device

log = logging.getLogger(__name__)

WINDOW_SAMPLES = int(WHISPER_WINDOW_S * TARGET_RATE)


def split_windows(audio: np.ndarray, window: int = WINDOW_SAMPLES) -> list[np.ndarray]:
    """The fewest consecutive pieces of equal length, each at most `window` samples."""
    pieces = max(1, math.ceil(len(audio) / window))
    return np.array_split(audio, pieces)


def load_whisper(source: str):
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    device = torch_device()
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    log.info("loading Whisper %s on %s (%s)", source, device, dtype)
    with quiet_loading():
        processor = WhisperProcessor.from_pretrained(source)
        model = WhisperForConditionalGeneration.from_pretrained(source, use_safetensors=True, dtype=dtype)
    return processor, model.to(device).eval()


def transcribe(audios: list[np.ndarray], processor, model, batch_size: int) -> list[str]:
    """Greedy English transcripts, long clips windowed and joined."""
    windows = [split_windows(audio) for audio in audios]
    flat = [w for pieces in windows for w in pieces]
    texts: list[str] = []
    for batch in chunks(flat, batch_size):
        texts += transcribe_windows(batch, processor, model)
    joined, start = [], 0
    for pieces in windows:
        joined.append(" ".join(t for t in texts[start : start + len(pieces)] if t))
        start += len(pieces)
    return joined


def transcribe_windows(windows: list[np.ndarray], processor, model) -> list[str]:
    """Transcribe up to 30 s windows in one batch."""
    import torch

    inputs = processor(windows, sampling_rate=TARGET_RATE, return_tensors="pt", return_attention_mask=True)
    features = inputs.input_features.to(model.device, model.dtype)
    mask = inputs.attention_mask.to(model.device)
    language = {"language": "en", "task": "transcribe"} if model.generation_config.is_multilingual else {}
    with torch.inference_mode():
        ids = model.generate(features, attention_mask=mask, do_sample=False, num_beams=1, return_timestamps=False, **language)
    return [text.strip() for text in processor.batch_decode(ids, skip_special_tokens=True)]
