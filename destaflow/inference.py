"""Chat with a trained speech LM, DeSTA2-style: `DestaModel.from_pretrained(adapter_dir).chat(messages)`.

    messages = [
        {"role": "system", "content": "Focus on the audio clip."},   # optional
        {"role": "audio", "content": "clip.wav"},                    # one or more: a path, an array, (samples, rate)
        {"role": "user", "content": "What can you hear?"},
    ]

Earlier user/assistant turns stay in the conversation, in order, rendered by the backbone's chat template.
Each audio turn becomes the locator (64 connector embeddings) followed by that clip's Whisper transcript.

Adapter folder (format_version 1):
    connector.safetensors   the connector's state_dict (the only trained weights)
    adapter_config.json     {"format_version": 1, "connector": {ConnectorConfig fields},
                             "whisper": path or hub id, "llm": path or hub id,
                             "whisper_name": ..., "llm_name": ...,        # provenance
                             "lora": "lora"}                              # optional, a peft folder inside
plus whatever `extra` keys the trainer records.

Clips longer than Whisper's 30 s window: the audio embeddings see only the first 30 s (the encoder's
window, as in training); the transcript covers the whole clip, transcribed in equal windows of at most 30 s
(the policy of destaflow.asr, which made the training transcripts). Each such clip raises a
LongAudioWarning that names it and says what was cut.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soxr
import torch
from torch import Tensor
from transformers import AutoModelForCausalLM, AutoTokenizer, WhisperFeatureExtractor, WhisperForConditionalGeneration

from destaflow.asr import reuse_encoder_pass, split_windows, transcribe_windowed
from destaflow.audio import TARGET_RATE, WHISPER_WINDOW_S, Audio, AudioError, load_audio, trim_to
from destaflow.decoding import Decoding
from destaflow.models.adapter import (
    attach_lora,
    check_backbones_fit,
    check_local_source,
    load_adapter_config,
    load_connector,
)
from destaflow.models.speech_lm import SpeechLM
from destaflow.models.whisper_taps import frames_for_duration, log_mels
from destaflow.runtime import chunks, quiet_loading, torch_device
from destaflow.template import AUDIO_LOCATOR

WHISPER_BATCH = 16  # transcription windows per Whisper call
TEXT_ROLES = ("system", "user", "assistant")

Message = dict[str, Any]


class LongAudioWarning(UserWarning):
    """A clip longer than Whisper's window: its embeddings cover only the first 30 s."""


# Python shows a repeated warning once per call site; a cut clip must be reported every time it is used.
warnings.simplefilter("always", LongAudioWarning)


# ---- audio ------------------------------------------------------------------------------------------------


def read_audio(path: str | os.PathLike) -> np.ndarray:
    """16 kHz mono float32 samples of a file, or AudioError("<file>: <reason>")."""
    try:
        return load_audio(path).samples
    except AudioError as error:
        raise AudioError(f"{path}: {error}") from None


def audio_from_array(samples: Any, rate: int, name: str) -> np.ndarray:
    """Samples in memory -> 16 kHz mono float32, with the checks load_audio applies to files.

    A 2-D array is (frames, channels) or (channels, frames): the shorter axis is taken as the channels.
    """
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=int(np.argmin(data.shape)))
    if data.ndim != 1:
        raise AudioError(f"{name}: expected 1-D or 2-D samples, got shape {data.shape}")
    if data.size == 0:
        raise AudioError(f"{name}: no samples")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{name}: non-finite samples (NaN or inf)")
    if rate != TARGET_RATE:
        data = soxr.resample(data, rate, TARGET_RATE).astype(np.float32)
    if not np.any(data):
        raise AudioError(f"{name}: digital silence")
    return np.ascontiguousarray(data)


@dataclass(frozen=True)
class Clip:
    samples: np.ndarray  # 16 kHz mono float32
    name: str  # the file name, or "audio N" for samples given in memory


def clip_from_content(content: Any, number: int) -> Clip:
    """An audio turn's content: a path, an Audio, a (samples, rate) pair, or a 16 kHz array or tensor."""
    if isinstance(content, (str, os.PathLike)):
        return Clip(read_audio(content), str(content))
    name = f"audio {number}"
    if isinstance(content, Audio):
        return Clip(content.samples, name)
    if isinstance(content, tuple):
        if len(content) != 2:
            raise ValueError(f"{name}: a tuple must be (samples, sample_rate)")
        return Clip(audio_from_array(content[0], int(content[1]), name), name)
    if isinstance(content, Tensor):
        content = content.detach().cpu().numpy()
    return Clip(audio_from_array(content, TARGET_RATE, name), name)


def _warn_if_cut(clip: Clip, seconds_cut: float, num_windows: int) -> None:
    if seconds_cut > 0:
        warnings.warn(
            f"{clip.name}: {len(clip.samples) / TARGET_RATE:.1f} s is longer than Whisper's {WHISPER_WINDOW_S:.0f} s "
            f"window; the audio embeddings cover only the first {WHISPER_WINDOW_S:.0f} s "
            f"({seconds_cut:.1f} s unseen), the transcript covers the whole clip in {num_windows} windows",
            LongAudioWarning,
            stacklevel=3,
        )


