"""Likelihood probe: did the adapter learn an attribute? Deterministic and cheap enough to run every epoch.

For each held-out clip and attribute, the speech LM reads the clip (connector embeddings + transcript), a fixed
question and the start of an answer ("Is the speaker male or female?" / "The speaker is"); the probe compares
the log-likelihood of each option (" female", " male") and counts the clip right when the true option is the
most likely. An untrained connector shows what the transcript and the LLM's priors give; the gain over it is
what the audio path learned. The true values come from the clip's seed transcript (destaflow.seed.parse_seed),
the same labels the captions were written from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import torch

from destaflow.evaluation.intervals import wilson
from destaflow.models.speech_lm import IGNORE, SpeechLM
from destaflow.seed import parse_seed


@dataclass(frozen=True)
class Probe:
    question: str
    answer_start: str
    options: dict[str, str]  # value -> continuation of answer_start
    values: dict[str, str]  # seed value (lower case) -> option value; seed values not listed are not probed


PROBES: dict[str, Probe] = {
    "gender": Probe("Is the speaker male or female?", "The speaker is", {"female": " female", "male": " male"},
                    {"female": "female", "male": "male"}),
    "speaking_speed": Probe("How fast does the speaker talk?", "The speaking speed is", {"slow": " slow", "normal": " normal", "fast": " fast"},
                            {"slow": "slow", "normal": "normal", "fast": "fast"}),
    "pitch": Probe("How high is the speaker's voice?", "The pitch of the voice is", {"low": " low", "normal": " normal", "high": " high"},
                   {"low": "low", "normal": "normal", "high": "high"}),
    "snr": Probe("Is the recording clean or noisy?", "The recording is", {"clean": " clean", "noisy": " noisy"},
                 {"very clean": "clean", "clean": "clean", "noisy": "noisy", "very noisy": "noisy"}),
}
PROBE_COLUMNS = ["attribute", "n", "correct", "accuracy", "accuracy_lo", "accuracy_hi", "majority"]


def probe_labels(seed: str) -> dict[str, str]:
    """attribute -> option value of what the seed transcript says (attributes it does not state are left out)."""
    stated = parse_seed(seed)
    labels = {}
    for attribute, probe in PROBES.items():
        value = stated.get(attribute)
        if value is not None and value.lower() in probe.values:
            labels[attribute] = probe.values[value.lower()]
    return labels


def option_tokens(model: SpeechLM, probe: Probe) -> dict[str, list[int]]:
    """The token ids of each option after the answer start; refused when the tokenizer merges across the boundary."""
    start = model.tokenizer(probe.answer_start, add_special_tokens=False).input_ids
    tokens = {}
    for value, continuation in probe.options.items():
        whole = model.tokenizer(probe.answer_start + continuation, add_special_tokens=False).input_ids
        if whole[: len(start)] != start or len(whole) == len(start):
            raise ValueError(f"the tokenizer merges {continuation!r} into {probe.answer_start!r}; choose another answer start")
        tokens[value] = whole[len(start) :]
    return tokens


@torch.no_grad()
def option_scores(model: SpeechLM, probe: Probe, transcriptions: Sequence[str], audio_embeds: torch.Tensor, system: str | None = None) -> torch.Tensor:
    """(clips, options) summed log-likelihood of each option's tokens, in PROBES order of options.

    Options of one token each (the usual case) are read from one next-token distribution per clip; longer ones
    need a pass per option."""
    values = list(probe.options)
    tokens = option_tokens(model, probe)
    if all(len(ids) == 1 for ids in tokens.values()):
        batch = model.build_inputs(list(transcriptions), [probe.question] * len(transcriptions), [probe.answer_start] * len(transcriptions), system=system)
        embeds = model.splice(batch, audio_embeds)
        hidden = model.decode(embeds, batch["attention_mask"].to(embeds.device))
        labels = batch["labels"].to(embeds.device)
        # the last labelled token is the end of turn: the hidden state before it predicts what follows the answer start
        last = torch.stack([(labels[row, 1:] != IGNORE).nonzero().max() for row in range(len(transcriptions))])
        log_probs = model.logits(hidden[torch.arange(len(transcriptions)), last]).log_softmax(-1)
        return log_probs[:, [tokens[v][0] for v in values]]
    counts = {value: len(ids) for value, ids in tokens.items()}
    rows = [(clip, value) for clip in range(len(transcriptions)) for value in values]
    batch = model.build_inputs([transcriptions[c] for c, _ in rows], [probe.question] * len(rows),
                               [probe.answer_start + probe.options[v] for _, v in rows], system=system)
    embeds = model.splice(batch, audio_embeds.repeat_interleave(len(values), dim=0))
    hidden = model.decode(embeds, batch["attention_mask"].to(embeds.device))
    labels = batch["labels"].to(embeds.device)
    scores = []
    for row, (_, value) in enumerate(rows):
        predicting = (labels[row, 1:] != IGNORE).nonzero().squeeze(1)  # hidden[p] predicts labels[p + 1]
        option = predicting[-1 - counts[value] : -1]  # the option's tokens, before the end-of-turn token
        log_probs = model.logits(hidden[row, option]).log_softmax(-1)
        scores.append(log_probs.gather(1, labels[row, option + 1].unsqueeze(1)).sum())
    return torch.stack(scores).view(len(transcriptions), len(values))


def summarise(predictions: dict[str, list[tuple[str, str]]]) -> pl.DataFrame:
    """attribute -> [(true, predicted)] as one row per attribute: n, right, accuracy (%) with its Wilson interval,
    and the share of the most common true value (what always answering it would score)."""
    rows = []
    for attribute, pairs in predictions.items():
        n, correct = len(pairs), sum(t == p for t, p in pairs)
        lo, hi = wilson(correct, n)
        trues = [t for t, _ in pairs]
        majority = 100 * max(trues.count(v) for v in set(trues)) / n if n else None
        rows.append({"attribute": attribute, "n": n, "correct": correct, "accuracy": 100 * correct / n if n else None,
                     "accuracy_lo": lo, "accuracy_hi": hi, "majority": majority})
    return pl.DataFrame(rows, schema={"attribute": pl.String, "n": pl.Int64, "correct": pl.Int64, "accuracy": pl.Float64,
                                      "accuracy_lo": pl.Float64, "accuracy_hi": pl.Float64, "majority": pl.Float64})


def likelihood_probe(model: SpeechLM, clips: Sequence[dict], embed, batch_size: int = 8, system: str | None = None) -> pl.DataFrame:
    """Probe every attribute on `clips` ({transcription, labels: attribute -> value, ...}); `embed(clips)` gives
    their (B, Q, D) connector embeddings. One row per attribute (PROBE_COLUMNS)."""
    predictions: dict[str, list[tuple[str, str]]] = {a: [] for a in PROBES}
    was_training = model.connector.training
    model.eval()
    for start in range(0, len(clips), batch_size):
        chunk = list(clips[start : start + batch_size])
        audio_embeds = embed(chunk)
        for attribute, probe in PROBES.items():
            labelled = [i for i, clip in enumerate(chunk) if attribute in clip["labels"]]
            if not labelled:
                continue
            scores = option_scores(model, probe, [chunk[i]["transcription"] or "" for i in labelled], audio_embeds[labelled], system)
            values = list(probe.options)
            for i, best in zip(labelled, scores.argmax(dim=1).tolist()):
                predictions[attribute].append((chunk[i]["labels"][attribute], values[best]))
    model.train(was_training)
    return summarise({a: p for a, p in predictions.items() if p})
