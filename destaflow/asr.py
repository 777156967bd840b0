"""Whisper speech recognition: batched greedy English transcripts, long clips in windows.

Policy for clips longer than Whisper's 30 s window: cut into the fewest consecutive windows of equal length
(none over 30 s), transcribe each, join with spaces; nothing is dropped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import zlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from destaflow.audio import TARGET_RATE, WHISPER_WINDOW_S
from destaflow.runtime import chunks, quiet_loading, torch_device

log = logging.getLogger(__name__)

WINDOW_SAMPLES = int(WHISPER_WINDOW_S * TARGET_RATE)
HOP_SAMPLES = 160  # Whisper's log-mel hop: 100 frames a second
FRAMES_PER_SECOND = TARGET_RATE // HOP_SAMPLES
TOKENS_PER_SECOND = 8
LOOP_COMPRESSION_RATIO = 2.4


def split_windows(audio: np.ndarray, window: int = WINDOW_SAMPLES) -> list[np.ndarray]:
    """The fewest consecutive pieces of equal length, each at most `window` samples."""
    pieces = max(1, math.ceil(len(audio) / window))
    return np.array_split(audio, pieces)


def transcript_dtype(device=None):
    """The precision of the transcripts made outside the speech LM (the attribute stage's, the ASR cascade's): fp16
    on CUDA, fp32 on CPU. The speech LM's own Whisper (the corpus pass, its answers) runs in `train.backbone_dtype`."""
    import torch

    return torch.float16 if (device or torch_device()).type == "cuda" else torch.float32


def load_whisper(source: str, dtype=None):
    """Processor and model; `dtype`: a torch dtype, default transcript_dtype."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    device = torch_device()
    dtype = dtype or transcript_dtype(device)
    log.info("loading Whisper %s on %s (%s)", source, device, dtype)
    with quiet_loading():
        processor = WhisperProcessor.from_pretrained(source)
        model = WhisperForConditionalGeneration.from_pretrained(source, use_safetensors=True, dtype=dtype)
    return processor, model.to(device).eval()


def transcribe(audios: list[np.ndarray], processor, model, batch_size: int, fit_step_s: float | None = None) -> list[str]:
    """Greedy English transcripts, long clips windowed and joined; with `fit_step_s`, clips are batched by length
    and each batch's encoder runs on a fitted window (`transcribe_fitted`) instead of 30 s."""
    if fit_step_s is None:
        return transcribe_windowed(audios, lambda batch: transcribe_windows(batch, processor, model), batch_size)
    order = sorted(range(len(audios)), key=lambda n: len(audios[n]))
    texts = transcribe_windowed([audios[n] for n in order], lambda batch: transcribe_fitted(batch, processor, model, fit_step_s), batch_size)
    return [text for _, text in sorted(zip(order, texts))]


def transcribe_windowed(audios: Sequence[np.ndarray], transcribe_batch: Callable[[list[np.ndarray]], list[str]], batch_size: int) -> list[str]:
    """One transcript per clip: its 30 s windows transcribed `batch_size` at a time and joined with spaces."""
    windows = [split_windows(audio) for audio in audios]
    flat = [w for pieces in windows for w in pieces]
    texts: list[str] = []
    for batch in chunks(flat, batch_size):
        texts += transcribe_batch(batch)
    joined, start = [], 0
    for pieces in windows:
        joined.append(" ".join(t for t in texts[start : start + len(pieces)] if t))
        start += len(pieces)
    return joined


def reuse_encoder_pass(audios: list[np.ndarray], decode_encoded: Callable[[list[int]], list[str]], transcribe_whole: Callable[[list[np.ndarray]], list[str]]) -> list[str]:
    """Transcripts of clips whose first 30 s were just encoded: a clip that fits one window is decoded from
    that encoder output (`decode_encoded(positions)`), a longer one is transcribed window by window."""
    texts = [""] * len(audios)
    short = [n for n, audio in enumerate(audios) if len(audio) <= WINDOW_SAMPLES]
    longer = [n for n, audio in enumerate(audios) if len(audio) > WINDOW_SAMPLES]
    for n, text in zip(short, decode_encoded(short) if short else []):
        texts[n] = text
    for n, text in zip(longer, transcribe_whole([audios[n] for n in longer]) if longer else []):
        texts[n] = text
    return texts


def transcribe_windows(windows: list[np.ndarray], processor, model) -> list[str]:
    """Transcribe up to 30 s windows in one batch."""
    inputs = processor(windows, sampling_rate=TARGET_RATE, return_tensors="pt", return_attention_mask=True)
    return greedy_transcripts(model, processor.tokenizer, input_features=inputs.input_features, attention_mask=inputs.attention_mask)


