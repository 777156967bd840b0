"""The adapter training loop: only the connector learns; Whisper and the LLM stay frozen.

The finetuning stage (settings `lora` and `init_adapter`, see destaflow.training.lora) adds a LoRA on the LLM,
trained with the connector, and may start the connector from a trained adapter.

One optimiser step, in every process:

    global batch  = global_batch examples from this epoch's seeded permutation (the last one wraps around)
    this process  = every world_size-th of them, cut into micro-batches of micro_batch
    tokens        = labelled tokens of the whole global batch (counted first, summed over processes)
    each micro    : taps -> connector -> frozen LLM -> loss; backward(loss * n_micro * world_size / tokens)
                    (DDP averages over processes, so the gradient is that of the global batch's token mean,
                    whatever the split into processes and micro-batches)
    then          : clip to grad_clip, AdamW step at the warm-up + cosine learning rate of this step

The permutation of epoch e depends only on (seed, e), and the state records how many steps of the epoch are
done and every process's RNG state (connector dropout), so a resumed run takes the same steps with the same
losses as one that never stopped.

Outputs in out_dir: log.csv (one row per optimiser step), valid.csv (one row per epoch), samples.jsonl
(greedy answers on a few validation clips per epoch), adapter/, checkpoint/state.pt, summary.json, and
TensorBoard events under tensorboard/ when torch.utils.tensorboard imports.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from destaflow.atomic import write_text
from destaflow.evaluation.probe import likelihood_probe, probe_labels
from destaflow.models.adapter import save_adapter
from destaflow.decoding import Decoding
from destaflow.models.speech_lm import SpeechLM
from destaflow import runtime
from destaflow.runtime import chunks, quiet_loading
from destaflow.training.cache import EncoderCache
from destaflow.training.checkpoint import Progress, checkpoint, restore, resume_fingerprint
from destaflow.training.data import TapSource, collate, read_examples, text_batch
from destaflow.training.distributed import Env, all_sum, barrier, close_distributed, init_distributed
from destaflow.training.lora import add_lora, average_lora_gradients, start_from_adapter, train_mode, trainable_parameters
from destaflow.training.runlog import RunLogs
from destaflow.training.settings import (
    TrainSettings,
    accumulation_steps,
    epoch_order,
    global_batch_indices,
    learning_rate,
    process_share,
    resolve_settings,
)

log = logging.getLogger(__name__)



# ---- model ---------------------------------------------------------------------------------------------------


def build_model(settings: TrainSettings, whisper_dir: str, llm_dir: str, env: Env) -> SpeechLM:
    torch.manual_seed(settings.seed)  # the same connector initialisation in every process
    with quiet_loading():
        model = SpeechLM.from_pretrained(whisper_dir, llm_dir, settings.tap_layers, **settings.connector_options())
    dtype = backbone_dtype(settings, env)
    if dtype != torch.float32:  # the frozen backbones in bf16; the connector stays fp32 (as the paper trains)
        model.llm.to(dtype)
        model.whisper.to(dtype)
    if settings.init_adapter:
        start_from_adapter(model, settings.init_adapter)
    if settings.lora:
        add_lora(model, settings.lora)  # after the bf16 cast: peft keeps the LoRA matrices in fp32
    return train_mode(model.to(env.device))


def backbone_dtype(settings: TrainSettings, env: Env) -> torch.dtype:
    return runtime.backbone_dtype(settings.backbone_dtype, env.device)


def autocast(settings: TrainSettings, env: Env):
    """Matmuls in the backbones' dtype, the connector's included (its weights and gradients stay fp32)."""
    dtype = backbone_dtype(settings, env)
    return contextlib.nullcontext() if dtype == torch.float32 else torch.autocast(env.device.type, dtype=dtype)


@dataclass
class StepStats:
    loss_sum: float  # sum over this process's labelled tokens of their cross-entropy
    tokens: int  # labelled tokens of the whole global batch
    truncated: int  # targets the token cap cut, whole global batch


def forward_backward(model: SpeechLM, connector: nn.Module, examples: list[dict], taps: TapSource, settings: TrainSettings, env: Env) -> StepStats:
    """Accumulate this process's gradient for one global batch; `examples` is this process's share."""
    pieces = [(chunk, text_batch(model, chunk, settings.max_tokens)) for chunk in chunks(examples, settings.micro_batch)]
    tokens, truncated = all_sum(env, sum(b.tokens for _, b in pieces), sum(b.num_truncated for _, b in pieces))
    loss_sum = 0.0
    for i, (chunk, batch) in enumerate(pieces):
        tapped, mask = taps(chunk)
        last = i == len(pieces) - 1
        with connector.no_sync() if env.distributed and not last else contextlib.nullcontext():
            with autocast(settings, env):
                loss, n = model(batch.inputs, connector(tapped.to(env.device), None if mask is None else mask.to(env.device)))
            (loss * (n * env.world_size / max(tokens, 1.0))).backward()
        loss_sum += float(loss.detach()) * n
    average_lora_gradients(model, env)
    return StepStats(loss_sum, int(tokens), int(truncated))


def optimiser_step(model, connector, optimizer, examples, taps, settings, env) -> StepStats:
    stats = forward_backward(model, connector, examples, taps, settings, env)
    nn.utils.clip_grad_norm_(trainable_parameters(model), settings.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    (stats.loss_sum,) = all_sum(env, stats.loss_sum)
    return stats


# ---- evaluation ----------------------------------------------------------------------------------------------


@torch.no_grad()
def validation_loss(model: SpeechLM, examples: list[dict], taps: TapSource, settings: TrainSettings, env: Env) -> tuple[float, int, int]:
    """Token-mean loss over the validation examples (split over processes), its tokens and truncated targets."""
    model.eval()
    loss_sum, tokens, truncated = 0.0, 0, 0
    for chunk in chunks(process_share(examples, env), settings.micro_batch):
        batch = collate(model, chunk, taps, settings.max_tokens)
        mask = None if batch.frame_mask is None else batch.frame_mask.to(env.device)
        with autocast(settings, env):
            loss, n = model(batch.inputs, model.audio_embeddings(batch.tapped.to(env.device), mask))
        loss_sum, tokens, truncated = loss_sum + float(loss) * n, tokens + n, truncated + batch.num_truncated
    train_mode(model)
    loss_sum, tokens, truncated = all_sum(env, loss_sum, tokens, truncated)
    return (loss_sum / tokens if tokens else float("nan")), int(tokens), int(truncated)


def probe_clips(examples: list[dict], limit: int, seed: int) -> list[dict]:
    """Up to `limit` distinct validation clips whose seed states a probed attribute, drawn evenly (seeded)."""
    clips: dict[str, dict] = {}
    for example in examples:
        labels = probe_labels(example["seed"]) if example.get("seed") else {}
        if labels and example["id"] not in clips:
            clips[example["id"]] = example | {"labels": labels}
    chosen = sorted(clips)
    return [clips[i] for i in sorted(random.Random(seed).sample(chosen, min(limit, len(chosen))))]


def run_probe(model: SpeechLM, clips: list[dict], taps: TapSource, settings: TrainSettings, env: Env):
    """The likelihood probe (destaflow.evaluation.probe) on the validation clips: one row per attribute."""

    def embed(chunk: list[dict]):
        tapped, mask = taps(chunk)
        with autocast(settings, env):
            return model.audio_embeddings(tapped.to(env.device), None if mask is None else mask.to(env.device))

    table = likelihood_probe(model, clips, embed, settings.micro_batch)
    train_mode(model)
    return table


@torch.no_grad()
def generate_samples(model: SpeechLM, examples: list[dict], taps: TapSource, settings: TrainSettings, env: Env) -> list[dict]:
    """Greedy answers to the examples' prompts, beside their reference captions."""
    model.eval()
    rows = []
    for chunk in chunks(examples, settings.micro_batch):
        inputs = model.build_inputs([e["transcription"] or "" for e in chunk], [e["input"] for e in chunk])
        tapped, mask = taps(chunk)
        with autocast(settings, env):
            embeds = model.audio_embeddings(tapped.to(env.device), None if mask is None else mask.to(env.device))
            answers = model.generate(inputs, embeds, Decoding.greedy(settings.sample_tokens))
        rows += [
            {"id": e["id"], "transcription": e["transcription"], "prompt": e["input"], "reference": e["target"], "generated": answer}
            for e, answer in zip(chunk, answers)
        ]
    train_mode(model)
    return rows


