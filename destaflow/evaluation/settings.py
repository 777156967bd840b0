"""The scoring stage's settings (parts of the `evaluation` section): see destaflow.settings."""

from __future__ import annotations

from dataclasses import dataclass

from destaflow.settings import Settings


@dataclass(frozen=True)
class AnswerSettings(Settings):
    """How every system answers a benchmark's items."""

    SECTIONS = ("evaluation",)

    two_audio: str  # native (two audio turns) | concat (the baseline's 15 s + 15 s)
    batch_size: int
    max_new_tokens: int


@dataclass(frozen=True)
class BenchmarkSettings(AnswerSettings):
    """One Dynamic-SUPERB-format benchmark: the answering settings and its `evaluation.benchmarks` entry."""

    SECTIONS = ("evaluation", "evaluation.benchmarks.demo")

    seed: int  # of the per-instance subsample
    path: str | None
    instances: str | list[str] | None
    max_per_instance: int | None


@dataclass(frozen=True)
class ChatSettings(Settings):
    """One set of open questions: `evaluation.chat`'s seed and answer length, and its `sets` entry."""

    SECTIONS = ("evaluation", "evaluation.chat", "evaluation.chat.sets.demo")

    seed: int
    batch_size: int
    max_new_tokens: int
    path: str | None
    subset: str
    max_items: int | None

    def answering(self) -> AnswerSettings:
        return AnswerSettings(two_audio="native", batch_size=self.batch_size, max_new_tokens=self.max_new_tokens)


@dataclass(frozen=True)
class IfevalSettings(Settings):
    """Answering the instruction-following sets: the batch size and `evaluation.ifeval`'s answer length."""

    SECTIONS = ("evaluation", "evaluation.ifeval")

    batch_size: int
    max_new_tokens: int


@dataclass(frozen=True)
class JudgeSettings(Settings):
    """The LLM judge (`evaluation.judge`): none, an OpenAI-compatible endpoint, or a local model folder."""

    SECTIONS = ("evaluation.judge",)

    kind: str  # none | openai | local
    base_url: str | None
    model: str | None
    api_key_env: str | None
    timeout_s: float
    max_retries: int
    backoff_s: float
