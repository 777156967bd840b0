"""Scaling: how the heavy stages' wall time and peak memory grow with the number of clips in the corpus.

Stages, each on corpora of every size in --sizes (bench/scaling_worker.py has the details):
  attributes  extract_attributes with whisper_asr, volume, pitch, speech_rate, snr, transcripts removed
  caption     seed transcripts of the attributes manifest, then captioning every seed (in-process LLM)
  encode      encode_corpus: Whisper encoder taps and transcripts in one pass
  train       one epoch of adapter training on the captions (seconds: the epoch's optimiser steps)
The corpus is the demo synthesizer's (config.yaml `demo`, every voice in the train split, no Festival voices),
made once under --work with enough clips per voice for the largest size and reused; the size-N corpus is N of
its clips spread evenly over the voices (both genders and every accent at every size). Each measurement runs in
its own process: its seconds are the timed work only, its peak RSS that process's ru_maxrss, loading included.
A stage's inputs from a stage not asked for are made (not reported) when missing. Per stage, the exponent b of
t = a * n^b (least squares on log t, log n) is called linear for 0.85 <= b <= 1.15.
Usage: .venv/bin/python bench/scaling.py [--sizes 60,120,240,480] [--stages attributes,caption,encode,train] [--threads 2] [--work bench/.scaling]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from run_all import SNAKEMAKE, MeasurementFailed, run_worker

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("scaling_worker.py")
MODELS = ("resources/models/whisper", "resources/models/llm")
# stage -> the stages whose outputs it reads, and what marks a stage's outputs as made (under <work>/n<N>/)
NEEDS = {"attributes": (), "caption": ("attributes",), "encode": (), "train": ("caption", "encode")}
OUTPUT = {"attributes": "attributes/attributes.parquet", "caption": "caption/captions.parquet", "encode": "encode/cache/index.parquet"}


def measure(step: str, arguments: list[str]) -> tuple[dict, int]:
    return run_worker(WORKER, [step, *arguments])


def required(stages: list[str]) -> set[str]:
    """The stages asked for and every stage whose outputs they read."""
    needed, todo = set(), list(stages)
    while todo:
        stage = todo.pop()
        if stage not in needed:
            needed.add(stage)
            todo += NEEDS[stage]
    return needed


def fit(points: list[tuple[int, float]]) -> float | None:
    """b of t = a * n^b, least squares on (log n, log t); None with fewer than two sizes."""
    logs = [(math.log(n), math.log(t)) for n, t in points if t > 0]
    if len({x for x, _ in logs}) < 2:
        return None
    mean_x, mean_y = sum(x for x, _ in logs) / len(logs), sum(y for _, y in logs) / len(logs)
    return sum((x - mean_x) * (y - mean_y) for x, y in logs) / sum((x - mean_x) ** 2 for x, _ in logs)


def growth_word(b: float) -> str:
    return "linear" if 0.85 <= b <= 1.15 else "sub-linear" if b < 0.85 else "super-linear"


def print_summary(rows: list[dict], problems: list[str]) -> None:
    print(f"\n{'stage':<11}{'clips':>7}{'seconds':>10}{'s/clip':>9}{'peak GB':>9}")
    for row in rows:
        print(f"{row['stage']:<11}{row['clips']:>7}{row['seconds']:>10.1f}{row['seconds'] / row['clips']:>9.3f}{row['gb']:>9.2f}")
    print("\ngrowth with clips (t = a * n^b, least squares on log t, log n):")
    for stage in dict.fromkeys(row["stage"] for row in rows):
        mine = sorted((row for row in rows if row["stage"] == stage), key=lambda row: row["clips"])
        b = fit([(row["clips"], row["seconds"]) for row in mine])
        time = f"b = {b:.2f} ({growth_word(b)})" if b is not None else "b = n/a (one size)"
        print(f"{stage:<11}{time:<26} peak {mine[0]['gb']:.2f} GB at {mine[0]['clips']} clips -> {mine[-1]['gb']:.2f} GB at {mine[-1]['clips']}")
    for problem in problems:
        print(f"not measured: {problem.splitlines()[0]}")


def parse_list(known):
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        if unknown := [name for name in names if name not in known]:
            raise argparse.ArgumentTypeError(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(known)}")
        return [name for name in known if name in names]  # in the workflow's order

    return parse


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(n) for n in text.split(",") if n.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are whole numbers of clips, got {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes are at least one clip")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[60, 120, 240, 480], help="corpus sizes in clips, comma-separated")
    parser.add_argument("--stages", type=parse_list(list(NEEDS)), default=list(NEEDS), help="comma-separated subset of " + ",".join(NEEDS))
    parser.add_argument("--threads", type=int, default=2, help="torch threads in every measurement")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".scaling", help="corpus and stage outputs, kept between runs")
    args = parser.parse_args()
    if missing := [path for path in MODELS if not (ROOT / path).exists()]:
        sys.exit(f"missing {', '.join(missing)}; make with: {SNAKEMAKE} {' '.join(missing)}")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    common = [f"--work={work}", f"--threads={args.threads}"]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, {args.threads} torch threads per measurement, "
          f"sizes {','.join(map(str, args.sizes))}, stages {','.join(args.stages)}", flush=True)
    print(f"corpus: {max(args.sizes)} clips under {work} ...", flush=True)
    try:
        result, _ = measure("corpus", [f"--sizes={','.join(map(str, args.sizes))}", *common])
    except MeasurementFailed as error:
        sys.exit(f"corpus: failed, {error}")
    print(f"corpus: {'reused' if result['reused'] else 'synthesized'} {result['units']} clips ({result['seconds']:.1f} s)", flush=True)
    rows, problems, needed = [], [], required(args.stages)
    total = len(args.sizes) * len(args.stages)
    for size in args.sizes:
        for stage in NEEDS:
            asked = stage in args.stages
            if not asked and (stage not in needed or (work / f"n{size}" / OUTPUT[stage]).exists()):
                continue
            label = f"[{len(rows) + len(problems) + 1}/{total}] {stage}" if asked else f"(input) {stage}"
            print(f"{label}, {size} clips ...", end=" ", flush=True)
            try:
                result, peak = measure(stage, [f"--clips={size}", *common])
            except MeasurementFailed as error:
                print("failed", flush=True)
                print(f"  {error}", flush=True)
                if asked:
                    problems.append(f"{stage} at {size} clips: {error}")
                continue
            print(f"{result['seconds']:.1f} s, {peak / 1e9:.2f} GB", flush=True)
            if asked:
                rows.append({"stage": stage, "clips": size, "seconds": result["seconds"], "gb": peak / 1e9})
    print_summary(rows, problems)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