# ---- the loop ------------------------------------------------------------------------------------------------


def usable_examples(taps: TapSource, parquet: str, env: Env) -> list[dict]:
    examples = read_examples(parquet)
    usable = taps.usable(examples)
    if len(usable) < len(examples) and env.is_main:
        log.warning("%s: %d of %d examples left out, their clips are quarantined in the encoder cache", parquet, len(examples) - len(usable), len(examples))
    return usable


def train_adapter(
    settings: dict,
    whisper_dir: str,
    llm_dir: str,
    train_parquet: str,
    valid_parquet: str,
    cache_dir: str | list[str] | None,
    out_dir: str,
    resume: bool = True,
    max_steps: int | None = None,
) -> dict:
    """Train the connector; return a summary. `max_steps` stops early (with a checkpoint) after that many steps."""
    s = resolve_settings(settings)
    if s.cache and cache_dir is None:
        raise ValueError("cache: true needs the encoder cache folders (or set cache: false for the reference loop)")
    env = init_distributed()
    try:
        return _train(s, env, whisper_dir, llm_dir, train_parquet, valid_parquet, cache_dir, Path(out_dir), resume, max_steps)
    finally:
        close_distributed(env)


def _train(s, env, whisper_dir, llm_dir, train_parquet, valid_parquet, cache_dir, out, resume, max_steps) -> dict:
    if s.threads:
        torch.set_num_threads(s.threads)
    model = build_model(s, whisper_dir, llm_dir, env)
    taps = TapSource(model, EncoderCache(cache_dir) if s.cache else None, s.trim, whisper_dir)
    train, valid = usable_examples(taps, train_parquet, env), usable_examples(taps, valid_parquet, env)
    valid = valid[: s.valid_limit] if s.valid_limit else valid
    probed = probe_clips(valid, s.probe_clips, s.seed) if env.is_main and s.probe_clips else []
    if not train:
        raise ValueError(f"no usable training examples in {train_parquet}")
    accumulation = accumulation_steps(s, env.world_size)
    steps_per_epoch = math.ceil(len(train) / s.global_batch)
    total_steps = s.epochs * steps_per_epoch
    if env.is_main:
        log.info(
            "training the connector (%d parameters) on %d examples: %d epochs x %d steps, global batch %d = %d x %d accumulation x %d processes",
            sum(p.numel() for p in model.connector.parameters()), len(train), s.epochs, steps_per_epoch,
            s.global_batch, s.micro_batch, accumulation, env.world_size,
        )

    connector = DistributedDataParallel(model.connector, device_ids=[env.device] if env.device.type == "cuda" else None) if env.distributed else model.connector
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=s.lr, betas=s.betas, weight_decay=s.weight_decay)
    torch.manual_seed(s.seed + env.rank)  # the dropout stream, one per process
    state_path, fingerprint = out / "checkpoint" / "state.pt", resume_fingerprint(s, len(train))
    progress = restore(state_path, model, optimizer, fingerprint, env) if resume and state_path.exists() else Progress()
    logs = RunLogs(out, env, progress.step, progress.epoch)
    save = lambda: checkpoint(state_path, model, optimizer, progress, fingerprint, env)  # noqa: E731
    summary = {"steps": progress.step, "epochs": progress.epoch, "total_steps": total_steps, "stopped_early": False, "adapter": str(out / "adapter")}
    bar = tqdm(total=total_steps, initial=progress.step, desc="training", unit="step", disable=not env.is_main)
    if probed and progress.step == 0:  # the untrained connector: what the transcript and the LLM's priors give
        logs.probed(0, 0, run_probe(model, probed, taps, s, env))

    try:
        while progress.epoch < s.epochs:
            order = epoch_order(len(train), s.seed, progress.epoch)
            while progress.position < steps_per_epoch:
                if max_steps is not None and progress.step >= max_steps:
                    save()
                    return summary | {"steps": progress.step, "epochs": progress.epoch, "stopped_early": True}
                indices = process_share(global_batch_indices(order, progress.position, s.global_batch), env)
                lr = learning_rate(progress.step, s, total_steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                started = time.perf_counter()
                stats = optimiser_step(model, connector, optimizer, [train[i] for i in indices], taps, s, env)
                progress.step, progress.position = progress.step + 1, progress.position + 1
                progress.truncated += stats.truncated
                loss = stats.loss_sum / max(stats.tokens, 1)
                row = {"step": progress.step, "epoch": progress.epoch + 1, "loss": loss, "lr": lr, "tokens": stats.tokens, "seconds": time.perf_counter() - started}
                logs.step(row)
                bar.update()
                if progress.step % s.log_every == 0 or progress.step == 1:
                    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}")
                    log.info("step %d/%d epoch %d loss %.4f lr %.3g (%.2f s)", progress.step, total_steps, progress.epoch + 1, loss, lr, row["seconds"])
                summary["train_loss"] = loss
                if s.checkpoint_every and progress.step % s.checkpoint_every == 0:
                    save()
                    if env.is_main:
                        save_adapter(model, out / "adapter", whisper_dir, llm_dir, {"epoch": progress.epoch, "step": progress.step})
            summary |= end_of_epoch(model, valid, taps, s, env, progress, logs, out, whisper_dir, llm_dir, probed)
            progress.epoch, progress.position, progress.truncated = progress.epoch + 1, 0, 0
            save()
        summary |= {"steps": progress.step, "epochs": progress.epoch}
        if env.is_main:
            write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
        return summary
    finally:
        bar.close()
        logs.close()


