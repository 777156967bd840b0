"""The captioning prompts: the paper's one prompt, or a pool of generic audio prompts (DeSTA2.5-Audio's recipe).

A pool must stay generic: a prompt that repeats a benchmark instruction, or names an attribute the benchmarks
ask about (or one of its answers), would teach the adapter the test questions. Such a pool is refused.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

# Words that ask about (or answer) what the demo benchmark and Dynamic-SUPERB's paralinguistic tasks ask.
ASKED_WORDS = frozenset({
    "gender", "male", "female", "man", "woman", "sex", "age", "old", "young", "accent", "accents", "emotion",
    "emotional", "emotions", "pitch", "high", "low", "speed", "rate", "fast", "slow", "quickly", "slowly",
    "pace", "noise", "noisy", "clean", "snr", "reverberation", "reverberant", "echo", "room", "loud", "quiet",
    "volume", "same", "identity", "language", "intent", "sarcasm", "dialect",
})


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


@cache
def benchmark_instructions() -> frozenset[str]:
    """Every question the built-in benchmarks and instruction sets ask, normalised to their words."""
    from destaflow.evaluation.demo_benchmark import DEMO_TASKS
    from destaflow.instructions import TASKS

    questions = [q for task in TASKS.values() for q in task.questions] + [q for task in DEMO_TASKS.values() for q in task.questions]
    return frozenset(" ".join(words(q)) for q in questions)


def check_generic(prompt: str) -> None:
    if " ".join(words(prompt)) in benchmark_instructions():
        raise ValueError(f"captioning prompt {prompt!r} is a benchmark instruction; the pool must hold generic prompts only")
    named = sorted(set(words(prompt)) & ASKED_WORDS)
    if named:
        raise ValueError(f"captioning prompt {prompt!r} names what the benchmarks ask about ({', '.join(named)}); "
                         "the pool must hold generic prompts only")


def prompt_pool(settings: dict[str, Any]) -> list[str]:
    """`caption.prompts` (checked to be generic), else the one `caption.prompt` as the paper uses."""
    pool = settings.get("prompts") or [settings["prompt"]]
    if settings.get("prompts"):
        for prompt in pool:
            check_generic(prompt)
    return list(pool)
