"""Caption coverage per captioning LLM: share of captions naming each attribute value their seed carried.

Runs the real captioning backend (paper decoding unless overridden) on the same seed transcripts for each
LLM folder given, and prints coverage of gender, speaking speed, pitch and volume side by side.
Usage: .venv/bin/python bench/caption_coverage.py --llm resources/models/llm --llm /path/to/qwen [--clips 24]
"""

from __future__ import annotations

import argparse
import json
import time

import polars as pl

from destaflow.captioning import CaptionSettings, TransformersBackend
from destaflow.captioning.backends import load_tokenizer
from destaflow.captioning.prompts import prompt_pool
from destaflow.config import load_config
from destaflow.coverage import covers
from destaflow.models.sources import model_name
from destaflow.template import caption_context

ATTRIBUTES = ("gender", "speaking_speed", "pitch", "volume")


def caption_all(llm_dir: str, seeds: list[str], settings: CaptionSettings) -> tuple[list[str], float, int]:
    backend = TransformersBackend(llm_dir, settings)
    tokenizer = load_tokenizer(llm_dir)
    pool = prompt_pool(settings)
    prompts = [caption_context(tokenizer, seed, pool[i % len(pool)], settings.system) for i, seed in enumerate(seeds)]
    start, captions, tokens = time.perf_counter(), [], 0
    for index in range(0, len(prompts), settings.batch_size):
        for outcome in backend.generate(prompts[index : index + settings.batch_size], settings.seed + index):
            captions.append(getattr(outcome, "text", ""))
            tokens += getattr(outcome, "n_tokens", 0)
    return captions, time.perf_counter() - start, tokens


def known_hits(captions: list[str | None], values: list[str | None], attribute: str) -> list[bool]:
    """Per caption whose seed knew the attribute: does the caption name that value and no other?"""
    hits = [covers(caption or "", attribute, value) for caption, value in zip(captions, values)]
    return [hit for hit in hits if hit is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", action="append", required=True, help="prepared LLM folder (repeat to compare)")
    parser.add_argument("--seeds", default="results/seeds/demo.parquet")
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--top-p", type=float)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--system", help="system message (the paper uses none)")
    parser.add_argument("--prompt", action="append", help="captioning prompt (repeat for a pool: seed i gets prompt i mod pool size)")
    parser.add_argument("--repetition-penalty", type=float)
    parser.add_argument("--show", type=int, default=2, help="example captions to print per LLM")
    parser.add_argument("--save", help="JSON-lines file for every seed, caption and the settings, to read or rescore")
    args = parser.parse_args()
    settings = load_config("config.yaml")["caption"] | {"max_new_tokens": args.max_new_tokens, "batch_size": args.clips, "prompts": args.prompt}
    overrides = (("temperature", args.temperature), ("top_p", args.top_p), ("system", args.system), ("repetition_penalty", args.repetition_penalty))
    for key, value in overrides:
        if value is not None:
            settings[key] = value
    table = pl.read_parquet(args.seeds).filter(pl.col("split") == "train").sample(args.clips, seed=0)
    print(f"{args.clips} seeds from {args.seeds}; temperature {settings['temperature']}, top_p {settings['top_p']}, "
          f"repetition_penalty {settings['repetition_penalty']}, max_new_tokens {settings['max_new_tokens']}, system {settings['system']!r}, "
          f"prompts {settings['prompts'] or [settings['prompt']]}")
    print(f"{'llm':<40}" + "".join(f"{a:>16}" for a in ATTRIBUTES) + f"{'tokens/s':>10}")
    for llm in args.llm:
        captions, seconds, tokens = caption_all(llm, table["seed"].to_list(), CaptionSettings.of(settings))
        shares = []
        for attribute in ATTRIBUTES:
            known = known_hits(captions, table[attribute].to_list(), attribute)
            shares.append(f"{sum(known) / len(known):>15.0%} " if known else f"{'-':>16}")
        print(f"{model_name(llm)[:39]:<40}" + "".join(shares) + f"{tokens / seconds:>10.1f}")
        for seed, caption in list(zip(table["seed"], captions))[: args.show]:
            print(f"    seed: {seed}\n    caption: {caption[:300]!r}")
        if args.save:
            with open(args.save, "a") as out:
                for seed, caption in zip(table["seed"], captions):
                    out.write(json.dumps({"llm": model_name(llm), "seed": seed, "caption": caption, "settings": settings}) + "\n")


if __name__ == "__main__":
    main()