def end_of_epoch(model, valid, taps, s, env, progress: Progress, logs: RunLogs, out: Path, whisper_dir, llm_dir, probed: list[dict]) -> dict:
    """Validation loss, the likelihood probe, a few generated samples, the adapter; returns what the summary should show."""
    epoch = progress.epoch + 1
    valid_loss, valid_tokens, valid_truncated = validation_loss(model, valid, taps, s, env) if valid else (float("nan"), 0, 0)
    samples = generate_samples(model, valid[: s.eval_samples], taps, s, env) if env.is_main and s.eval_samples else []
    row = {
        "epoch": epoch, "step": progress.step, "valid_loss": valid_loss, "valid_tokens": valid_tokens,
        "train_truncated": progress.truncated, "valid_truncated": valid_truncated,
    }
    logs.epoch(row, samples)
    if probed:
        table = run_probe(model, probed, taps, s, env)
        logs.probed(epoch, progress.step, table)
        log.info("epoch %d: likelihood probe on %d validation clips: %s", epoch, len(probed),
                 ", ".join(f"{r['attribute']} {r['accuracy']:.0f} % (n {r['n']})" for r in table.to_dicts()))
    if env.is_main:
        log.info("epoch %d: valid loss %.4f; targets cut by the token cap: %d train, %d valid", epoch, valid_loss, progress.truncated, valid_truncated)
        save_adapter(model, out / "adapter", whisper_dir, llm_dir, {"epoch": epoch, "step": progress.step, "valid_loss": valid_loss})
    barrier(env)
    return {"valid_loss": valid_loss, "train_truncated": progress.truncated, "valid_truncated": valid_truncated}
