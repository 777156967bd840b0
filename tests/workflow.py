"""Helpers for tests that run the real Snakemake workflow in a scratch directory."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [*SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), *args]
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def planned_jobs(dry_run_output: str, with_inputs: bool = False) -> dict[str, list[dict[str, str]]]:
    """rule -> list of its planned jobs' resources, parsed from `snakemake -n` output; `with_inputs` adds the
    job's comma-separated input paths under the key "input"."""
    jobs: dict[str, list[dict[str, str]]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", dry_run_output):
        header = re.match(r"(?:local)?rule (\w+):", block)
        if not header:
            continue
        resources = re.search(r"^\s+resources: (.*)$", block, re.MULTILINE)
        parsed = dict(item.split("=", 1) for item in resources.group(1).split(", ")) if resources else {}
        if with_inputs:
            inputs = re.search(r"^\s+input: (.*)$", block, re.MULTILINE)
            parsed["input"] = inputs.group(1) if inputs else ""
        jobs.setdefault(header.group(1), []).append(parsed)
    return jobs


def jobs_run(output: str) -> dict[str, int]:
    """rule -> job count from the 'Job stats' table snakemake prints (empty when nothing ran)."""
    match = re.search(r"Job stats:\njob\s+count\n[- ]+\n((?:\S+\s+\d+\n)+)", output)
    if not match:
        return {}
    counts = dict(line.split() for line in match.group(1).strip().splitlines())
    counts.pop("total", None)
    return {rule: int(n) for rule, n in counts.items()}


def tiny_demo_config(models: dict[str, Path]) -> dict:
    """A demo small enough for tests: 8 voices x 2 clips, models linked from prepared folders."""
    return {
        "threads": 1,
        "models": {role: str(path) for role, path in models.items()},
        "corpora": {"demo": {"reader": "demo"}},
        "demo": {
            "accents": {"en-us": "American", "en-gb-scotland": "Scottish"},
            "variants": ["f2", "f3", "m2", "m3"],
            "clips_per_voice": 2,
            "valid_voices": 2,
            "test_voices": 2,
        },
        "augment": {"clips": 4},
        "attributes": {"extractors": ["voice_activity", "volume", "pitch", "speech_rate", "learned_snr"], "snr_estimator": {"steps": 3, "batch_size": 2}},
        "caption": {"max_new_tokens": 8, "batch_size": 8},
        "transcribe": {"batch_size": 8},
        "connector": {"num_queries": 8},
        "train": {"epochs": 1, "eval_samples": 1, "sample_tokens": 4, "valid_limit": 4, "warmup_steps": 2},
        "evaluation": {"demo_benchmark": {"clips_per_speaker": 2}, "max_new_tokens": 8},
    }
