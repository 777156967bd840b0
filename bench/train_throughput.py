"""Training throughput: the workflow's loop vs a reference-style loop, same data, same start.

Reference style (DeSTA2's training code): every step computes the log-mel of the 30 s padded window, runs the
frozen Whisper encoder, the Q-Former attends to all 1500 frames, and the whole sequence goes through the LLM
with its built-in loss (logits at every position). The workflow: encoder states from the encoder cache,
trimmed to each clip's frames with the padding masked; the LM head only where a label follows and the shared
prompt prefix computed once (SpeechLM.forward). A middle row changes only the taps, to show which part of the
gain comes from caching. A last row runs the workflow with the frozen backbones in bf16 (train.backbone_dtype:
bfloat16, CPU autocast; the connector and its optimiser stay fp32) on a second copy of the model; the reference
rows keep fp32. All rows start from the same connector weights; a fixed batch's loss is computed by the
reference and by the workflow (the reference masking the padding frames, which is the same function), and by
the bf16 workflow, to show the speed-up does not change what is trained.
Usage: .venv/bin/python bench/train_throughput.py [--steps 6] [--batch 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time

import torch

from destaflow.models.whisper_taps import frames_for_duration, tap_layers_for
from destaflow.training.cache import EncoderCache, corpus_caches
from destaflow.training.data import TapSource, full_window_mask, read_examples, text_batch
from destaflow.training.distributed import Env
from destaflow.training.loop import autocast, build_model, optimiser_step
from destaflow.training.settings import resolve_settings


def timed_steps(model, connector_state, examples, taps, settings, steps) -> tuple[float, list[float]]:
    """Seconds per step (first step excluded as warm-up) and the losses, from the given connector weights."""
    model.connector.load_state_dict(connector_state)
    optimizer = torch.optim.AdamW(model.connector.parameters(), lr=settings.lr, betas=settings.betas, weight_decay=settings.weight_decay)
    env, durations, losses = Env(), [], []
    for step in range(steps + 1):
        batch = examples[(step * settings.global_batch) % len(examples):][: settings.global_batch]
        start = time.perf_counter()
        stats = optimiser_step(model, model.connector, optimizer, batch, taps, settings, env)
        if step:
            durations.append(time.perf_counter() - start)
        losses.append(stats.loss_sum / max(stats.tokens, 1))
    return sum(durations) / len(durations), losses


@torch.no_grad()
def fixed_batch_loss(model, examples, taps, settings, full_window: bool) -> float:
    model.eval()
    batch = text_batch(model, examples, settings.max_tokens)
    tapped, mask = taps(examples)
    if full_window:  # the reference attends to 1500 frames; masking the padding makes it the same function
        mask = full_window_mask([frames_for_duration(e["duration"]) for e in examples])
    loss, _ = model(batch.inputs, model.connector(tapped, mask))
    model.train()
    return float(loss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default="results/trainset/train.parquet")
    parser.add_argument("--cache", nargs="+", default=corpus_caches(), help="the corpora's encoder caches (default: every results/encoder_cache/<corpus>)")
    parser.add_argument("--whisper", default="resources/models/whisper")
    parser.add_argument("--llm", default="resources/models/llm")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = resolve_settings({"global_batch": args.batch, "micro_batch": args.batch, "max_tokens": 200,
                                 "tap_layers": tap_layers_for(args.whisper, None), "backbone_dtype": "float32"})
    bf16 = dataclasses.replace(settings, backbone_dtype="bfloat16")
    model = build_model(settings, args.whisper, args.llm, Env())
    bf16_model = build_model(bf16, args.whisper, args.llm, Env())
    start_state = copy.deepcopy(model.connector.state_dict())
    examples = read_examples(args.train)[: args.batch * (args.steps + 1)]
    cached = TapSource(model, EncoderCache(args.cache), trim=True)
    reference = TapSource(model, None, trim=False, whisper_dir=args.whisper)
    print(f"{len(examples)} examples, batch {args.batch}, {args.steps} timed steps, {args.threads} threads")
    rows = (  # name, model, its settings, taps, reference-style LLM pass
        ("reference (encoder every step, 1500 frames)", model, settings, reference, True),
        ("cached + trimmed taps, reference LLM pass", model, settings, cached, True),
        ("workflow (cached taps, trimmed LM head)", model, settings, cached, False),
        ("workflow, bf16 backbones", bf16_model, bf16, cached, False),
    )
    rates = {}
    for name, row_model, row_settings, taps, reference_llm in rows:
        row_model.reference_style = reference_llm
        seconds, losses = timed_steps(row_model, start_state, examples, taps, row_settings, args.steps)
        rates[name] = args.batch / seconds
        print(f"{name:<46}{seconds:>7.2f} s/step{rates[name]:>7.2f} samples/s   losses {' '.join(f'{x:.3f}' for x in losses)}")
    model.connector.load_state_dict(start_state)
    fixed = examples[: args.batch]
    model.reference_style = True
    same_ref = fixed_batch_loss(model, fixed, reference, settings, full_window=True)
    model.reference_style = False
    same_workflow = fixed_batch_loss(model, fixed, cached, settings, full_window=False)
    bf16_model.connector.load_state_dict(start_state)
    with autocast(bf16, Env()):
        same_bf16 = fixed_batch_loss(bf16_model, fixed, cached, bf16, full_window=False)
    print(f"fixed-batch loss: reference {same_ref:.6f}, workflow {same_workflow:.6f} (difference {abs(same_ref - same_workflow):.2e}), "
          f"bf16 workflow {same_bf16:.6f} ({abs(same_bf16 - same_workflow) / same_workflow:.2%} from fp32)")
    reference_rate, taps_only_rate, workflow_rate, bf16_rate = rates.values()
    print(f"ratio cached taps alone / reference: {taps_only_rate / reference_rate:.2f}x samples/s")
    print(f"ratio workflow / reference: {workflow_rate / reference_rate:.2f}x samples/s")
    print(f"ratio bf16 workflow / reference: {bf16_rate / reference_rate:.2f}x samples/s")


if __name__ == "__main__":
    main()
