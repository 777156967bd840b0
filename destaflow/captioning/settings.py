"""The captioning stage's settings (the `caption` section): see destaflow.settings."""

from __future__ import annotations

from dataclasses import dataclass

from destaflow.settings import Settings


@dataclass(frozen=True)
class EndpointSettings(Settings):
    """An OpenAI-compatible server serving the LLM (backend `openai`)."""

    SECTIONS = ("caption.endpoint",)

    base_url: str | None
    model: str | None
    api_key_env: str
    timeout_s: float
    max_retries: int
    backoff_s: float
    concurrency: int


@dataclass(frozen=True)
class CaptionSettings(Settings):
    """How captions are written: the LLM's backend, the prompt pool, decoding, batching and sharding."""

    SECTIONS = ("caption",)

    backend: str  # transformers | openai
    prompt: str
    prompts: list[str] | None
    system: str | None
    temperature: float
    top_p: float
    repetition_penalty: float
    max_new_tokens: int
    batch_size: int
    shards: int
    seed: int
    per_clip: dict[str, int]
    endpoint: EndpointSettings

    def greedy(self, max_new_tokens: int) -> CaptionSettings:
        """The same LLM and backend decoding greedily: how the text cascades answer."""
        return self.replace(max_new_tokens=max_new_tokens, temperature=0.0, top_p=1.0, repetition_penalty=1.0)
