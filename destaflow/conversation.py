"""The one conversation processor: a message list -> token ids, audio slots and labels, and batches of them.

Training (`SpeechLM.build_inputs`), inference (`DestaModel.prepare`) and everything built on them (the
benchmarks, the probe, the cascades' speech-LM side) turn conversations into tensors here, so the LLM sees the
same tokens for the same conversation in every phase. The prompt's layout itself (roles, the audio locator,
the chat template) is `destaflow.template`'s. Each AUDIO_LOCATOR becomes `num_audio_slots` slots for the
connector's embeddings of that clip:

    [context before the locator] [audio slots] [transcription, user turn, assistant header] [target <eot>]

Only the target and its closing end-of-turn token are labelled; a cap on tokens cuts the target from its end,
never the context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from destaflow.template import AUDIO_LOCATOR, render

IGNORE = -100  # label of positions that carry no loss


@dataclass
class EncodedConversation:
    input_ids: list[int]
    labels: list[int]
    audio_slots: list[bool]
    truncated: bool


class ConversationProcessor:
    """Tokenises conversations for one LLM tokenizer and connector size."""

    def __init__(self, tokenizer, num_audio_slots: int, pad_id: int, end_of_turn_id: int) -> None:
        self.tokenizer, self.num_audio_slots = tokenizer, num_audio_slots
        self.pad_id, self.end_of_turn_id = pad_id, end_of_turn_id

    def tokens(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def encode(self, messages: Sequence[dict[str, str]], target: str | None = None, max_tokens: int | None = None) -> EncodedConversation:
        """Up to the assistant header (and the target after it, labelled, when given)."""
        pieces = render(self.tokenizer, list(messages)).split(AUDIO_LOCATOR)
        expected = sum(m["content"].count(AUDIO_LOCATOR) for m in messages)  # a template must keep every one
        if len(pieces) != expected + 1:
            raise ValueError(f"expected {expected} audio locators in the prompt, found {len(pieces) - 1}")
        input_ids = self.tokens(pieces[0])
        audio_slots = [False] * len(input_ids)
        for piece in pieces[1:]:
            piece_ids = self.tokens(piece)
            input_ids += [self.pad_id] * self.num_audio_slots + piece_ids
            audio_slots += [True] * self.num_audio_slots + [False] * len(piece_ids)
        labels = [IGNORE] * len(input_ids)
        truncated = False
        if target is not None:
            target_ids = self.tokens(target) + [self.end_of_turn_id]
            if max_tokens is not None and len(input_ids) + len(target_ids) > max_tokens:
                target_ids, truncated = target_ids[: max(0, max_tokens - len(input_ids))], True
            input_ids += target_ids
            labels += target_ids
            audio_slots += [False] * len(target_ids)
        return EncodedConversation(input_ids, labels, audio_slots, truncated)

    def batch(self, encoded: Sequence[EncodedConversation], padding_side: str) -> dict[str, Tensor | int]:
        """Padded tensors: input_ids, attention_mask, audio_slots (bool), num_audios, labels, num_truncated.
        Right padding for training, left for generation."""
        length = max(len(e.input_ids) for e in encoded)

        def pad(rows: list[list], value) -> Tensor:
            fill = [[value] * (length - len(row)) for row in rows]
            return torch.tensor([f + row if padding_side == "left" else row + f for row, f in zip(rows, fill)])

        return {
            "input_ids": pad([e.input_ids for e in encoded], self.pad_id),
            "attention_mask": pad([[1] * len(e.input_ids) for e in encoded], 0),
            "audio_slots": pad([e.audio_slots for e in encoded], False),
            "num_audios": torch.tensor([sum(e.audio_slots) // self.num_audio_slots for e in encoded]),
            "labels": pad([e.labels for e in encoded], IGNORE),
            "num_truncated": sum(e.truncated for e in encoded),
        }
