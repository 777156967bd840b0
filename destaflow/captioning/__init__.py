"""LLM captioning: each seed transcript plus the one prompt goes to the backbone LLM; its answer is the caption.

- `shards.caption_shard`: one resumable job over one shard of the (clip, caption index) items.
- `settings.CaptionSettings`: the `caption` section, typed.
- `backends`: the prepared LLM in-process (`TransformersBackend`) or an OpenAI-compatible server
  (`OpenAICompatibleBackend`) behind one `generate(prompts, sample_seed)` interface.
"""

from destaflow.captioning.backends import (
    Backend,
    Generation,
    GenerationFailed,
    OpenAICompatibleBackend,
    TransformersBackend,
    build_backend,
)
from destaflow.captioning.settings import CaptionSettings, EndpointSettings
from destaflow.captioning.shards import caption_shard, shard_items

__all__ = [
    "Backend",
    "CaptionSettings",
    "EndpointSettings",
    "Generation",
    "GenerationFailed",
    "OpenAICompatibleBackend",
    "TransformersBackend",
    "build_backend",
    "caption_shard",
    "shard_items",
]
