"""Training settings and what follows from them alone: defaults (the schema's), the schedule and the data order.

The permutation of epoch e depends only on (seed, e), so a resumed run takes the same batches as one that never
stopped; the learning rate warms up linearly and then follows a cosine (or stays constant).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields

import torch

from destaflow.config import schema_defaults
from destaflow.training.distributed import Env
from destaflow.training.lora import resolve_lora

log = logging.getLogger(__name__)

CONNECTOR_KEYS = ("num_queries", "tap_layers", "qformer_layers", "num_heads", "ffn_dim", "dropout")
TRAIN_DEFAULTS = schema_defaults("train")
"""The `train` section's defaults as the schema declares them: TrainSettings has no defaults of its own."""
# Settings a saved state depends on: resuming under different ones would not continue the same run.
RESUME_KEYS = (
    "epochs", "global_batch", "lr", "betas", "weight_decay", "warmup_steps", "schedule", "min_lr", "grad_clip",
    "seed", "max_tokens", "trim", "backbone_dtype", *CONNECTOR_KEYS,
)  # fmt: skip


@dataclass(frozen=True)
class TrainSettings:
    """One training run's settings: the validated `train` section (names and defaults are the schema's; a test
    checks they match), the connector's shape, and what only the finetuning stage sets."""

    epochs: int
    global_batch: int
    micro_batch: int
    lr: float
    betas: tuple[float, float]
    weight_decay: float
    warmup_steps: int
    schedule: str  # cosine | constant
    min_lr: float
    grad_clip: float
    seed: int
    max_tokens: int | None  # cap on target tokens per example
    cache: bool  # read the encoder cache (false: run Whisper in the loop, as the reference code does)
    trim: bool  # taps cut to the clip's frames instead of Whisper's 30 s window
    backbone_dtype: str  # auto | float32 | bfloat16: the frozen backbones' (destaflow.training.loop.backbone_dtype)
    log_every: int
    checkpoint_every: int
    eval_samples: int
    probe_clips: int
    sample_tokens: int
    valid_limit: int | None
    threads: int | None
    # The `connector` section; None = the connector's own default (destaflow.models.connector).
    num_queries: int | None = None
    tap_layers: list[int] | None = None
    qformer_layers: int | None = None
    num_heads: int | None = None
    ffn_dim: int | None = None
    dropout: float | None = None
    lora: dict | None = None  # the finetuning stage's LoRA on the LLM (destaflow.training.lora), defaults filled
    init_adapter: str | None = None  # the finetuning stage's starting connector: an adapter folder

    def connector_options(self) -> dict:
        """The connector settings given, as SpeechLM.from_pretrained's keyword arguments (tap layers apart)."""
        return {key: getattr(self, key) for key in CONNECTOR_KEYS if key != "tap_layers" and getattr(self, key) is not None}


SETTING_NAMES = frozenset(field.name for field in fields(TrainSettings))


def resolve_settings(settings: dict) -> TrainSettings:
    """The training rule's settings dict (train section merged with connector, perhaps lora / init_adapter) ->
    TrainSettings, defaults from the schema."""
    unknown = set(settings) - SETTING_NAMES
    if unknown:
        log.warning("ignoring unknown training settings: %s", ", ".join(sorted(unknown)))
    values = TRAIN_DEFAULTS | {key: value for key, value in settings.items() if key in SETTING_NAMES}
    values["betas"] = tuple(values["betas"])
    values["lora"] = resolve_lora(values.get("lora"))
    if values["schedule"] not in ("cosine", "constant"):
        raise ValueError(f"unknown schedule {values['schedule']!r} (cosine or constant)")
    return TrainSettings(**values)


def accumulation_steps(settings: TrainSettings, world_size: int) -> int:
    per_step = settings.micro_batch * world_size
    if settings.global_batch % per_step:
        raise ValueError(f"global_batch {settings.global_batch} is not a multiple of micro_batch {settings.micro_batch} x {world_size} processes")
    return settings.global_batch // per_step


# ---- schedule and data order --------------------------------------------------------------------------------


def learning_rate(step: int, settings: TrainSettings, total_steps: int) -> float:
    """Linear warm-up over warmup_steps, then cosine from lr down to min_lr at the last step (or constant)."""
    peak, warmup = settings.lr, settings.warmup_steps
    if step < warmup:
        return peak * (step + 1) / warmup
    if settings.schedule == "constant":
        return peak
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return settings.min_lr + 0.5 * (peak - settings.min_lr) * (1.0 + math.cos(math.pi * progress))


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