# ---- conversations ----------------------------------------------------------------------------------------


def check_conversation(messages: Sequence[Message]) -> None:
    """DeSTA2's message list: [system], then audio/user/assistant turns with at least one audio, ending on a user turn."""
    if not messages:
        raise ValueError("empty conversation")
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in (*TEXT_ROLES, "audio") or "content" not in message:
            raise ValueError(f"message {index}: expected a dict with 'role' (system/audio/user/assistant) and 'content'")
        if role == "system" and index != 0:
            raise ValueError(f"message {index}: a system message may only come first")
        if role in TEXT_ROLES and not isinstance(message["content"], str):
            raise ValueError(f"message {index}: {role} content must be text")
    if not any(m["role"] == "audio" for m in messages):
        raise ValueError("the conversation has no audio turn")
    if messages[-1]["role"] != "user":
        raise ValueError("the conversation must end with a user turn")


def audio_contents(messages: Sequence[Message]) -> list[Any]:
    return [m["content"] for m in messages if m["role"] == "audio"]


def with_transcripts(messages: Sequence[Message], transcriptions: Sequence[str]) -> list[dict[str, str]]:
    """The message list the LLM sees: each audio turn becomes the locator plus its clip's transcript."""
    remaining = iter(transcriptions)
    return [
        {"role": "audio", "content": AUDIO_LOCATOR + next(remaining)} if m["role"] == "audio" else dict(m)
        for m in messages
    ]


def dtype_option(dtype: str | torch.dtype | None) -> dict[str, Any]:
    return {"dtype": dtype} if dtype is not None else {}


def clip_key(clip: Clip) -> bytes:
    """The same samples give the same key: one encoder pass per distinct clip, one shared prefix per audio."""
    return hashlib.sha1(clip.samples.tobytes()).digest()


@dataclass
class PreparedBatch:
    """What generation consumes: the left-padded token batch, one (Q, D) embedding block per clip, the transcripts."""

    batch: dict[str, Tensor]
    audio_embeds: Tensor  # (clips in all conversations, Q, llm_dim), conversation by conversation
    transcriptions: list[list[str]]  # per conversation, per clip
    audio_keys: list[tuple[bytes, ...]]  # per conversation, its clips' clip_key


