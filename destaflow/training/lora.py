"""The finetuning stage's additions to the training loop (paper Table IV): a LoRA on the LLM, and a connector
that starts from a trained adapter.

    lora           {enabled, rank 8, alpha 32, dropout 0.05, target_modules [q_proj, k_proj, v_proj]} (DeSTA2's code);
                   null or enabled: false = the LLM stays wholly frozen
    init_adapter   an adapter folder whose connector weights the run starts from ("DeSTA2": the caption-trained
                   adapter, then finetuned); null = a freshly initialised connector ("FT-only")

With neither set the loop is the caption stage, unchanged. With LoRA the optimiser trains the connector and the
LoRA matrices together; everything else stays frozen. The LoRA lives inside the LLM (a peft model), which
save_adapter writes into the adapter's `lora/` folder and the inference loader attaches again.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn

from destaflow.config import schema_defaults
from destaflow.models.adapter import load_adapter_config, load_connector
from destaflow.models.speech_lm import SpeechLM
from destaflow.training.distributed import Env

log = logging.getLogger(__name__)

LORA_DEFAULTS = schema_defaults("finetune")["lora"]
# Connector fields that shape no weight: an adapter trained under other values still fits.
WEIGHTLESS_CONNECTOR_FIELDS = ("dropout", "attn_implementation")


def resolve_lora(block: dict | None) -> dict | None:
    """The LoRA settings with defaults filled in, or None when there is no LoRA."""
    if not block:
        return None
    if unknown := set(block) - set(LORA_DEFAULTS):
        raise ValueError(f"unknown lora settings: {', '.join(sorted(unknown))} (known: {', '.join(LORA_DEFAULTS)})")
    resolved = LORA_DEFAULTS | block
    return resolved if resolved["enabled"] else None


def finetune_fingerprint(settings) -> dict:
    """What a resumed finetuning run must share with the saved one (TrainSettings'); empty for a caption-stage run."""
    return {key: getattr(settings, key) for key in ("lora", "init_adapter") if getattr(settings, key)}


# ---- building the model ----------------------------------------------------------------------------------------


def start_from_adapter(model: SpeechLM, adapter_dir: str | Path) -> None:
    """Copy a trained adapter's connector weights into the model's connector, which must have the same shape."""
    config = load_adapter_config(adapter_dir)
    if config.get("lora"):
        raise ValueError(f"{adapter_dir} already carries a LoRA; start from a connector-only (caption-trained) adapter")
    with torch.random.fork_rng(devices=[]):  # building it draws a throwaway init; the LoRA's init must not shift
        trained = load_connector(adapter_dir, config["connector"])
    wanted, found = dataclasses.asdict(model.connector.config), dataclasses.asdict(trained.config)
    differing = [f"{key} {found.get(key)} (configured {value})" for key, value in wanted.items() if key not in WEIGHTLESS_CONNECTOR_FIELDS and found.get(key) != value]
    if differing:
        raise ValueError(f"{adapter_dir}: its connector does not fit the configured one: {'; '.join(differing)}")
    model.connector.load_state_dict(trained.state_dict())
    log.info("connector initialised from %s", adapter_dir)


def add_lora(model: SpeechLM, lora: dict) -> None:
    """Wrap the LLM in a peft model whose only trainable parameters are the LoRA matrices (kept in fp32)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        task_type="CAUSAL_LM", r=lora["rank"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"], target_modules=list(lora["target_modules"])
    )
    with warnings.catch_warnings():  # peft still asks transformers 5 a deprecated question; nothing for us to change
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model.llm = get_peft_model(model.llm, config)
    log.info("LoRA rank %d on %s: %d trainable LLM parameters", lora["rank"], ", ".join(lora["target_modules"]), sum(p.numel() for p in lora_parameters(model)))


def has_lora(model: SpeechLM) -> bool:
    return hasattr(model.llm, "peft_config")


def train_mode(model: SpeechLM) -> SpeechLM:
    """model.train(), with the LoRA's dropout on: SpeechLM.train keeps the whole LLM in eval mode, LoRA included."""
    model.train()
    for name, module in model.llm.named_modules():
        if name.endswith("lora_dropout"):
            module.train()
    return model


# ---- what the optimiser and the checkpoint see ------------------------------------------------------------------


def lora_parameters(model: SpeechLM) -> list[nn.Parameter]:
    """The LLM's trainable parameters: the LoRA matrices, or nothing without a LoRA."""
    return [p for p in model.llm.parameters() if p.requires_grad]


def trainable_parameters(model: SpeechLM) -> list[nn.Parameter]:
    return [*model.connector.parameters(), *lora_parameters(model)]


def lora_state(model: SpeechLM) -> dict[str, Tensor]:
    return {name: p.detach().cpu() for name, p in model.llm.named_parameters() if p.requires_grad}


def load_lora_state(model: SpeechLM, state: dict[str, Tensor]) -> None:
    parameters = dict(model.llm.named_parameters())
    trainable = {name for name, p in parameters.items() if p.requires_grad}
    if set(state) != trainable:
        missing, unexpected = sorted(trainable - set(state)), sorted(set(state) - trainable)
        raise ValueError(f"the saved LoRA does not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
    with torch.no_grad():
        for name, value in state.items():
            parameters[name].copy_(value)


def average_lora_gradients(model: SpeechLM, env: Env) -> None:
    """DDP averages the connector's gradients over processes; the LoRA lives outside DDP, so average it here."""
    parameters = [p for p in lora_parameters(model) if p.grad is not None]
    if not env.distributed or not parameters:
        return
    flat = torch.cat([p.grad.flatten() for p in parameters])
    dist.all_reduce(flat)
    flat /= env.world_size
    for p, grad in zip(parameters, flat.split([p.numel() for p in parameters])):
        p.grad.copy_(grad.view_as(p.grad))
