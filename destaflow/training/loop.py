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
import csv
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from destaflow.config import schema_defaults
from destaflow.atomic import atomic_path, write_text
from destaflow.models.speech_lm import SpeechLM
from destaflow.runtime import chunks, quiet_loading
from destaflow.training.cache import EncoderCache
from destaflow.models.adapter import save_adapter
from destaflow.training.checkpoint import load_state, save_state
from destaflow.evaluation.probe import PROBE_COLUMNS, likelihood_probe, probe_labels
from destaflow.training.data import TapSource, collate, read_examples, text_batch
from destaflow.training.distributed import Env, all_gather_tensors, all_sum, barrier, close_distributed, init_distributed
from destaflow.training.lora import (
    add_lora,
    average_lora_gradients,
    finetune_fingerprint,
    has_lora,
    load_lora_state,
    lora_state,
    resolve_lora,
    start_from_adapter,
    train_mode,
    trainable_parameters,
)

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
STEP_COLUMNS = ["step", "epoch", "loss", "lr", "tokens", "seconds"]
VALID_COLUMNS = ["epoch", "step", "valid_loss", "valid_tokens", "train_truncated", "valid_truncated"]
PROBE_LOG_COLUMNS = ["epoch", "step", *PROBE_COLUMNS]


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


# ---- model ---------------------------------------------------------------------------------------------------


def build_model(settings: dict, whisper_dir: str, llm_dir: str, env: Env) -> SpeechLM:
    torch.manual_seed(settings["seed"])  # the same connector initialisation in every process
    options = {k: settings[k] for k in CONNECTOR_KEYS if k != "tap_layers" and settings.get(k) is not None}
    with quiet_loading():
        model = SpeechLM.from_pretrained(whisper_dir, llm_dir, settings.get("tap_layers"), **options)
    if env.device.type == "cuda":
        model.llm.to(torch.bfloat16)  # frozen LLM in bf16, the connector stays fp32 (as the paper trains)
    if settings.get("init_adapter"):
        start_from_adapter(model, settings["init_adapter"])
    if settings.get("lora"):
        add_lora(model, settings["lora"])  # after the bf16 cast: peft keeps the LoRA matrices in fp32
    return train_mode(model.to(env.device))


def autocast(env: Env):
    if env.device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class StepStats:
    loss_sum: float  # sum over this process's labelled tokens of their cross-entropy
    tokens: int  # labelled tokens of the whole global batch
    truncated: int  # targets the token cap cut, whole global batch


def forward_backward(model: SpeechLM, connector: nn.Module, examples: list[dict], taps: TapSource, settings: dict, env: Env) -> StepStats:
    """Accumulate this process's gradient for one global batch; `examples` is this process's share."""
    pieces = [(chunk, text_batch(model, chunk, settings["max_tokens"])) for chunk in chunks(examples, settings["micro_batch"])]
    tokens, truncated = all_sum(env, sum(b.tokens for _, b in pieces), sum(b.num_truncated for _, b in pieces))
    loss_sum = 0.0
    for i, (chunk, batch) in enumerate(pieces):
        tapped, mask = taps(chunk)
        last = i == len(pieces) - 1
        with connector.no_sync() if env.distributed and not last else contextlib.nullcontext():
            with autocast(env):
                loss, n = model(batch.inputs, connector(tapped.to(env.device), None if mask is None else mask.to(env.device)))
            (loss * (n * env.world_size / max(tokens, 1.0))).backward()
        loss_sum += float(loss.detach()) * n
    average_lora_gradients(model, env)
    return StepStats(loss_sum, int(tokens), int(truncated))


def optimiser_step(model, connector, optimizer, examples, taps, settings, env) -> StepStats:
    stats = forward_backward(model, connector, examples, taps, settings, env)
    nn.utils.clip_grad_norm_(trainable_parameters(model), settings["grad_clip"])
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    (stats.loss_sum,) = all_sum(env, stats.loss_sum)
    return stats


# ---- evaluation ----------------------------------------------------------------------------------------------


@torch.no_grad()
def validation_loss(model: SpeechLM, examples: list[dict], taps: TapSource, settings: dict, env: Env) -> tuple[float, int, int]:
    """Token-mean loss over the validation examples (split over processes), its tokens and truncated targets."""
    model.eval()
    loss_sum, tokens, truncated = 0.0, 0, 0
    for chunk in chunks(process_share(examples, env), settings["micro_batch"]):
        batch = collate(model, chunk, taps, settings["max_tokens"])
        mask = None if batch.frame_mask is None else batch.frame_mask.to(env.device)
        with autocast(env):
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


