"""One measurement of one pipeline stage, optimised or baseline, printed as a RESULT line of JSON.

bench/run_all.py runs each measurement in its own process so that the process's peak RSS is that
measurement's alone. The timed work reuses the other bench scripts (caption_throughput.run,
train_throughput.timed_steps) and the library's own batching (extract_attributes, DestaModel.batch_chat);
a baseline is the same call one item at a time with the settings before the speed work (captioning: one prompt
at a time in float32, the batch in the demo's train.backbone_dtype; answering: one prompt at a time; attributes:
per clip, Whisper on 30 s windows; training: DeSTA2's loop in float32, the encoder every step on 30 s windows).
The optimised side runs config.yaml's settings. Each RESULT
carries the measurement's outputs (captions, transcripts, answers, the loss on a fixed batch) so that run_all.py can say whether
the two sides produced the same thing, and for transcripts their word error rate against the corpus labels.
Usage: .venv/bin/python bench/stage_workers.py caption|attributes|train|inference optimised|baseline [--clips 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import polars as pl
import torch

LLM, WHISPER = "resources/models/llm", "resources/models/whisper"
SEEDS, CORPUS, TRAIN = "results/seeds/demo.parquet", "results/corpora/demo.parquet", "results/trainset/train.parquet"
ENCODER_CACHE, ADAPTER = "results/encoder_cache", "results/adapter/adapter"
ATTRIBUTE_EXTRACTORS = ("whisper_asr", "volume", "pitch", "speech_rate", "snr")
QUESTION = "What is the gender of the speaker?"


def caption(optimised: bool, args) -> dict:
    from caption_throughput import run

    from destaflow.captioning import CaptionSettings, TransformersBackend
    from destaflow.captioning.backends import load_tokenizer
    from destaflow.config import load_config
    from destaflow.template import caption_context

    config = load_config("config.yaml")
    settings = CaptionSettings.of(config["caption"] | {"max_new_tokens": args.max_new_tokens})
    tokenizer = load_tokenizer(LLM)
    table = pl.read_parquet(SEEDS).head(args.clips)
    prompts = [caption_context(tokenizer, seed, settings.prompt, settings.system) for seed in table["seed"]]
    dtype = config["train"]["backbone_dtype"] if optimised else "float32"  # the demo's captioning LLM; before: float32
    seconds, tokens, texts = run(TransformersBackend(LLM, settings, dtype), prompts, len(prompts) if optimised else 1, settings.seed)
    return {"seconds": seconds, "units": tokens, "outputs": texts, "quality": {"coverage": coverage(texts, table)}}


def coverage(captions: list[str | None], seeds: pl.DataFrame) -> float:
    """Share of (caption, attribute) pairs naming the value the seed carried, over gender, speed, pitch, volume
    (bench/caption_coverage.py): sampled captions differ token by token between precisions, their content should not."""
    from caption_coverage import ATTRIBUTES, known_hits

    known = [hit for attribute in ATTRIBUTES for hit in known_hits(captions, seeds[attribute].to_list(), attribute)]
    return sum(known) / len(known)


def attributes(optimised: bool, args) -> dict:
    import nltk

    from destaflow.attributes.extract import build_extractor, extract_attributes
    from destaflow.config import load_config

    settings = load_config("config.yaml")["attributes"]
    if not optimised:
        settings = settings | {"asr_window_step_s": None}
    corpus = pl.read_parquet(CORPUS).head(args.clips)
    # transcripts removed so that whisper_asr has work (the demo corpus labels them; real corpora often do not)
    clips = corpus.with_columns(pl.lit(None, dtype=pl.String).alias("text"))
    extractors = [build_extractor(name, settings, {"whisper": WHISPER}) for name in ATTRIBUTE_EXTRACTORS]
    extract_attributes(clips.head(1), extractors, 1, settings["bins"])  # warm-up: loads Whisper outside the timing
    start = time.perf_counter()
    described, _ = extract_attributes(clips, extractors, settings["batch_size"] if optimised else 1, settings["bins"])
    seconds = time.perf_counter() - start
    labels = dict(zip(corpus["id"], corpus["text"]))
    texts = described["text"].to_list()
    errors = sum(nltk.edit_distance(words(labels[i]), words(t)) for i, t in zip(described["id"], texts))
    quality = {"WER": errors / sum(len(words(label)) for label in labels.values())}
    return {"seconds": seconds, "units": clips.height, "audio_seconds": clips["duration"].sum(), "outputs": texts, "quality": quality}


def words(text: str) -> list[str]:
    return "".join(c for c in text.lower() if c.isalnum() or c in " '").split()


def train(optimised: bool, args) -> dict:
    from train_throughput import fixed_batch_loss, timed_steps

    from destaflow.config import load_config
    from destaflow.models.whisper_taps import tap_layers_for
    from destaflow.training.cache import EncoderCache, corpus_caches
    from destaflow.training.data import TapSource, read_examples
    from destaflow.training.distributed import Env
    from destaflow.training.loop import autocast, build_model
    from destaflow.training.settings import resolve_settings

    dtype = load_config("config.yaml")["train"]["backbone_dtype"] if optimised else "float32"
    settings = resolve_settings({"global_batch": args.batch, "micro_batch": args.batch, "max_tokens": 200,
                                 "tap_layers": tap_layers_for(WHISPER, None), "backbone_dtype": dtype})
    model = build_model(settings, WHISPER, LLM, Env())
    examples = read_examples(TRAIN)[: args.batch * (args.steps + 1)]
    if optimised:
        taps = TapSource(model, EncoderCache(corpus_caches(ENCODER_CACHE)), trim=True)
    else:
        taps = TapSource(model, None, trim=False, whisper_dir=WHISPER)
    model.reference_style = not optimised  # as train_throughput: the LLM pass of DeSTA2's loop
    # build_model seeds the connector's initialisation, so both sides start from the same weights and score the
    # same batch with them (eval mode: the training steps' losses differ by their dropout draws)
    with autocast(settings, Env()):
        loss = fixed_batch_loss(model, examples[: args.batch], taps, settings, full_window=not optimised)
    seconds_per_step, _ = timed_steps(model, copy.deepcopy(model.connector.state_dict()), examples, taps, settings, args.steps)
    return {"seconds": seconds_per_step * args.steps, "units": args.batch * args.steps, "outputs": [loss]}


def inference(optimised: bool, args) -> dict:
    from destaflow.inference import DestaModel

    model = DestaModel.from_pretrained(ADAPTER, device="cpu")
    clips = pl.read_parquet(CORPUS).filter(pl.col("split") == "test").head(args.clips)
    conversations = [[{"role": "audio", "content": path}, {"role": "user", "content": QUESTION}] for path in clips["audio_path"]]
    model.batch_chat(conversations[:1], 1, max_new_tokens=2)  # warm-up
    start = time.perf_counter()
    answers = model.batch_chat(conversations, len(conversations) if optimised else 1, max_new_tokens=args.max_new_tokens)
    return {"seconds": time.perf_counter() - start, "units": len(conversations), "audio_seconds": clips["duration"].sum(), "outputs": answers}


STAGES = {"caption": caption, "attributes": attributes, "train": train, "inference": inference}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("variant", choices=("optimised", "baseline"))
    parser.add_argument("--clips", type=int, default=8, help="prompts (caption) or clips (attributes, inference)")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2, help="timed training steps (one more runs as warm-up)")
    parser.add_argument("--batch", type=int, default=2, help="training batch")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = STAGES[args.stage](args.variant == "optimised", args)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