class DestaModel:
    """A speech LM ready to chat: Whisper + connector + LLM, plus the Whisper feature extractor."""

    def __init__(self, speech_lm: SpeechLM, feature_extractor: WhisperFeatureExtractor | None = None) -> None:
        self.speech_lm = speech_lm.eval()
        self.feature_extractor = feature_extractor or WhisperFeatureExtractor(
            feature_size=speech_lm.whisper.config.num_mel_bins
        )

    @classmethod
    def from_components(cls, speech_lm: SpeechLM, feature_extractor: WhisperFeatureExtractor | None = None) -> DestaModel:
        """Wrap a model already in memory (untrained, or just trained); it is switched to eval mode."""
        return cls(speech_lm, feature_extractor)

    @classmethod
    def from_pretrained(
        cls,
        adapter_dir: str | os.PathLike,
        whisper: str | None = None,
        llm: str | None = None,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        merge_lora: bool = True,
    ) -> DestaModel:
        """Backbones from the config's paths or hub ids (or the overrides), connector and LoRA from the folder.

        `dtype` applies to both backbones (the one the training cache was made in, for the adapter to hear what it
        was trained on); the connector stays float32 (its outputs are cast at the splice).
        """
        adapter_dir = Path(adapter_dir)
        config = load_adapter_config(adapter_dir)
        connector = load_connector(adapter_dir, config["connector"])
        sources = (str(whisper or config["whisper"]), str(llm or config["llm"]))
        for source, role in zip(sources, ("whisper", "llm")):
            check_local_source(adapter_dir, source, role)
        options: dict[str, Any] = {"use_safetensors": True}
        with quiet_loading():
            whisper_model = WhisperForConditionalGeneration.from_pretrained(sources[0], **options, **dtype_option(dtype))
            llm_model = AutoModelForCausalLM.from_pretrained(sources[1], **options, **dtype_option(dtype))
            tokenizer, whisper_tokenizer = AutoTokenizer.from_pretrained(sources[1]), AutoTokenizer.from_pretrained(sources[0])
            feature_extractor = WhisperFeatureExtractor.from_pretrained(sources[0])
        check_backbones_fit(adapter_dir, connector.config, whisper_model, llm_model, sources)
        if config.get("lora"):
            llm_model = attach_lora(llm_model, adapter_dir / config["lora"], merge_lora)
        speech_lm = SpeechLM(whisper_model, llm_model, tokenizer, connector, whisper_tokenizer)
        return cls(speech_lm.to(device or torch_device()), feature_extractor)

    # ---- audio -----------------------------------------------------------------------------------------

    @torch.no_grad()
    def encode_audio(self, clips: Sequence[Clip]) -> tuple[Tensor, list[str]]:
        """(N, Q, llm_dim) connector embeddings of each clip's first 30 s, and each whole clip's transcript."""
        windows = [split_windows(clip.samples) for clip in clips]
        heads = []
        for clip, pieces in zip(clips, windows):
            head, seconds_cut = trim_to(clip.samples, WHISPER_WINDOW_S)
            _warn_if_cut(clip, seconds_cut, len(pieces))
            heads.append(head)
        frames = [frames_for_duration(len(head) / TARGET_RATE) for head in heads]
        tapped, frame_mask, encoded = self.speech_lm.tap_and_encode(log_mels(self.feature_extractor, heads), frames)
        return self.speech_lm.audio_embeddings(tapped, frame_mask), self.transcripts([clip.samples for clip in clips], encoded)

    def transcripts(self, audios: Sequence[np.ndarray], encoded: Tensor) -> list[str]:
        def decode(positions: list[int]) -> list[str]:
            return [text for batch in chunks(positions, WHISPER_BATCH) for text in self.speech_lm.transcribe(encoder_output=encoded[batch])]

        return reuse_encoder_pass(list(audios), decode, self.transcribe)

    def encode_distinct(self, clips: Sequence[Clip], keys: Sequence[bytes] | None = None) -> tuple[Tensor, list[str]]:
        """encode_audio, running each distinct clip once (one clip asked several questions in one batch); `keys`:
        the clips' clip_key, when already made."""
        keys = keys or [clip_key(clip) for clip in clips]
        first = {key: n for n, key in reversed(list(enumerate(keys)))}
        distinct = list(dict.fromkeys(keys))
        embeds, transcripts = self.encode_audio([clips[first[key]] for key in distinct])
        position = {key: n for n, key in enumerate(distinct)}
        rows = [position[key] for key in keys]
        return embeds[rows], [transcripts[row] for row in rows]

    def transcribe(self, audios: Sequence[np.ndarray]) -> list[str]:
        """One transcript per clip, from its own encoder pass: 30 s windows transcribed and joined."""

        def transcribe_batch(windows: list[np.ndarray]) -> list[str]:
            # with the attention mask, as destaflow.asr made the training transcripts
            inputs = self.feature_extractor(windows, sampling_rate=TARGET_RATE, return_tensors="pt", return_attention_mask=True)
            return self.speech_lm.transcribe(inputs.input_features, attention_mask=inputs.attention_mask.to(self.speech_lm.whisper.device))

        return transcribe_windowed(audios, transcribe_batch, WHISPER_BATCH)

    # ---- text ------------------------------------------------------------------------------------------

    # ---- chatting --------------------------------------------------------------------------------------

    def prepare(self, conversations: Sequence[Sequence[Message]]) -> PreparedBatch:
        """Load, embed and transcribe every clip of the conversations and build their left-padded batch."""
        for messages in conversations:
            check_conversation(messages)
        per_conversation = [
            [clip_from_content(content, n) for n, content in enumerate(audio_contents(messages), start=1)]
            for messages in conversations
        ]
        keys = [[clip_key(clip) for clip in clips] for clips in per_conversation]
        audio_embeds, flat_transcripts = self.encode_distinct([clip for clips in per_conversation for clip in clips], [k for ks in keys for k in ks])
        transcriptions, start = [], 0
        for clips in per_conversation:
            transcriptions.append(flat_transcripts[start : start + len(clips)])
            start += len(clips)
        processor = self.speech_lm.conversations
        encoded = [processor.encode(with_transcripts(m, t)) for m, t in zip(conversations, transcriptions)]
        return PreparedBatch(processor.batch(encoded, padding_side="left"), audio_embeds, transcriptions, [tuple(k) for k in keys])

    def batch_chat(
        self,
        conversations: Sequence[Sequence[Message]],
        batch_size: int = 8,
        max_new_tokens: int = 128,
        do_sample: bool = False,
        temperature: float = 0.6,
        top_p: float = 0.9,
    ) -> list[str]:
        """One answer per conversation, `batch_size` conversations per forward pass; greedy unless do_sample.
        Conversations about the same audio read their common beginning once (destaflow.decoding)."""
        for messages in conversations:  # a malformed conversation fails before any audio is decoded
            check_conversation(messages)
        decoding = Decoding(max_new_tokens, temperature, top_p, 1.0) if do_sample else Decoding.greedy(max_new_tokens)
        answers: list[str] = []
        for group in chunks(list(conversations), batch_size):
            prepared = self.prepare(group)
            answers += self.speech_lm.generate(prepared.batch, prepared.audio_embeds, decoding, share_keys=prepared.audio_keys)
        return answers

    def chat(
        self,
        messages: Sequence[Message],
        max_new_tokens: int = 128,
        do_sample: bool = False,
        temperature: float = 0.6,
        top_p: float = 0.9,
    ) -> str:
        """The assistant's answer to one conversation (DeSTA2's `model.chat`)."""
        return self.batch_chat([messages], 1, max_new_tokens, do_sample, temperature, top_p)[0]