def run_probe(model: SpeechLM, clips: list[dict], taps: TapSource, settings: dict, env: Env):
    """The likelihood probe (destaflow.evaluation.probe) on the validation clips: one row per attribute."""

    def embed(chunk: list[dict]):
        tapped, mask = taps(chunk)
        with autocast(env):
            return model.audio_embeddings(tapped.to(env.device), None if mask is None else mask.to(env.device))

    table = likelihood_probe(model, clips, embed, settings["micro_batch"])
    train_mode(model)
    return table


@torch.no_grad()
def generate_samples(model: SpeechLM, examples: list[dict], taps: TapSource, settings: dict, env: Env) -> list[dict]:
    """Greedy answers to the examples' prompts, beside their reference captions."""
    model.eval()
    rows = []
    for chunk in chunks(examples, settings["micro_batch"]):
        inputs = model.build_inputs([e["transcription"] or "" for e in chunk], [e["input"] for e in chunk])
        tapped, mask = taps(chunk)
        with autocast(env):
            embeds = model.audio_embeddings(tapped.to(env.device), None if mask is None else mask.to(env.device))
            answers = model.generate(inputs, embeds, max_new_tokens=settings["sample_tokens"])
        rows += [
            {"id": e["id"], "transcription": e["transcription"], "prompt": e["input"], "reference": e["target"], "generated": answer}
            for e, answer in zip(chunk, answers)
        ]
    train_mode(model)
    return rows


# ---- logs ----------------------------------------------------------------------------------------------------


