"""One step of bench/scaling.py on one corpus size, printed as a RESULT line of JSON.

`corpus` synthesizes the demo corpus once into <work>/corpus (reused while it is large enough) and writes the
size-N subsets <work>/n<N>/clips.parquet. Each stage then reads and writes under <work>/n<N>/<stage>/, which it
empties first, so a measurement never resumes earlier work; its seconds are the timed work only (models are
loaded before the clock starts, except where noted).
Usage: .venv/bin/python bench/scaling_worker.py corpus|attributes|caption|encode|train --work DIR [--clips 60] [--sizes 60,120] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import polars as pl
import torch
from stage_workers import ATTRIBUTE_EXTRACTORS, LLM, WHISPER

from destaflow import manifest
from destaflow.config import load_config

CONFIG = load_config("config.yaml")


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def spread(table: pl.DataFrame, accents: list[str]) -> pl.DataFrame:
    """The clips ordered so that every prefix is spread evenly over the voices: clip k of every voice before
    clip k+1 of any; voices ordered so that consecutive ones alternate gender and cycle through the accents."""
    genders = sorted(table["gender"].unique())
    pairs = [(accent, genders[(k + shift) % len(genders)]) for shift in range(len(genders)) for k, accent in enumerate(accents)]
    groups = [sorted(table.filter((pl.col("accent") == a) & (pl.col("gender") == g))["speaker"].unique()) for a, g in pairs]
    order = [group[r] for r in range(max(map(len, groups))) for group in groups if r < len(group)]
    rank = {speaker: position for position, speaker in enumerate(order)}
    return (table.sort("id").with_columns(index=pl.int_range(pl.len()).over("speaker"), rank=pl.col("speaker").replace_strict(rank))
            .sort("index", "rank").drop("index", "rank"))


def corpus(args) -> dict:
    """The demo synthesizer at config.yaml's `demo` settings, with enough clips per voice for the largest size,
    every voice in the train split (so every clip is a training example) and no Festival voices."""
    from destaflow.corpora.demo import synthesize_corpus

    demo = CONFIG["demo"]
    voices = len(demo["accents"]) * len(demo["variants"])
    settings = demo | {"clips_per_voice": math.ceil(max(args.sizes) / voices), "valid_voices": 0, "test_voices": 0,
                       "festival": demo["festival"] | {"voices": {}}}
    root, start = args.work / "corpus", time.perf_counter()
    saved = json.loads((root / "settings.json").read_text()) if (root / "settings.json").exists() else None
    reusable = saved is not None and (root / "demo.parquet").exists() and saved["clips_per_voice"] >= settings["clips_per_voice"] \
        and saved | {"clips_per_voice": 0} == json.loads(json.dumps(settings | {"clips_per_voice": 0}))
    if not reusable:  # a new corpus: every size's subset and stage outputs are stale
        for stale in [root, *args.work.glob("n[0-9]*")]:
            shutil.rmtree(stale, ignore_errors=True)
        synthesize_corpus(settings, root / "audio", root / "demo.parquet", args.threads)
        (root / "settings.json").write_text(json.dumps(settings, indent=2))
    table = spread(manifest.read(root / "demo.parquet", "corpus"), list(demo["accents"].values()))
    for size in args.sizes:
        (args.work / f"n{size}").mkdir(parents=True, exist_ok=True)
        manifest.write(table.head(size), args.work / f"n{size}" / "clips.parquet", "corpus")
    return {"seconds": time.perf_counter() - start, "units": table.height, "reused": reusable}


def attributes(args, size: Path) -> dict:
    """As stage_workers.attributes: transcripts removed so that whisper_asr has work; writes the attributes manifest."""
    from destaflow.attributes.extract import build_extractor, extract_attributes

    settings, out = CONFIG["attributes"], fresh(size / "attributes")
    clips = manifest.read(size / "clips.parquet", "corpus").with_columns(pl.lit(None, dtype=pl.String).alias("text"))
    extractors = [build_extractor(name, settings, {"whisper": WHISPER}) for name in ATTRIBUTE_EXTRACTORS]
    extract_attributes(clips.head(1), extractors, 1, settings["bins"])  # warm-up: loads Whisper outside the timing
    start = time.perf_counter()
    table, _ = extract_attributes(clips, extractors, settings["batch_size"], settings["bins"])
    seconds = time.perf_counter() - start
    manifest.write(table, out / "attributes.parquet", "attributes")
    return {"seconds": seconds, "units": clips.height}


def caption(args, size: Path) -> dict:
    """Seed transcripts of the attributes manifest (as scripts/seed_transcripts.py), then one caption job over all
    of them (as scripts/caption.py, one shard) with the in-process LLM, loaded before the clock starts."""
    from destaflow.captioning import CaptionSettings, TransformersBackend, caption_shard
    from destaflow.seed import add_seeds

    settings, seed, out = CaptionSettings.of(CONFIG["caption"]), CONFIG["seed"], fresh(size / "caption")
    backend = TransformersBackend(LLM, settings)
    start = time.perf_counter()
    table = manifest.read(size / "attributes" / "attributes.parquet", "attributes")
    seeds = add_seeds(table, seed["per_corpus"].get("demo", seed["attributes"]), seed["style"])
    manifest.write(seeds, out / "seeds.parquet", "seed")
    caption_shard([str(out / "seeds.parquet")], 0, 1, settings, LLM, str(out / "captions.parquet"), str(out / "quarantine.parquet"), backend)
    return {"seconds": time.perf_counter() - start, "units": table.height}


def encode(args, size: Path) -> dict:
    """scripts/encode_corpus.py over the clips; encode_corpus loads Whisper itself, inside the timing (a warm
    load of the demo's tiny Whisper is ~0.4 s, the files being in the page cache after a warm-up load)."""
    from destaflow.asr import load_whisper
    from destaflow.models.whisper_taps import tap_layers_for
    from destaflow.runtime import backbone_dtype
    from destaflow.training.cache import encode_corpus

    out = fresh(size / "encode")
    load_whisper(WHISPER, backbone_dtype(CONFIG["train"]["backbone_dtype"]))  # warm-up, discarded
    start = time.perf_counter()
    encode_corpus(str(size / "clips.parquet"), WHISPER, tap_layers_for(WHISPER, CONFIG["connector"]["tap_layers"]),
                  CONFIG["transcribe"]["batch_size"], CONFIG["train"]["trim"], str(out / "work"), str(out / "cache"),
                  str(out / "transcripts.parquet"), str(out / "quarantine.parquet"), dtype=CONFIG["train"]["backbone_dtype"])
    return {"seconds": time.perf_counter() - start, "units": pl.read_parquet(size / "clips.parquet").height}


def train(args, size: Path) -> dict:
    """The caption training set (destaflow.trainset, as scripts/build_trainset.py), then train_adapter at the
    `train` + `connector` settings with one epoch, no generated samples, no probe and no validation clips.
    Seconds: the sum of the epoch's optimiser steps (log.csv), so model loading and saving are left out."""
    from destaflow.trainset import write_trainset
    from destaflow.training.loop import train_adapter

    out = fresh(size / "train")
    captions = pl.read_parquet(size / "caption" / "captions.parquet")
    examples = write_trainset(captions, [str(size / "caption" / "seeds.parquet")], [str(size / "encode" / "transcripts.parquet")],
                              CONFIG["trainset"], out / "trainset", training_only=True)
    settings = {**CONFIG["train"], "epochs": 1, "eval_samples": 0, "probe_clips": 0, "threads": args.threads, **CONFIG["connector"]}
    train_adapter(settings, WHISPER, LLM, str(out / "trainset" / "train.parquet"), str(out / "trainset" / "valid.parquet"),
                  [str(size / "encode" / "cache")], str(out / "run"), resume=False)
    steps = pl.read_csv(out / "run" / "log.csv")
    shutil.rmtree(out / "run")  # the adapter and its checkpoint (~75 MB), which nothing here reads
    return {"seconds": float(steps["seconds"].sum()), "units": pl.read_parquet(size / "clips.parquet").height,
            "examples": examples.height, "steps": steps.height}


STAGES = {"attributes": attributes, "caption": caption, "encode": encode, "train": train}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["corpus", *STAGES])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--clips", type=int, help="the corpus size a stage runs on")
    parser.add_argument("--sizes", type=lambda text: [int(n) for n in text.split(",")], help="corpus: every size to write")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = corpus(args) if args.stage == "corpus" else STAGES[args.stage](args, args.work / f"n{args.clips}")
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
