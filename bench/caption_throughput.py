"""Batched captioning vs one prompt at a time, on the same prompts and sample seeds (tokens/s and ratio).

Usage: .venv/bin/python bench/caption_throughput.py [--llm resources/models/llm] [--clips 32] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import time

import polars as pl
import torch

from destaflow.captioning import CaptionSettings, TransformersBackend
from destaflow.captioning.backends import load_tokenizer
from destaflow.config import load_config
from destaflow.template import caption_context


def run(backend: TransformersBackend, prompts: list[str], batch_size: int, seed: int) -> tuple[float, int, list[str]]:
    """Seconds, new tokens and captions; prompt i samples with seed + i whatever the batch size. A first prompt
    runs untimed (the first call through the model pays for allocations)."""
    backend.generate(prompts[:1], seed)
    start, outcomes = time.perf_counter(), []
    for index in range(0, len(prompts), batch_size):
        outcomes += backend.generate(prompts[index : index + batch_size], seed + index)
    seconds = time.perf_counter() - start
    return seconds, sum(getattr(o, "n_tokens", 0) for o in outcomes), [getattr(o, "text", None) for o in outcomes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default="resources/models/llm")
    parser.add_argument("--seeds", default="results/seeds/demo.parquet")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = CaptionSettings.of(load_config("config.yaml")["caption"] | {"max_new_tokens": args.max_new_tokens})
    tokenizer = load_tokenizer(args.llm)
    seeds = pl.read_parquet(args.seeds).head(args.clips)["seed"].to_list()
    prompts = [caption_context(tokenizer, seed, settings.prompt, settings.system) for seed in seeds]
    backend = TransformersBackend(args.llm, settings)
    print(f"{len(prompts)} prompts, max_new_tokens {args.max_new_tokens}, T={settings.temperature} top_p={settings.top_p}, {args.threads} threads")
    results, captions = {}, {}
    for name, batch_size in (("one at a time (baseline)", 1), (f"batched ({args.batch_size})", args.batch_size)):
        seconds, tokens, captions[name] = run(backend, prompts, batch_size, settings.seed)
        results[name] = tokens / seconds
        print(f"{name:<28}{seconds:>8.1f} s{tokens:>8} tokens{tokens / seconds:>9.1f} tokens/s{len(prompts) / seconds:>8.2f} captions/s")
    baseline, batched = results.values()
    same = sum(a == b for a, b in zip(*captions.values()))
    print(f"ratio batched / one-at-a-time: {batched / baseline:.1f}x tokens/s; the same caption for {same} of {len(prompts)} prompts")


if __name__ == "__main__":
    main()
