"""What training leaves behind: the adapter (connector weights, plus the LLM's LoRA when finetuned: written and
loaded by destaflow.models.adapter, loaded whole by DestaModel.from_pretrained) and the resumable training state.

    adapter/                         connector weights (+ lora/ when the LLM has one), in the format of destaflow.models.adapter
    checkpoint/state.pt              connector (+ LoRA), optimiser, step / epoch / position, RNG states per process

Both are written atomically (the adapter folder is replaced whole). The state holds tensors, numbers, strings
and lists only, so it loads with `torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from destaflow.atomic import atomic_path
from destaflow.models.speech_lm import SpeechLM
from destaflow.training.distributed import Env, all_gather_tensors, barrier
from destaflow.training.lora import finetune_fingerprint, has_lora, load_lora_state, lora_state
from destaflow.training.settings import RESUME_KEYS, TrainSettings

log = logging.getLogger(__name__)


def save_state(path: str | Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: str | Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@dataclass
class Progress:
    step: int = 0  # optimiser steps done
    epoch: int = 0  # epochs done
    position: int = 0  # optimiser steps done in the current epoch
    truncated: int = 0  # training targets the token cap cut so far in the current epoch


def resume_fingerprint(settings: TrainSettings, num_train: int) -> str:
    return json.dumps({k: getattr(settings, k) for k in RESUME_KEYS} | finetune_fingerprint(settings) | {"num_train": num_train}, sort_keys=True)


def checkpoint(path: Path, model: SpeechLM, optimizer, progress: Progress, fingerprint: str, env: Env) -> None:
    """Save the resumable state (a collective: every process contributes its RNG states; rank 0 writes)."""
    rng_cpu = all_gather_tensors(env, torch.get_rng_state())
    rng_cuda = all_gather_tensors(env, torch.cuda.get_rng_state(env.device)) if env.device.type == "cuda" else []
    if env.is_main:
        state = {
            "connector": {k: v.detach().cpu() for k, v in model.connector.state_dict().items()},
            **({"lora": lora_state(model)} if has_lora(model) else {}),
            "optimizer": optimizer.state_dict(),
            **asdict(progress),
            "rng_cpu": rng_cpu,
            "rng_cuda": rng_cuda,
            "world_size": env.world_size,
            "fingerprint": fingerprint,
        }
        save_state(path, state)
    barrier(env)


def restore(path: Path, model: SpeechLM, optimizer, fingerprint: str, env: Env) -> Progress:
    state = load_state(path)
    if state["fingerprint"] != fingerprint:
        raise ValueError(
            f"{path} was saved under other training settings or another training set; "
            f"start afresh (resume=False or a new output folder).\n saved: {state['fingerprint']}\n now:   {fingerprint}"
        )
    model.connector.load_state_dict(state["connector"])
    if "lora" in state:
        load_lora_state(model, state["lora"])
    optimizer.load_state_dict(state["optimizer"])
    if state["world_size"] == env.world_size:
        torch.set_rng_state(state["rng_cpu"][env.rank])
        if env.device.type == "cuda" and state["rng_cuda"]:
            torch.cuda.set_rng_state(state["rng_cuda"][env.rank], env.device)
    else:
        log.warning("resuming %d processes from a state of %d: dropout draws will differ", env.world_size, state["world_size"])
    progress = Progress(state["step"], state["epoch"], state["position"], state["truncated"])
    log.info("resuming at step %d (epoch %d, step %d of it)", progress.step, progress.epoch + 1, progress.position)
    return progress
