"""The caption training set: captions joined with their clips and Whisper transcripts, balanced per corpus.

Each row is one training example in DeSTA2's manifest shape (audio path, transcription, input = the prompt,
target = the caption) plus provenance. Written per split as parquet, as a Hugging Face `datasets`
DatasetDict on disk, and summarised per corpus like the paper's Table II.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from destaflow import manifest, tables
from destaflow.atomic import atomic_dir, atomic_path
from destaflow.settings import Settings

log = logging.getLogger(__name__)


def join_examples(captions: pl.DataFrame, seeds: pl.DataFrame, transcripts: pl.DataFrame) -> pl.DataFrame:
    """Captions with their clip and transcript. A caption of a clip the Whisper pass quarantined has no
    transcript and is left out (the clip's reason is in that stage's quarantine table); the count is logged."""
    clips = seeds.select("id", "speaker", "audio_path", "duration")
    unknown = captions.join(clips, on="id", how="anti")
    if unknown.height:
        raise ValueError(f"{unknown.height} captions of clips no seed manifest lists, e.g. {unknown['id'].head(3).to_list()}")
    examples = (
        captions.join(clips, on="id", how="inner")
        .join(transcripts.select("id", "transcription"), on="id", how="inner")
        .rename({"prompt": "input", "response": "target"})
    )
    if examples.height < captions.height:
        untranscribed = captions.join(transcripts, on="id", how="anti")["id"].unique()
        log.warning("%d captions of %d clips left out: the Whisper pass quarantined those clips (e.g. %s)",
                    captions.height - examples.height, untranscribed.len(), untranscribed.head(3).to_list())
    return examples.select(list(tables.TRAINSET))


def balance(examples: pl.DataFrame, max_per_corpus: int | None, seed: int) -> pl.DataFrame:
    """At most `max_per_corpus` training captions per corpus, drawn at random; valid/test are kept whole."""
    if max_per_corpus is None:
        return examples
    parts = []
    for (corpus, split), group in examples.group_by("corpus", "split", maintain_order=True):
        if split == "train" and group.height > max_per_corpus:
            group = group.sample(max_per_corpus, seed=seed, shuffle=True)
            log.info("%s: capped at %d of its training captions", corpus, max_per_corpus)
        parts.append(group)
    return pl.concat(parts)


def summarise(examples: pl.DataFrame) -> pl.DataFrame:
    """Clips, captions and hours per corpus and split (the paper's Table II columns)."""
    return (
        examples.group_by("corpus", "split")
        .agg(
            pl.col("id").n_unique().alias("audios"),
            pl.len().alias("captions"),
            (pl.col("duration").filter(pl.col("caption_index") == 0).sum() / 3600).round(3).alias("hours"),
        )
        .sort("corpus", "split")
    )


@dataclass(frozen=True)
class TrainsetSettings(Settings):
    """How the captioned examples are balanced (the `trainset` section)."""

    SECTIONS = ("trainset",)

    max_per_corpus: int | None
    seed: int


def build_trainset(caption_shards: list[str], seed_manifests: list[str], transcripts: list[str], settings: TrainsetSettings | dict[str, Any],
                   out_dir: str) -> pl.DataFrame:
    captions = pl.concat([pl.read_parquet(path) for path in caption_shards])
    return write_trainset(captions, seed_manifests, transcripts, settings, Path(out_dir))


def write_trainset(captions: pl.DataFrame, seed_manifests: list[str], transcripts: list[str], settings: TrainsetSettings | dict[str, Any],
                   out_dir: Path, training_only: bool = False) -> pl.DataFrame:
    """Join captions (prompt, response) with their clips and transcripts, balance, check and write the splits."""
    settings = TrainsetSettings.of(settings)
    seeds = pl.concat([manifest.read(path, "seed").select("id", "corpus", "speaker", "split", "audio_path", "duration") for path in seed_manifests])
    transcribed = pl.concat([pl.read_parquet(path) for path in transcripts])
    examples = balance(join_examples(captions, seeds, transcribed), settings.max_per_corpus, settings.seed)
    examples = examples.sort("corpus", "id", "caption_index")
    check_speakers_disjoint(examples)
    write_splits(examples, out_dir, training_only)
    return examples


def check_speakers_disjoint(examples: pl.DataFrame) -> None:
    crossing = examples.group_by("corpus", "speaker").agg(pl.col("split").n_unique().alias("n")).filter(pl.col("n") > 1)
    if crossing.height:
        raise ValueError(f"speakers in more than one split: {crossing['speaker'].head(5).to_list()}")


def write_splits(examples: pl.DataFrame, out_dir: Path, training_only: bool = False) -> None:
    """<split>.parquet per split, the `datasets` copy (hf/) and summary.csv; `training_only`: train and valid
    parquet alone (an ablation's training set, scored on the benchmarks instead)."""
    from datasets import Dataset, DatasetDict

    out_dir.mkdir(parents=True, exist_ok=True)
    splits = {split: examples.filter(pl.col("split") == split) for split in (("train", "valid") if training_only else manifest.SPLITS)}
    for split, table in splits.items():
        tables.write(table, out_dir / f"{split}.parquet", "trainset")
    summary = summarise(examples)
    log.info("training set:\n%s", summary)
    if training_only:
        return
    with atomic_dir(out_dir / "hf") as tmp:
        DatasetDict({split: Dataset.from_polars(table) for split, table in splits.items()}).save_to_disk(str(tmp))
    with atomic_path(out_dir / "summary.csv") as tmp:
        summary.write_csv(tmp)
