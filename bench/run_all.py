"""Every pipeline stage's optimised path beside its naive baseline: wall time, peak RSS, throughput, ratio.

Stages: caption (batched vs one prompt at a time, tokens/s), attributes (batched, Whisper on fitted windows,
vs per clip on 30 s windows; clips/s and x real time), train (cached + trimmed encoder states, backbones in
config.yaml's dtype, vs DeSTA2's loop in float32 with the encoder every step on 30 s windows; samples/s),
inference (batched vs per-clip answering with the trained speech LM, clips/s). Beside each ratio: whether the
two sides gave the same outputs (captions, transcripts and their word error rate, losses, answers). Each measurement
runs in its own process (bench/stage_workers.py); its peak RSS is that process's ru_maxrss, model loading
included; its wall time is the timed work only. A stage whose inputs are missing is skipped with the command
that makes them, and the exit status is then 1.
Usage: .venv/bin/python bench/run_all.py [--quick] [--stages caption,attributes,train,inference] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("stage_workers.py")
SNAKEMAKE = ".venv/bin/snakemake --cores 2"


@dataclass(frozen=True)
class Stage:
    name: str
    unit: str  # what the throughput counts, per second
    optimised: str
    baseline: str
    inputs: tuple[str, ...]  # paths relative to the repository root


STAGES = {
    "caption": Stage("caption", "tok", "batched", "one-at-a-time", ("resources/models/llm", "results/seeds/demo.parquet")),
    "attributes": Stage("attributes", "clips", "batched", "per-clip", ("resources/models/whisper", "results/corpora/demo.parquet")),
    "train": Stage("train", "samples", "cached", "encoder-every-step", ("resources/models/whisper", "resources/models/llm",
                                                                         "results/trainset/train.parquet", "results/encoder_cache/demo",
                                                                         "results/encoder_cache/augmented")),
    "inference": Stage("inference", "clips", "batched", "per-clip", ("results/adapter/adapter", "results/corpora/demo.parquet")),
}

# worker options per stage: (default sizes, --quick sizes)
SIZES = {
    "caption": ({"clips": 32, "max-new-tokens": 64}, {"clips": 8, "max-new-tokens": 16}),
    "attributes": ({"clips": 32}, {"clips": 8}),
    "train": ({"steps": 6, "batch": 4}, {"steps": 2, "batch": 2}),
    "inference": ({"clips": 16, "max-new-tokens": 16}, {"clips": 4, "max-new-tokens": 8}),
}


@dataclass(frozen=True)
class Measurement:
    seconds: float
    units: float
    peak_rss_bytes: int
    audio_seconds: float | None = None
    outputs: tuple = ()  # captions, transcripts, answers in item order, or the loss on a fixed batch
    quality: dict | None = None  # e.g. transcripts' word error rate against the corpus labels

    @property
    def rate(self) -> float:
        return self.units / self.seconds

    def describe(self, label: str, unit: str) -> str:
        real_time = f" ({self.audio_seconds / self.seconds:.1f}x real time)" if self.audio_seconds else ""
        return f"{label} {self.rate:.2f} {unit}/s{real_time}  {self.seconds:.1f} s  {self.peak_rss_bytes / 1e9:.2f} GB"


class MeasurementFailed(RuntimeError):
    pass


def snakemake_target(path: str) -> str:
    """The workflow target that produces a missing input (the demo workflow, bin/demo, makes all of them)."""
    if path.startswith("results/adapter"):
        return "results/adapter"
    return path


def missing_inputs(stage: Stage) -> list[str]:
    return [path for path in stage.inputs if not (ROOT / path).exists()]


def worker_arguments(stage: str, quick: bool, threads: int) -> list[str]:
    sizes = SIZES[stage][1 if quick else 0]
    return [f"--{key}={value}" for key, value in sizes.items()] + [f"--threads={threads}"]


def run_worker(worker: Path, arguments: list[str]) -> tuple[dict, int]:
    """Run a bench worker in a fresh interpreter: its last RESULT line and its peak RSS in bytes (wait4's rusage
    for that child alone)."""
    env = os.environ | {"TOKENIZERS_PARALLELISM": "false"}
    with subprocess.Popen([sys.executable, str(worker), *arguments], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    results = [line.removeprefix("RESULT ") for line in output.splitlines() if line.startswith("RESULT ")]
    if process.returncode or not results:
        tail = "\n    ".join(output.splitlines()[-15:])
        raise MeasurementFailed(f"{worker.name} {' '.join(arguments)} exited with {process.returncode}:\n    {tail}")
    return json.loads(results[-1]), usage.ru_maxrss * 1024


def measure(stage: str, variant: str, arguments: list[str]) -> Measurement:
    result, peak = run_worker(WORKER, [stage, variant, *arguments])
    return Measurement(result["seconds"], result["units"], peak, result.get("audio_seconds"),
                       tuple(result.get("outputs", ())), result.get("quality"))


def compare_outputs(optimised: Measurement, baseline: Measurement) -> str:
    """Whether the two sides produced the same: texts equal item by item, or losses' largest relative gap."""
    pairs = list(zip(optimised.outputs, baseline.outputs))
    if not pairs:
        return "outputs not compared"
    if all(isinstance(a, float) and isinstance(b, float) for a, b in pairs):
        return f"loss on a fixed batch {max(abs(a - b) / abs(b) for a, b in pairs):.2%} apart"
    text = f"same output {sum(a == b for a, b in pairs)}/{len(pairs)}"
    for name in optimised.quality or {}:
        text += f", {name} {optimised.quality[name]:.3f} vs {baseline.quality[name]:.3f}"
    return text


