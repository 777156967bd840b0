"""Training settings and what follows from them alone: defaults (the schema's), the schedule and the data order.

The permutation of epoch e depends only on (seed, e), so a resumed run takes the same batches as one that never
stopped; the learning rate warms up linearly and then follows a cosine (or stays constant).
"""

from __future__ import annotations

import logging
import math

import torch

from destaflow.config import schema_defaults
from destaflow.training.distributed import Env
from destaflow.training.lora import resolve_lora

log = logging.getLogger(__name__)

CONNECTOR_KEYS = ("num_queries", "tap_layers", "qformer_layers", "num_heads", "ffn_dim", "dropout")
TRAIN_DEFAULTS = {key: value for key, value in schema_defaults("train").items() if key not in CONNECTOR_KEYS} | {
    "lora": None,  # the finetuning stage's LoRA on the LLM (destaflow.training.lora)
    "init_adapter": None,  # the finetuning stage's starting connector: an adapter folder
}
"""The `train` section's defaults as the schema declares them, plus what only the finetuning stage sets."""
# Settings a saved state depends on: resuming under different ones would not continue the same run.
RESUME_KEYS = (
    "epochs", "global_batch", "lr", "betas", "weight_decay", "warmup_steps", "schedule", "min_lr", "grad_clip",
    "seed", "max_tokens", "trim", *CONNECTOR_KEYS,
)
def resolve_settings(settings: dict) -> dict:
    unknown = set(settings) - set(TRAIN_DEFAULTS) - set(CONNECTOR_KEYS)
    if unknown:
        log.warning("ignoring unknown training settings: %s", ", ".join(sorted(unknown)))
    resolved = TRAIN_DEFAULTS | {k: settings.get(k) for k in CONNECTOR_KEYS} | {k: v for k, v in settings.items() if k in TRAIN_DEFAULTS}
    resolved["lora"] = resolve_lora(resolved["lora"])
    if resolved["schedule"] not in ("cosine", "constant"):
        raise ValueError(f"unknown schedule {resolved['schedule']!r} (cosine or constant)")
    return resolved


def accumulation_steps(settings: dict, world_size: int) -> int:
    per_step = settings["micro_batch"] * world_size
    if settings["global_batch"] % per_step:
        raise ValueError(
            f"global_batch {settings['global_batch']} is not a multiple of micro_batch {settings['micro_batch']} x {world_size} processes"
        )
    return settings["global_batch"] // per_step


# ---- schedule and data order --------------------------------------------------------------------------------


def learning_rate(step: int, settings: dict, total_steps: int) -> float:
    """Linear warm-up over warmup_steps, then cosine from lr down to min_lr at the last step (or constant)."""
    peak, warmup = settings["lr"], settings["warmup_steps"]
    if step < warmup:
        return peak * (step + 1) / warmup
    if settings["schedule"] == "constant":
        return peak
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return settings["min_lr"] + 0.5 * (peak - settings["min_lr"]) * (1.0 + math.cos(math.pi * progress))


def epoch_order(num_examples: int, seed: int, epoch: int) -> list[int]:
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(num_examples, generator=generator).tolist()


def global_batch_indices(order: list[int], position: int, global_batch: int) -> list[int]:
    """The position-th global batch of an epoch; the last one is filled from the epoch's start."""
    start = position * global_batch
    return [order[(start + i) % len(order)] for i in range(global_batch)]


def process_share(examples: list, env: Env) -> list:
    """This process's part of a global batch (DistributedSampler's interleaving)."""
    return examples[env.rank :: env.world_size]
