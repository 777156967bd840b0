"""Training examples and their batches.

An example is one row of the training-set parquet. A batch has two halves that are built separately, because
the loop counts every micro-batch's labelled tokens before it runs any of them:

    text  = SpeechLM.build_inputs(transcription, user=input, target, max_tokens)   token ids, labels, slots
    taps  = (B, L, T, d) tapped encoder states + (B, T) frame mask (None when all 1500 frames are attended)

Taps come from the encoder cache, or (reference mode, no cache) from the audio: log-mel padded to 30 s and the
frozen encoder run on every batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import torch
from torch import Tensor
from transformers import WhisperFeatureExtractor

from destaflow import tables
from destaflow.audio import AudioError, load_audio
from destaflow.models.speech_lm import IGNORE, SpeechLM
from destaflow.models.whisper_taps import MAX_FRAMES, frame_mask, frames_for_duration, log_mels
from destaflow.training.cache import EncoderCache

OPTIONAL_COLUMNS = ["seed"]  # the caption set's seed transcripts: the likelihood probe's labels


def read_examples(parquet: str) -> list[dict]:
    present = pl.read_parquet_schema(parquet)
    return tables.read(parquet, "examples", columns=list(tables.EXAMPLES) + [c for c in OPTIONAL_COLUMNS if c in present]).to_dicts()


@dataclass
class Batch:
    inputs: dict  # SpeechLM.build_inputs output (input_ids, attention_mask, audio_slots, labels, ...)
    tokens: int  # labelled tokens (target + end-of-turn), the loss's denominator
    num_truncated: int  # targets the token cap cut
    tapped: Tensor | None = None  # (B, L, T, d)
    frame_mask: Tensor | None = None  # (B, T) True on real frames; None = attend to everything


def labelled_tokens(inputs: dict) -> int:
    """Tokens that carry loss, counted the way SpeechLM.forward counts them (labels shifted by one)."""
    return int((inputs["labels"][:, 1:] != IGNORE).sum())


def text_batch(model: SpeechLM, examples: list[dict], max_tokens: int | None) -> Batch:
    inputs = model.build_inputs(
        [e["transcription"] or "" for e in examples], [e["input"] for e in examples], [e["target"] for e in examples], max_tokens=max_tokens
    )
    return Batch(inputs, labelled_tokens(inputs), int(inputs["num_truncated"]))


class TapSource:
    """Where a batch's tapped encoder states come from: the cache, or the frozen encoder (reference mode).

    trim=True: each clip keeps its own frames, padded to the batch's longest with a cross-attention mask.
    trim=False: all 1500 frames of the 30 s window, no mask (what DeSTA2's reference code attends to).
    """

    def __init__(self, model: SpeechLM, cache: EncoderCache | None, trim: bool, whisper_dir: str | None = None) -> None:
        if cache is not None and cache.trimmed and not trim:
            raise ValueError("the encoder cache is trimmed; attending to all 1500 frames (trim: false) needs an untrimmed cache")
        if cache is not None and cache.config["tap_layers"] != model.connector.config.tap_layers:
            raise ValueError(f"the encoder cache taps {cache.config['tap_layers']}, the connector {model.connector.config.tap_layers}")
        self.model, self.cache, self.trim = model, cache, trim
        self.feature_extractor = None if cache is not None else WhisperFeatureExtractor.from_pretrained(whisper_dir)

    def usable(self, examples: list[dict]) -> list[dict]:
        """Examples whose clip has taps (the cache leaves out clips it quarantined)."""
        return examples if self.cache is None else [e for e in examples if e["id"] in self.cache]

    @staticmethod
    def audio(example: dict):
        try:
            return load_audio(example["audio_path"]).samples
        except AudioError as error:  # the cache quarantines such clips; the reference loop has no cache
            raise AudioError(f"clip {example['id']} ({example['audio_path']}): {error}") from None

    def __call__(self, examples: list[dict]) -> tuple[Tensor, Tensor | None]:
        return self.cached(examples) if self.cache is not None else self.computed(examples)

    def cached(self, examples: list[dict]) -> tuple[Tensor, Tensor | None]:
        states, frames = zip(*(self.cache[e["id"]] for e in examples))
        if not self.trim:
            return torch.stack(states), None
        length = max(frames)
        padded = states[0].new_zeros(len(states), *states[0].shape[:-2], length, states[0].shape[-1])
        for b, (clip, n) in enumerate(zip(states, frames)):
            padded[b, :, :n] = clip[:, :n]
        return padded, frame_mask(frames, length)

    @torch.no_grad()
    def computed(self, examples: list[dict]) -> tuple[Tensor, Tensor | None]:
        features = log_mels(self.feature_extractor, [self.audio(e) for e in examples])
        frames = [frames_for_duration(e["duration"]) for e in examples]
        return self.model.tap(features, frames if self.trim else None)


def collate(model: SpeechLM, examples: list[dict], taps: TapSource, max_tokens: int | None) -> Batch:
    """Text and taps of one batch (the loop builds the halves separately; this is both at once)."""
    batch = text_batch(model, examples, max_tokens)
    batch.tapped, batch.frame_mask = taps(examples)
    return batch


def full_window_mask(frames: list[int]) -> Tensor:
    """(B, 1500) mask of the clips' own frames within Whisper's whole window (for masking untrimmed taps)."""
    return frame_mask(frames, MAX_FRAMES)