def run_stage(stage: Stage, arguments: list[str]) -> tuple[Measurement, Measurement]:
    print(f"{stage.name}: measuring ({' '.join(arguments)}) ...", flush=True)
    optimised = measure(stage.name, "optimised", arguments)
    baseline = measure(stage.name, "baseline", arguments)
    print(f"{stage.name:<11}{optimised.describe(stage.optimised, stage.unit)} | {baseline.describe(stage.baseline, stage.unit)}"
          f" | ratio {optimised.rate / baseline.rate:.2f}x | {compare_outputs(optimised, baseline)}", flush=True)
    return optimised, baseline


def print_summary(results: dict[str, tuple[Measurement, Measurement]], problems: dict[str, str]) -> None:
    print(f"\n{'stage':<11}{'unit/s':>9}{'optimised':>11}{'baseline':>10}{'ratio':>8}{'opt s':>8}{'base s':>8}{'opt GB':>8}{'base GB':>8}  outputs")
    for name, (optimised, baseline) in results.items():
        print(f"{name:<11}{STAGES[name].unit:>9}{optimised.rate:>11.2f}{baseline.rate:>10.2f}{optimised.rate / baseline.rate:>7.2f}x"
              f"{optimised.seconds:>8.1f}{baseline.seconds:>8.1f}{optimised.peak_rss_bytes / 1e9:>8.2f}{baseline.peak_rss_bytes / 1e9:>8.2f}"
              f"  {compare_outputs(optimised, baseline)}")
    for name, problem in problems.items():
        print(f"{name:<11}not measured: {problem.splitlines()[0]}")


def parse_stages(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in STAGES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smallest sizes, for a smoke run")
    parser.add_argument("--stages", type=parse_stages, default=list(STAGES), help="comma-separated subset of " + ",".join(STAGES))
    parser.add_argument("--threads", type=int, default=2, help="torch threads in every measurement")
    args = parser.parse_args()
    # another process on the cores slows every number; with more torch threads than free cores, unevenly
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, {args.threads} torch threads per measurement, "
          f"{'quick' if args.quick else 'default'} sizes", flush=True)
    results, problems = {}, {}
    for name in args.stages:
        stage = STAGES[name]
        if missing := missing_inputs(stage):
            problems[name] = f"missing {', '.join(missing)}; make with: {SNAKEMAKE} {' '.join(dict.fromkeys(map(snakemake_target, missing)))}"
            print(f"{name}: skipped, {problems[name]} (or bin/demo for the whole demo)", flush=True)
            continue
        try:
            results[name] = run_stage(stage, worker_arguments(name, args.quick, args.threads))
        except MeasurementFailed as error:
            problems[name] = str(error)
            print(f"{name}: failed, {error}", flush=True)
    print_summary(results, problems)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