def fitted_frames(samples: int, step_s: float) -> int:
    """Log-mel frames of the shortest window, a whole number of `step_s` seconds and at most 30 s, that holds
    `samples` (an even number: Whisper's second convolution halves the frames)."""
    steps = max(1, math.ceil(samples / (step_s * TARGET_RATE)))
    seconds = min(WHISPER_WINDOW_S, steps * step_s)
    return 2 * round(seconds * TARGET_RATE / HOP_SAMPLES / 2)


def transcribe_fitted(windows: list[np.ndarray], processor, model, step_s: float) -> list[str]:
    """Transcribe up to 30 s windows with the encoder run on the fitted window of the longest one.

    Whisper was trained on 30 s windows and Hugging Face's encoder refuses others; run on the first frames
    with the first position embeddings, it costs what the speech costs rather than 30 s, and its transcripts
    differ from the 30 s ones in wording but not in error rate on the demo's voices (README, bench/run_all.py).
    On a short window it now and then repeats one sentence until it runs out of tokens: a transcript that
    reaches the window's token budget or compresses like a loop is made again on the 30 s window.
    """
    import torch

    frames = fitted_frames(max(len(window) for window in windows), step_s)
    features = processor(windows, sampling_rate=TARGET_RATE, return_tensors="pt").input_features[..., :frames]
    with encoder_window(model.model.encoder, frames // 2), torch.inference_mode():
        encoded = model.model.encoder(features.to(model.device, model.dtype)).last_hidden_state
    budget = token_budget(frames / FRAMES_PER_SECOND)
    texts = greedy_transcripts(model, processor.tokenizer, encoder_output=encoded, max_new_tokens=budget)
    looping = [n for n, text in enumerate(texts) if runs_away(text, processor.tokenizer, budget)]
    if looping:
        log.info("%d of %d fitted-window transcripts looped; made again on 30 s windows", len(looping), len(texts))
        for n, text in zip(looping, transcribe_windows([windows[n] for n in looping], processor, model)):
            texts[n] = text
    return texts


def token_budget(seconds: float) -> int:
    """New tokens a transcript of `seconds` of speech may take: far above fast speech (about 5 a second)."""
    return int(16 + TOKENS_PER_SECOND * seconds)


def runs_away(text: str, tokenizer, budget: int) -> bool:
    """A transcript that used (nearly) its whole budget or compresses like repeated text (Whisper's own test:
    a gzip compression ratio over 2.4)."""
    encoded = text.encode()
    return len(tokenizer(text, add_special_tokens=False)["input_ids"]) >= budget - 2 or (
        len(encoded) > 0 and len(encoded) / len(zlib.compress(encoded)) > LOOP_COMPRESSION_RATIO)


@contextlib.contextmanager
def encoder_window(encoder, positions: int) -> Iterator[None]:
    """The Whisper encoder made to take `positions` output frames: its first position embeddings only."""
    from torch import nn

    full, configured = encoder.embed_positions, encoder.config.max_source_positions
    if positions == configured:
        yield
        return
    short = nn.Embedding(positions, full.embedding_dim, device=full.weight.device, dtype=full.weight.dtype)
    short.weight = nn.Parameter(full.weight[:positions], requires_grad=False)
    encoder.embed_positions, encoder.config.max_source_positions = short, positions
    try:
        yield
    finally:
        encoder.embed_positions, encoder.config.max_source_positions = full, configured


def greedy_transcripts(model, tokenizer, input_features=None, attention_mask=None, encoder_output=None,
                       max_new_tokens: int | None = None) -> list[str]:
    """Greedy English transcripts, no timestamps, from 30 s log-mels or from the encoder's output on them
    (the same transcripts without running the encoder again)."""
    import torch
    from transformers.modeling_outputs import BaseModelOutput

    options = {"do_sample": False, "num_beams": 1, "return_timestamps": False}
    if max_new_tokens is not None:
        options["max_new_tokens"] = max_new_tokens
    if getattr(model.generation_config, "is_multilingual", False):  # *.en models refuse a language
        options |= {"language": "en", "task": "transcribe"}
    if encoder_output is not None:
        options["encoder_outputs"] = BaseModelOutput(last_hidden_state=encoder_output.to(model.device, model.dtype))
    else:
        options["input_features"] = input_features.to(model.device, model.dtype)
        if attention_mask is not None:
            options["attention_mask"] = attention_mask.to(model.device)
    with torch.inference_mode(), quiet_generation_warnings():
        ids = model.generate(**options)
    return [text.strip() for text in tokenizer.batch_decode(ids, skip_special_tokens=True)]


@contextlib.contextmanager
def quiet_generation_warnings() -> Iterator[None]:
    """No transformers warnings about the generation config's max_length beside max_new_tokens (the latter wins,
    which is what is wanted) or about Whisper's suppress-token options (its own generation config sets them)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