def tensorboard_writer(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is optional
        return None
    return SummaryWriter(str(path))


class RunLogs:
    """log.csv, valid.csv, samples.jsonl (+ TensorBoard), cut back to the checkpoint a run resumes from.

    Rows are appended and flushed as they come; a run killed mid-line leaves a partial row that the next
    resume drops (the files are rewritten atomically there, keeping only what the checkpoint covers).
    """

    def __init__(self, out: Path, env: Env, step: int, epochs_done: int) -> None:
        self.enabled = env.is_main
        if not self.enabled:
            return
        keep_step = lambda row: int(row["step"]) <= step  # noqa: E731
        keep_epoch = lambda row: int(row["epoch"]) <= epochs_done  # noqa: E731
        self.steps = self._reopen_csv(out / "log.csv", STEP_COLUMNS, keep_step)
        self.valid = self._reopen_csv(out / "valid.csv", VALID_COLUMNS, keep_epoch)
        # the untrained connector's rows (epoch 0) are written again by a run that starts over from step 0
        keep_probe = lambda row: keep_epoch(row) and (step > 0 or int(row["epoch"]) > 0)  # noqa: E731
        self.probe = self._reopen_csv(out / "probe.csv", PROBE_LOG_COLUMNS, keep_probe)
        self.samples = self._reopen_jsonl(out / "samples.jsonl", keep_epoch)
        self.tensorboard = tensorboard_writer(out / "tensorboard")

    @staticmethod
    def _reopen_csv(path: Path, columns: list[str], keep):
        rows = []
        if path.exists():
            with path.open(newline="") as f:
                for row in csv.DictReader(f):
                    try:
                        if None not in row.values() and keep(row):
                            rows.append(row)
                    except ValueError:
                        pass  # a partial last row
        with atomic_path(path) as tmp:
            with tmp.open("w", newline="") as f:
                writer = csv.DictWriter(f, columns)
                writer.writeheader()
                writer.writerows(rows)
        handle = path.open("a", newline="")
        return handle, csv.DictWriter(handle, columns)

    @staticmethod
    def _reopen_jsonl(path: Path, keep):
        lines = []
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    if keep(json.loads(line)):
                        lines.append(line + "\n")
                except (ValueError, KeyError):
                    pass
        with atomic_path(path) as tmp:
            tmp.write_text("".join(lines))
        return path.open("a")

    def step(self, row: dict) -> None:
        if not self.enabled:
            return
        handle, writer = self.steps
        writer.writerow(row)
        handle.flush()
        if self.tensorboard is not None:
            for key in ("loss", "lr", "tokens", "seconds"):
                self.tensorboard.add_scalar(f"train/{key}", row[key], row["step"])

    def epoch(self, row: dict, samples: list[dict]) -> None:
        if not self.enabled:
            return
        handle, writer = self.valid
        writer.writerow(row)
        handle.flush()
        for sample in samples:
            self.samples.write(json.dumps({"epoch": row["epoch"], "step": row["step"], **sample}) + "\n")
        self.samples.flush()
        if self.tensorboard is not None:
            self.tensorboard.add_scalar("valid/loss", row["valid_loss"], row["step"])
            self.tensorboard.add_scalar("train/truncated_targets", row["train_truncated"], row["step"])

    def probed(self, epoch: int, step: int, table) -> None:
        if not self.enabled:
            return
        handle, writer = self.probe
        writer.writerows({"epoch": epoch, "step": step, **row} for row in table.to_dicts())
        handle.flush()
        if self.tensorboard is not None:
            for row in table.to_dicts():
                self.tensorboard.add_scalar(f"probe/{row['attribute']}", row["accuracy"], step)

    def close(self) -> None:
        if self.enabled:
            self.steps[0].close()
            self.valid[0].close()
            self.probe[0].close()
            self.samples.close()
            if self.tensorboard is not None:
                self.tensorboard.close()


# ---- training state ------------------------------------------------------------------------------------------


@dataclass
class Progress:
    step: int = 0  # optimiser steps done
    epoch: int = 0  # epochs done
    position: int = 0  # optimiser steps done in the current epoch
    truncated: int = 0  # training targets the token cap cut so far in the current epoch


def resume_fingerprint(settings: dict, num_train: int) -> str:
    return json.dumps({k: settings.get(k) for k in RESUME_KEYS} | finetune_fingerprint(settings) | {"num_train": num_train}, sort_keys=True)


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
    if s["cache"] and cache_dir is None:
        raise ValueError("cache: true needs the encoder cache folders (or set cache: false for the reference loop)")
    env = init_distributed()
    try:
        return _train(s, env, whisper_dir, llm_dir, train_parquet, valid_parquet, cache_dir, Path(out_dir), resume, max_steps)
    finally:
        close_distributed(env)


def _train(s, env, whisper_dir, llm_dir, train_parquet, valid_parquet, cache_dir, out, resume, max_steps) -> dict:
    if s["threads"]:
        torch.set_num_threads(s["threads"])
    model = build_model(s, whisper_dir, llm_dir, env)
    taps = TapSource(model, EncoderCache(cache_dir) if s["cache"] else None, s["trim"], whisper_dir)
    train, valid = usable_examples(taps, train_parquet, env), usable_examples(taps, valid_parquet, env)
    valid = valid[: s["valid_limit"]] if s["valid_limit"] else valid
    probed = probe_clips(valid, s["probe_clips"], s["seed"]) if env.is_main and s["probe_clips"] else []
    if not train:
        raise ValueError(f"no usable training examples in {train_parquet}")
    accumulation = accumulation_steps(s, env.world_size)
    steps_per_epoch = math.ceil(len(train) / s["global_batch"])
    total_steps = s["epochs"] * steps_per_epoch
    if env.is_main:
        log.info(
            "training the connector (%d parameters) on %d examples: %d epochs x %d steps, global batch %d = %d x %d accumulation x %d processes",
            sum(p.numel() for p in model.connector.parameters()), len(train), s["epochs"], steps_per_epoch,
            s["global_batch"], s["micro_batch"], accumulation, env.world_size,
        )

    connector = DistributedDataParallel(model.connector, device_ids=[env.device] if env.device.type == "cuda" else None) if env.distributed else model.connector
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=s["lr"], betas=tuple(s["betas"]), weight_decay=s["weight_decay"])
    torch.manual_seed(s["seed"] + env.rank)  # the dropout stream, one per process
    state_path, fingerprint = out / "checkpoint" / "state.pt", resume_fingerprint(s, len(train))
    progress = restore(state_path, model, optimizer, fingerprint, env) if resume and state_path.exists() else Progress()
    logs = RunLogs(out, env, progress.step, progress.epoch)
    save = lambda: checkpoint(state_path, model, optimizer, progress, fingerprint, env)  # noqa: E731
    summary = {"steps": progress.step, "epochs": progress.epoch, "total_steps": total_steps, "stopped_early": False, "adapter": str(out / "adapter")}
    bar = tqdm(total=total_steps, initial=progress.step, desc="training", unit="step", disable=not env.is_main)
    if probed and progress.step == 0:  # the untrained connector: what the transcript and the LLM's priors give
        logs.probed(0, 0, run_probe(model, probed, taps, s, env))

    try:
        while progress.epoch < s["epochs"]:
            order = epoch_order(len(train), s["seed"], progress.epoch)
            while progress.position < steps_per_epoch:
                if max_steps is not None and progress.step >= max_steps:
                    save()
                    return summary | {"steps": progress.step, "epochs": progress.epoch, "stopped_early": True}
                indices = process_share(global_batch_indices(order, progress.position, s["global_batch"]), env)
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
                if progress.step % s["log_every"] == 0 or progress.step == 1:
                    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}")
                    log.info("step %d/%d epoch %d loss %.4f lr %.3g (%.2f s)", progress.step, total_steps, progress.epoch + 1, loss, lr, row["seconds"])
                summary["train_loss"] = loss
                if s["checkpoint_every"] and progress.step % s["checkpoint_every"] == 0:
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
    samples = generate_samples(model, valid[: s["eval_samples"]], taps, s, env) if env.is_main and s["eval_samples"] else []
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
