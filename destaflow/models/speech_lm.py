"""The speech LM: frozen Whisper (taps + transcript) -> trainable connector -> frozen chat LLM.

A conversation becomes token ids with audio slots in destaflow.conversation (the one processor training and
inference share); the slots' input embeddings are the connector's outputs for each clip. The backbones never
train and never run dropout; gradients still flow *through* the frozen LLM into the connector.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import AutoModelForCausalLM, AutoTokenizer, WhisperForConditionalGeneration

from destaflow.asr import greedy_transcripts
from destaflow.decoding import Decoding, decode, head_logits
from destaflow.models.connector import ConnectorConfig, QFormerConnector, default_tap_layers
from destaflow.models.whisper_taps import run_encoder, tap_encoder, trim_to_frames
from destaflow.conversation import IGNORE, ConversationProcessor, EncodedConversation
from destaflow.template import AUDIO_LOCATOR, conversation


def end_of_turn_id(tokenizer) -> int:
    """The token the chat template closes an assistant turn with (<|im_end|>, <|eot_id|>, ...), else EOS."""
    sentinel = "ASSISTANTSENTINEL"
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": sentinel}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    suffix = text.split(sentinel, 1)[1] if sentinel in text else ""
    special = {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
    suffix_ids = tokenizer(suffix, add_special_tokens=False).input_ids
    return next((i for i in suffix_ids if i in special), tokenizer.eos_token_id)


class SpeechLM(nn.Module):
    def __init__(
        self,
        whisper: WhisperForConditionalGeneration,
        llm: nn.Module,
        tokenizer,
        connector: QFormerConnector,
        whisper_tokenizer=None,
    ) -> None:
        super().__init__()
        self.whisper = whisper.requires_grad_(False).eval()
        self.llm = llm.requires_grad_(False).eval()
        self.connector = connector
        self.tokenizer = tokenizer
        self.whisper_tokenizer = whisper_tokenizer
        self.end_of_turn_id = end_of_turn_id(tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        # True only to time DeSTA2's own loop: the whole sequence through the LLM, logits at every position, the
        # LLM's built-in loss (labels=). Same loss, without the LM-head trimming and prefix reuse below.
        self.reference_style = False

    @classmethod
    def from_pretrained(
        cls, whisper_dir: str | Path, llm_dir: str | Path, tap_layers: list[int] | None = None, **connector_options
    ) -> SpeechLM:
        """Load both backbones from HF folders and build a fresh connector sized for them."""
        whisper = WhisperForConditionalGeneration.from_pretrained(whisper_dir)
        llm = AutoModelForCausalLM.from_pretrained(llm_dir)
        config = ConnectorConfig(
            whisper_dim=whisper.config.d_model,
            llm_dim=llm.config.hidden_size,
            tap_layers=tap_layers or default_tap_layers(whisper.config.encoder_layers),
            **connector_options,
        )
        tokenizer, whisper_tokenizer = AutoTokenizer.from_pretrained(llm_dir), AutoTokenizer.from_pretrained(whisper_dir)
        return cls(whisper, llm, tokenizer, QFormerConnector(config), whisper_tokenizer)

    def train(self, mode: bool = True) -> SpeechLM:
        super().train(mode)
        self.whisper.eval()
        self.llm.eval()
        return self

    @property
    def num_audio_slots(self) -> int:
        return self.connector.config.num_queries

    @property
    def conversations(self) -> ConversationProcessor:
        """Conversations -> tensors for this LLM and connector (a loaded adapter may replace the connector)."""
        return ConversationProcessor(self.tokenizer, self.num_audio_slots, self.pad_id, self.end_of_turn_id)

    # ---- audio side -------------------------------------------------------------------------------------

    def tap(self, input_features: Tensor, frames: Sequence[int] | None = None) -> tuple[Tensor, Tensor | None]:
        """Tapped encoder states (B, L, T, d), trimmed to the clips' frames when given, and their frame mask."""
        tapped = tap_encoder(self.whisper, input_features, self.connector.config.tap_layers)
        return trim_to_frames(tapped, frames) if frames is not None else (tapped, None)

    def audio_embeddings(self, tapped: Tensor | list[Tensor], frame_mask: Tensor | None = None) -> Tensor:
        """(B, Q, llm_dim): the connector."""
        return self.connector(tapped, frame_mask)

    def tap_and_encode(self, input_features: Tensor, frames: Sequence[int]) -> tuple[Tensor, Tensor, Tensor]:
        """One encoder pass: the taps trimmed to the clips' frames, their frame mask, and the encoder output."""
        tapped, encoded = run_encoder(self.whisper, input_features, self.connector.config.tap_layers)
        return *trim_to_frames(tapped, frames), encoded

    def transcribe(self, input_features: Tensor | None = None, encoder_output: Tensor | None = None, attention_mask: Tensor | None = None) -> list[str]:
        """Greedy English transcripts from Whisper's own decoder, no timestamps; from the log-mels or from
        the encoder output of a pass already made on them (the same transcript without a second pass)."""
        if self.whisper_tokenizer is None:
            raise ValueError("SpeechLM was built without a Whisper tokenizer")
        return greedy_transcripts(self.whisper, self.whisper_tokenizer, input_features, attention_mask, encoder_output)

    # ---- text side --------------------------------------------------------------------------------------

    def encode_sample(
        self,
        transcriptions: Sequence[str],
        user: str,
        target: str | None = None,
        system: str | None = None,
        max_tokens: int | None = None,
    ) -> EncodedConversation:
        """One conversation of the workflow's template: an audio turn per clip (locator + transcription), the user turn."""
        return self.conversations.encode(conversation([AUDIO_LOCATOR + text for text in transcriptions], user, system), target, max_tokens)

    def build_inputs(
        self,
        transcriptions: Sequence[str | Sequence[str]],
        users: Sequence[str],
        targets: Sequence[str] | None = None,
        system: str | None = None,
        max_tokens: int | None = None,
        padding_side: str | None = None,
    ) -> dict[str, Tensor | int]:
        """A padded batch (destaflow.conversation); transcriptions[b] is one clip's transcript or a list, one audio
        turn per clip. Padding is right for training (targets given) and left for generation unless `padding_side` says."""
        encoded = [
            self.encode_sample([clips] if isinstance(clips, str) else list(clips), user, targets[b] if targets is not None else None, system, max_tokens)
            for b, (clips, user) in enumerate(zip(transcriptions, users, strict=True))
        ]
        return self.conversations.batch(encoded, padding_side or ("right" if targets is not None else "left"))

    def splice(self, batch: dict, audio_embeds: Tensor) -> Tensor:
        """LLM input embeddings with audio_embeds (N, Q, D) in the slots: sample 0's clips in order, then sample 1's..."""
        embedding = self.llm.get_input_embeddings()
        embeds = embedding(batch["input_ids"].to(embedding.weight.device))
        slots = batch["audio_slots"].to(embeds.device)
        audio = audio_embeds.to(embeds.device, embeds.dtype).reshape(-1, embeds.shape[-1])
        if audio.shape[0] != int(slots.sum()):
            raise ValueError(f"{audio.shape[0]} audio embeddings for {int(slots.sum())} audio slots")
        return embeds.masked_scatter(slots.unsqueeze(-1), audio)

    # ---- training and inference -------------------------------------------------------------------------

    def forward(self, batch: dict, audio_embeds: Tensor) -> tuple[Tensor, int]:
        """Mean cross-entropy over the labelled tokens, and how many there were.

        The LM head runs only where the next token is labelled: most of the sequence (prompt, 64 audio
        slots, transcript) needs no vocabulary-sized logits, which saves ~20 % of a CPU step.
        """
        embeds = self.splice(batch, audio_embeds)
        attention_mask = batch["attention_mask"].to(embeds.device)
        if self.reference_style:
            labels = batch["labels"].to(embeds.device)
            return self.llm(inputs_embeds=embeds, attention_mask=attention_mask, labels=labels).loss, int((labels[:, 1:] != IGNORE).sum())
        prefix = self.shared_prefix_length(batch)
        hidden = self.decode(embeds, attention_mask, prefix)
        next_labels = batch["labels"][:, prefix + 1 :].to(embeds.device)
        predicting = next_labels != IGNORE
        num_tokens = int(predicting.sum())
        if num_tokens == 0:  # every target cut away by the token cap: a zero loss that still has a graph
            return hidden.sum() * 0.0, 0
        return F.cross_entropy(self.logits(hidden[:, :-1][predicting]), next_labels[predicting]), num_tokens

    def logits(self, hidden: Tensor) -> Tensor:
        """float32 next-token logits of last hidden states (the LLM's head, with its final soft-capping if any)."""
        return head_logits(self.llm, hidden)

    def shared_prefix_length(self, batch: dict) -> int:
        """Tokens every row shares before its first audio slot, when the LLM is frozen; else 0.

        That context (system turn, audio-turn header) depends on nothing trainable, so its keys and values are
        computed once, without a graph, and every row attends to them: the step skips the prefix's forward for
        all but one row and its backward entirely (~14 % of a demo step). LoRA trains the LLM, so it gets 0.
        """
        if any(p.requires_grad for p in self.llm.parameters()):
            return 0
        slots = batch["audio_slots"]
        if not bool(slots.any(dim=1).all()):
            return 0
        starts = slots.int().argmax(dim=1)
        length = int(starts[0])
        ids = batch["input_ids"][:, :length]
        if length == 0 or not bool((starts == length).all()) or not bool((ids == ids[:1]).all()):
            return 0
        return length if bool(batch["attention_mask"][:, :length].all()) else 0

    def decode(self, embeds: Tensor, attention_mask: Tensor, prefix: int = 0) -> Tensor:
        """Last hidden states of positions prefix.. (all positions when prefix is 0)."""
        decoder = self.llm.get_decoder()
        if not prefix:
            return decoder(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        with torch.no_grad():
            cache = decoder(inputs_embeds=embeds[:1, :prefix].detach(), use_cache=True).cache
        cache.batch_repeat_interleave(embeds.shape[0])
        return decoder(inputs_embeds=embeds[:, prefix:], attention_mask=attention_mask, cache=cache).last_hidden_state

    @torch.no_grad()
    def generate(self, batch: dict, audio_embeds: Tensor, decoding: Decoding | None = None, seeds: Sequence[int] | None = None,
                 share_keys: Sequence[Hashable] | None = None) -> list[str]:
        """Answers for a left-padded batch (build_inputs without targets), through destaflow.decoding: greedy with
        128 new tokens unless `decoding` says otherwise; rows with equal `share_keys` carry the same audio."""
        if not bool(batch["attention_mask"][:, -1].all()):
            raise ValueError("generation needs a left-padded batch (build_inputs(..., padding_side='left'))")
        embeds = self.splice(batch, audio_embeds)
        stop_ids = list(dict.fromkeys([self.end_of_turn_id, self.tokenizer.eos_token_id]))
        new_tokens = decode(self.llm, batch["input_ids"].to(embeds.device), batch["attention_mask"].to(embeds.device),
                            decoding or Decoding.greedy(128), seeds, stop_ids, inputs_embeds=embeds, share_keys=share_keys)
        answers = [tokens[:-1] if tokens and tokens[-1] in stop_ids else tokens for tokens in new_tokens]
        return [text.strip() for text in self.tokenizer.batch_decode(answers, skip_special_tokens=True)]
