"""One captioning job: the work items of one shard in, captions and quarantine out, resumable after a kill.

A work item is (clip id, caption index): a corpus with `per_clip: n` gets n captions per clip. Items go
to shards by a stable hash of `id:caption_index`, so every job computes the same partition on its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Iterator

import polars as pl
from tqdm import tqdm

from destaflow import tables
from destaflow.captioning.backends import Backend, Generation, Outcome, build_backend, load_tokenizer
from destaflow.captioning.parts import parts_folder, read_parts, remove_parts, write_part
from destaflow.models.sources import model_name
from destaflow.captioning.prompts import prompt_pool
from destaflow.captioning.settings import CaptionSettings
from destaflow.template import caption_context
from destaflow.workdir import open_work_dir, stamp

log = logging.getLogger(__name__)

STAGE = "caption"
KEY = ["id", "caption_index"]
SEED_MANIFEST_COLUMNS = ["id", "corpus", "split", "seed", "audio_path"]
PART_COLUMNS: dict[str, pl.DataType] = {**tables.CAPTIONS, "audio_path": pl.String(), "reason": pl.String()}
"""A part holds captions and failures alike (failures have a reason), so one atomic write records a batch."""


def caption_shard(
    seed_manifests: list[str],
    shard: int,
    num_shards: int,
    settings: CaptionSettings | dict[str, Any],
    llm_dir: str,
    out_path: str,
    quarantine_path: str,
    backend: Backend | None = None,
    dtype: str = "auto",
) -> None:
    """Caption this shard's items into `out_path` (and failures into `quarantine_path`); `backend` overrides the configured
    one; `dtype`: the LLM's (train.backbone_dtype)."""
    settings = CaptionSettings.of(settings)
    items = shard_items(read_seed_clips(seed_manifests), settings.per_clip, shard, num_shards)
    # parts made for another prompt, LLM, decoding or seed transcript are discarded, never merged with new ones
    folder = open_work_dir(parts_folder(out_path), stamp([settings.as_dict(), shard, num_shards, dtype], [*seed_manifests, llm_dir]))
    todo = items.join(read_parts(folder, PART_COLUMNS).select(KEY), on=KEY, how="anti", maintain_order="left")
    done = items.height - todo.height
    log.info("shard %d/%d: %d items, %d already done, %d to caption", shard, num_shards, items.height, done, todo.height)
    if todo.height:
        own_backend = backend is None
        backend = backend or build_backend(llm_dir, settings, dtype)
        try:
            run_batches(todo, items.height, shard, settings, llm_dir, backend, folder)
        finally:
            if own_backend:
                backend.close()
    finish(items, folder, out_path, quarantine_path)


def read_seed_clips(seed_manifests: list[str]) -> pl.DataFrame:
    tables = []
    for path in seed_manifests:
        table = pl.read_parquet(path)
        if "audio_path" not in table.columns:
            table = table.with_columns(audio_path=pl.lit(None, pl.String))
        tables.append(table.select(SEED_MANIFEST_COLUMNS))
    clips = pl.concat(tables) if tables else pl.DataFrame(schema=dict.fromkeys(SEED_MANIFEST_COLUMNS, pl.String))
    duplicated = clips["id"].is_duplicated().sum()
    if duplicated:
        raise ValueError(f"{duplicated} clips share an id across the seed manifests {seed_manifests}")
    return clips


def shard_items(clips: pl.DataFrame, per_clip: dict[str, int], shard: int, num_shards: int) -> pl.DataFrame:
    """This shard's (id, caption_index) items with their clip columns, sorted by key."""
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} is not in [0, {num_shards})")
    captions_per_clip = pl.col("corpus").replace_strict(per_clip, default=1, return_dtype=pl.Int64)
    items = clips.with_columns(caption_index=pl.int_ranges(0, captions_per_clip, dtype=pl.Int64)).explode("caption_index")
    mine = [stable_hash(f"{id_}:{index}") % num_shards == shard for id_, index in items.select(KEY).iter_rows()]
    return items.filter(pl.Series(mine, dtype=pl.Boolean)).sort(KEY)


