"""The in-domain finetuning stage (paper Table IV): an instruction set in the caption training set's shape,
and the training loop's settings for the two variants.

Each Dynamic-SUPERB-style record of destaflow.instructions (one question about one clip for one task) becomes
one training example: input = the instruction with its options, target = the label, transcription = the
clip's Whisper transcript. Rows keep the clip's id, so the encoder cache encodes a clip once however many
tasks ask about it; caption_index is the task's position in `tasks`, which keeps (id, caption_index) unique.

    DeSTA2     finetune.init_from_captions: true    the caption-trained adapter, then connector + LoRA finetuned
    FT-only    finetune.init_from_captions: false   a fresh connector + LoRA trained on the in-domain set only
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from destaflow import manifest, tables
from destaflow.atomic import atomic_path
from destaflow.instructions import build_records
from destaflow.training.lora import LORA_DEFAULTS

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = ["task", "split", "label", "examples"]


def read_clips(attribute_manifests: list[str]) -> pl.DataFrame:
    # corpora carry their own raw-label columns besides the shared schema, hence the diagonal concat
    return pl.concat([manifest.read(path, "attributes") for path in attribute_manifests], how="diagonal_relaxed")


def with_clip_columns(records: pl.DataFrame, clips: pl.DataFrame, transcripts: pl.DataFrame) -> pl.DataFrame:
    """Records joined with their clip's corpus, speaker, duration and transcription; clips without a transcript drop out."""
    clip_columns = clips.select(pl.col("id").alias("clip_id"), "corpus", "speaker", "duration")
    transcribed = transcripts.select(pl.col("id").alias("clip_id"), "transcription")
    joined = records.join(clip_columns, on="clip_id", how="inner").join(transcribed, on="clip_id", how="inner")
    if joined.height < records.height:
        log.warning("%d of %d instruction records left out: their clips have no transcript", records.height - joined.height, records.height)
    return joined


def balance_labels(records: pl.DataFrame, seed: int, max_per_task: int | None = None) -> pl.DataFrame:
    """Within each task and split, every label keeps as many records as the rarest label has (and together at
    most `max_per_task`), drawn at random."""
    if records.is_empty():
        return records
    parts = []
    for _, group in records.group_by("task", "split", maintain_order=True):
        counts = group["label"].value_counts()["count"]
        keep = int(counts.min()) if max_per_task is None else max(1, min(int(counts.min()), max_per_task // len(counts)))
        parts += [same.sample(keep, seed=seed) for _, same in group.group_by("label", maintain_order=True)]
    return pl.concat(parts)


def cap_per_task(records: pl.DataFrame, seed: int, max_per_task: int) -> pl.DataFrame:
    """At most `max_per_task` records per task and split, drawn at random (labels as they come)."""
    parts = [group.sample(min(group.height, max_per_task), seed=seed) for _, group in records.group_by("task", "split", maintain_order=True)]
    return pl.concat(parts) if parts else records


def as_training_examples(records: pl.DataFrame, tasks: list[str]) -> pl.DataFrame:
    """The caption training set's columns (destaflow.tables.TRAINSET); the captioning ones are null."""
    task_index = {task: index for index, task in enumerate(tasks)}
    return records.select(
        pl.col("clip_id").alias("id"),
        pl.col("task").replace_strict(task_index, return_dtype=pl.Int64).alias("caption_index"),
        "corpus",
        "speaker",
        "split",
        pl.col("file").alias("audio_path"),
        "duration",
        "transcription",
        pl.col("instruction").alias("input"),
        pl.col("label").alias("target"),
        *(pl.lit(None, pl.String).alias(column) for column in ("seed", "llm", "gen_params")),
    ).select(list(tables.TRAINSET))


def label_counts(records: pl.DataFrame) -> pl.DataFrame:
    return records.group_by("task", "split", "label").agg(pl.len().cast(pl.Int64).alias("examples")).select(SUMMARY_COLUMNS).sort("task", "split", "label")


def build_instruction_set(
    attribute_manifests: list[str], transcripts: list[str], tasks: list[str], seed: int, out_dir: str, balance: bool = True,
    max_per_task: int | None = None,
) -> pl.DataFrame:
    """Write train/valid/test.parquet (training-set columns) and summary.csv (task x split x label); return all rows."""
    clips = read_clips(attribute_manifests)
    transcribed = pl.concat([pl.read_parquet(path, columns=["id", "transcription"]) for path in transcripts])
    records = with_clip_columns(build_records(clips, tasks, seed), clips, transcribed)
    if balance:
        records = balance_labels(records, seed, max_per_task)
    elif max_per_task is not None:
        records = cap_per_task(records, seed, max_per_task)
    examples = as_training_examples(records, tasks).sort("id", "caption_index")
    out = Path(out_dir)
    for split in manifest.SPLITS:
        with atomic_path(out / f"{split}.parquet") as tmp:
            examples.filter(pl.col("split") == split).write_parquet(tmp)
    summary = label_counts(records)
    with atomic_path(out / "summary.csv") as tmp:
        summary.write_csv(tmp)
    log.info("instruction set:\n%s", summary)
    return examples


def finetune_settings(adapter_settings: dict, finetune: dict, caption_adapter: str | None) -> dict:
    """The loop's settings for the finetuning stage: the caption stage's (train + connector), the finetune
    section's `train` overrides, its LoRA, and the starting connector of the chosen Table IV variant."""
    from_captions = finetune.get("init_from_captions", True)
    if from_captions and not caption_adapter:
        raise ValueError("init_from_captions: true needs the caption-trained adapter")
    lora = LORA_DEFAULTS | finetune.get("lora", {})
    return adapter_settings | finetune.get("train", {}) | {"lora": lora, "init_adapter": caption_adapter if from_captions else None}
