"""The captioning prompts: the paper's one prompt, or a pool of generic audio prompts (DeSTA2.5-Audio's recipe).

A pool must stay generic: a prompt that repeats a benchmark instruction, or names an attribute the benchmarks
ask about (or one of its answers), would teach the adapter the test questions. Such a pool is refused.
"""

from __future__ import annotations

import re
from functools import cache

from destaflow.captioning.settings import CaptionSettings

# Words that ask about (or answer) what the demo benchmark and Dynamic-SUPERB's paralinguistic tasks ask, besides
# the caption-coverage vocabulary and the benchmarks' own options (asked_words() adds those).
ASKED_WORDS = frozenset({
    "gender", "sex", "age", "old", "young", "child", "accent", "accents", "dialect", "emotion", "emotional", "emotions",
    "mood", "feeling", "happy", "sad", "angry", "neutral", "loudness", "noise", "noisy", "snr", "reverberation", "echo",
    "room", "same", "identity", "language", "intent", "sarcasm", "he", "she", "tone", "tempo",
})
GENERIC_WORDS = frozenset({"voice", "voiced", "speaker", "speech", "audio", "recording", "sound", "clip"})
"""Nouns a generic prompt may use ("Describe the voice."), though the coverage matcher's phrases contain them."""


@cache
def asked_words() -> frozenset[str]:
    """ASKED_WORDS, every word the caption-coverage matcher reads as an attribute or its value, and the options and
    labels of the built-in benchmark and instruction tasks."""
    from destaflow import coverage
    from destaflow.instructions import TASKS

    vocabulary = set(ASKED_WORDS)
    for table in (coverage.STANDALONE, coverage.QUALIFIERS):
        vocabulary |= {w for values in table.values() for phrases in values.values() for p in phrases for w in words(p)}
    vocabulary |= {w for cues in coverage.CUES.values() for c in cues for w in words(c)}
    vocabulary |= {w for task in TASKS.values() for option in task.options or () for w in words(option)}
    return frozenset(vocabulary - GENERIC_WORDS)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


@cache
def benchmark_instructions() -> frozenset[str]:
    """Every question the instruction tasks and the demo benchmark ask, normalised to their words."""
    from destaflow.instructions import BENCHMARK_QUESTIONS, TASKS

    questions = [q for task in TASKS.values() for q in task.questions] + [q for asked in BENCHMARK_QUESTIONS.values() for q in asked]
    return frozenset(" ".join(words(q)) for q in questions)


def check_generic(prompt: str) -> None:
    if " ".join(words(prompt)) in benchmark_instructions():
        raise ValueError(f"captioning prompt {prompt!r} is a benchmark instruction; the pool must hold generic prompts only")
    named = sorted(set(words(prompt)) & asked_words())
    if named:
        raise ValueError(f"captioning prompt {prompt!r} names what the benchmarks ask about ({', '.join(named)}); "
                         "the pool must hold generic prompts only")


def prompt_pool(settings: CaptionSettings) -> list[str]:
    """`caption.prompts` (checked to be generic), else the one `caption.prompt` as the paper uses."""
    pool = settings.prompts or [settings.prompt]
    if settings.prompts:
        for prompt in pool:
            check_generic(prompt)
    return list(pool)