def stable_hash(text: str) -> int:
    """Same value in every process and Python version (unlike hash())."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def batch_sample_seed(base_seed: int, shard: int, first_item: dict[str, Any]) -> int:
    return stable_hash(f"{base_seed}:{shard}:{first_item['id']}:{first_item['caption_index']}") % 2**31


def gen_params(settings: CaptionSettings) -> str:
    names = ("temperature", "top_p", "repetition_penalty", "max_new_tokens", "system")
    return json.dumps({name: getattr(settings, name) for name in names}, sort_keys=True)


def run_batches(todo: pl.DataFrame, total: int, shard: int, settings: CaptionSettings, llm_dir: str, backend: Backend, folder: Path) -> None:
    tokenizer = load_tokenizer(llm_dir)
    pool = prompt_pool(settings)
    constant = {"llm": model_name(llm_dir), "backend": backend.name, "gen_params": gen_params(settings)}
    captions = tokens = 0
    started = time.perf_counter()
    with tqdm(total=total, initial=total - todo.height, unit="caption", desc=f"captions shard {shard}") as progress:
        for batch in batches(todo, settings.batch_size):
            for item in batch:
                item["prompt"] = pick_prompt(pool, item)
            prompts = [caption_context(tokenizer, item["seed"], item["prompt"], settings.system) for item in batch]
            sample_seed = batch_sample_seed(settings.seed, shard, batch[0])
            outcomes = backend.generate(prompts, sample_seed)
            if len(outcomes) != len(batch):
                raise RuntimeError(f"backend {backend.name} answered {len(outcomes)} of {len(batch)} prompts")
            rows = [record(item, outcome, sample_seed, constant) for item, outcome in zip(batch, outcomes)]
            write_part(folder, pl.DataFrame(rows, schema=PART_COLUMNS))
            captions += len(batch)
            tokens += sum(outcome.n_tokens for outcome in outcomes if isinstance(outcome, Generation))
            progress.update(len(batch))
            progress.set_postfix(tokens_per_s=f"{tokens / (time.perf_counter() - started):.1f}")
    elapsed = time.perf_counter() - started
    log.info("captioned %d items in %.1f s: %.2f captions/s, %.1f tokens/s", captions, elapsed, captions / elapsed, tokens / elapsed)


def pick_prompt(pool: list[str], item: dict[str, Any]) -> str:
    """The item's prompt from the pool: fixed by its key, so a resumed or resharded run asks the same."""
    return pool[stable_hash(f"prompt:{item['id']}:{item['caption_index']}") % len(pool)]


def batches(todo: pl.DataFrame, size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, todo.height, size):
        yield todo.slice(start, size).to_dicts()


def record(item: dict[str, Any], outcome: Outcome, sample_seed: int, constant: dict[str, str]) -> dict[str, Any]:
    row = {key: item[key] for key in ("id", "caption_index", "corpus", "split", "seed", "audio_path", "prompt")}
    row.update(constant, sample_seed=sample_seed, reason=None)
    if isinstance(outcome, Generation):
        row.update(response=outcome.text.strip(), n_tokens=outcome.n_tokens, hit_token_limit=outcome.hit_limit)
        if not row["response"]:
            row["reason"] = f"caption {item['caption_index']}: empty output ({outcome.n_tokens} tokens)"
    else:
        row["reason"] = tables.reason_of(f"caption {item['caption_index']}: {outcome}")
    return row


def finish(items: pl.DataFrame, folder: Path, out_path: str, quarantine_path: str) -> None:
    """Merge the parts into the two outputs, check nothing was lost or duplicated, then drop the parts."""
    records = read_parts(folder, PART_COLUMNS).unique(subset=KEY, keep="first", maintain_order=True)
    records = records.join(items.select(KEY), on=KEY, how="semi")
    captions = records.filter(pl.col("reason").is_null()).select(list(tables.CAPTIONS)).sort(KEY)
    quarantine = records.filter(pl.col("reason").is_not_null()).sort(KEY).select(
        "id", "audio_path", stage=pl.lit(STAGE, pl.String), reason="reason"
    ).cast(tables.QUARANTINE)
    log.info("%d items: %d captions, %d quarantined", items.height, captions.height, quarantine.height)
    if captions.height + quarantine.height != items.height:
        raise RuntimeError(f"lost captions: {items.height} items, {captions.height} captioned + {quarantine.height} quarantined")
    tables.write(quarantine, quarantine_path, "quarantine")
    tables.write(captions, out_path, "captions")
    remove_parts(folder)
