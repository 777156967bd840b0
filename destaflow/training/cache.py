"""The frozen-encoder cache: every clip's tapped Whisper encoder states, computed once, stored fp16.

The encoder never trains, so running it on every step (as the reference loop does) repeats the same work
each epoch. Here each unique clip is padded to Whisper's 30 s window, encoded once, and its taps (L, T, d)
are kept, trimmed to the clip's own frames unless `trim=False` (then all 1500). With `transcripts_path` the
same pass also gives each clip its Whisper transcript: the decoder reads the encoder output the taps came
from, so the encoder runs once per clip for both (a clip over 30 s is transcribed window by window).

Layout of `out_dir`:

    shards/shard-00000.safetensors   up to `clips_per_shard` clips, keys "0", "1", ...; its metadata names
                                     the clips, their frames, transcripts and the clips it quarantined
    index.parquet                    id -> shard, key, frames (the clip's own frames, trimmed or not)
    quarantine.parquet               id, audio_path, stage='encode_corpus', reason (unless written elsewhere)
    cache_config.json                tap layers, trim, the Whisper model and the dtype it ran in

Clips are sorted by id and cut into shards in that order, and each shard is written atomically, so a killed
build resumes at the first shard that is missing (or was built for other clips or settings). A training
stage may read several caches (one per corpus) as one.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor
from tqdm import tqdm
from transformers import WhisperForConditionalGeneration, WhisperProcessor

from destaflow import tables
from destaflow.asr import greedy_transcripts, load_whisper, reuse_encoder_pass, transcribe
from destaflow.atomic import atomic_dir, atomic_path, write_text
from destaflow.audio import load_audio
from destaflow.models.sources import model_name
from destaflow.models.whisper_taps import frames_for_duration, log_mels, run_encoder
from destaflow.runtime import backbone_dtype, chunks
from destaflow.workdir import STAMP_FILE, open_work_dir, stamp

log = logging.getLogger(__name__)

STAGE = "encode_corpus"  # the workflow rule that runs it


# ---- building ---------------------------------------------------------------------------------------------


def unique_clips(split_parquets: list[str]) -> list[dict]:
    """One row (id, audio_path, duration) per clip across the splits, sorted by id."""
    table = pl.concat([pl.read_parquet(path, columns=["id", "audio_path", "duration"]) for path in split_parquets])
    return table.unique("id", keep="first").sort("id").to_dicts()


@dataclass
class ShardResult:
    tensors: dict[str, Tensor]
    ids: list[str]
    frames: list[int]
    transcripts: list[str]
    quarantined: list[dict]


@dataclass
class Whisper:
    model: WhisperForConditionalGeneration
    processor: WhisperProcessor
    transcribes: bool  # also decode each clip's transcript from the same encoder pass


def encode_shard(clips: list[dict], whisper: Whisper, tap_layers: list[int], batch_size: int, trim: bool, progress) -> ShardResult:
    result = ShardResult({}, [], [], [], [])
    for batch in chunks(clips, batch_size):
        readable, audios = [], []
        for clip in batch:
            try:
                audios.append(load_audio(clip["audio_path"]).samples)
                readable.append(clip)
            except Exception as error:  # AudioError, or anything else the decoder throws: quarantine, never crash
                result.quarantined.append(tables.quarantine_row(clip["id"], clip["audio_path"], STAGE, error))
        if readable:
            tapped, encoded = run_encoder(whisper.model, log_mels(whisper.processor.feature_extractor, audios), tap_layers)
            for clip, states in zip(readable, tapped.to("cpu", torch.float16)):
                frames = frames_for_duration(clip["duration"])
                result.tensors[str(len(result.ids))] = (states[:, :frames] if trim else states).contiguous()
                result.ids.append(clip["id"])
                result.frames.append(frames)
            if whisper.transcribes:
                result.transcripts += transcripts_of(audios, encoded, whisper, batch_size)
        progress.update(len(batch))
    return result


def transcripts_of(audios: list[np.ndarray], encoded: Tensor, whisper: Whisper, batch_size: int) -> list[str]:
    return reuse_encoder_pass(
        audios,
        lambda positions: greedy_transcripts(whisper.model, whisper.processor.tokenizer, encoder_output=encoded[positions]),
        lambda longer: transcribe(longer, whisper.processor, whisper.model, batch_size),
    )


def shard_metadata(path: Path) -> dict | None:
    """The build record stored in a finished shard, or None when there is no readable shard."""
    try:
        with safe_open(str(path), framework="pt") as shard:
            return json.loads(shard.metadata()["destaflow"])
    except Exception:
        return None


def build_encoder_cache(
    split_parquets: list[str],
    whisper_dir: str,
    tap_layers: list[int],
    out_dir: str,
    batch_size: int,
    trim: bool = True,
    clips_per_shard: int = 256,
    transcripts_path: str | None = None,
    quarantine_path: str | None = None,
    dtype: str = "auto",
) -> pl.DataFrame:
    """Encode every unique clip of the splits once; return the index (id, shard, key, frames). With
    `transcripts_path`, also write each clip's transcript there (id, transcription, transcription_source).
    Unreadable clips go to `quarantine_path` (default: quarantine.parquet in the cache). `dtype`: Whisper's
    (`train.backbone_dtype`, resolved by destaflow.runtime.backbone_dtype), the one the speech LM answers in."""
    out = Path(out_dir)
    clips = unique_clips(split_parquets)
    whisper_dtype = backbone_dtype(dtype)
    settings = {"tap_layers": list(tap_layers), "trim": trim, "whisper": model_name(whisper_dir), "transcribed": transcripts_path is not None,
                "dtype": str(whisper_dtype).removeprefix("torch.")}
    planned = list(chunks(clips, clips_per_shard))
    records, todo = [], []
    for number, shard_clips in enumerate(planned):
        record = shard_metadata(out / "shards" / shard_name(number))
        wanted = [clip["id"] for clip in shard_clips]
        done = record is not None and record["settings"] == settings and record["clips"] == wanted
        records.append(record if done else None)
        todo += [] if done else [number]
    log.info("encoder cache: %d clips in %d shards, %d to build", len(clips), len(planned), len(todo))

    if todo:
        processor, model = load_whisper(whisper_dir, whisper_dtype)
        whisper = Whisper(model, processor, transcribes=transcripts_path is not None)
        with tqdm(total=sum(len(planned[n]) for n in todo), desc="encoder cache", unit="clip") as progress:
            for number in todo:
                shard = encode_shard(planned[number], whisper, tap_layers, batch_size, trim, progress)
                records[number] = write_shard(out / "shards" / shard_name(number), shard, settings, planned[number])
    for stale in sorted((out / "shards").glob("shard-*.safetensors"))[len(planned):]:
        stale.unlink()

    index, quarantined, transcripts = [], [], []
    for number, record in enumerate(records):
        index += [{"id": i, "shard": shard_name(number), "key": str(k), "frames": f} for k, (i, f) in enumerate(zip(record["ids"], record["frames"]))]
        quarantined += record["quarantined"]
        transcripts += [{"id": i, "transcription": t, "transcription_source": settings["whisper"]} for i, t in zip(record["ids"], record["transcripts"])]
    if len(index) + len(quarantined) != len(clips):
        raise RuntimeError(f"lost clips: {len(clips)} in, {len(index)} cached + {len(quarantined)} quarantined")
    index_table = pl.DataFrame(index, schema=tables.ENCODER_INDEX)
    tables.write(index_table, out / "index.parquet", "encoder_index")
    tables.write_quarantine(quarantined, quarantine_path or out / "quarantine.parquet")
    write_text(out / "cache_config.json", json.dumps({key: settings[key] for key in ("tap_layers", "trim", "whisper", "dtype")}, indent=2) + "\n")
    if transcripts_path is not None:
        tables.write(pl.DataFrame(transcripts, schema=tables.TRANSCRIPTS), transcripts_path, "transcripts")
    log.info("encoder cache: %d clips cached, %d quarantined", len(index), len(quarantined))
    return index_table


def encode_corpus(manifest: str, whisper_dir: str, tap_layers: list[int], batch_size: int, trim: bool, work_dir: str, cache_dir: str,
                  transcripts_path: str, quarantine_path: str, clips_per_shard: int = 256, dtype: str = "auto") -> None:
    """The workflow's Whisper pass over one corpus. The cache is built in `work_dir`, which outlives a killed
    job (Snakemake empties a job's declared outputs before it starts), so the rerun resumes at the first
    missing shard (its stamp holds the clips, the Whisper model and the settings); then it is published to
    `cache_dir` whole."""
    open_work_dir(work_dir, stamp([list(tap_layers), trim, clips_per_shard, dtype], [manifest, whisper_dir]))
    build_encoder_cache([manifest], whisper_dir, tap_layers, work_dir, batch_size, trim, clips_per_shard, transcripts_path, quarantine_path, dtype)
    with atomic_dir(cache_dir) as tmp:
        for item in Path(work_dir).iterdir():
            if item.name != STAMP_FILE:
                shutil.move(str(item), tmp / item.name)
    shutil.rmtree(work_dir)


def corpus_caches(root: str | Path = "results/encoder_cache") -> list[Path]:
    """The workflow's per-corpus caches under `root` (results/encoder_cache/<corpus>)."""
    return sorted(config.parent for config in Path(root).glob("*/cache_config.json"))


def shard_name(number: int) -> str:
    return f"shard-{number:05d}.safetensors"


def write_shard(path: Path, shard: ShardResult, settings: dict, clips: list[dict]) -> dict:
    record = {
        "settings": settings,
        "clips": [clip["id"] for clip in clips],
        "ids": shard.ids,
        "frames": shard.frames,
        "transcripts": shard.transcripts,
        "quarantined": shard.quarantined,
    }
    with atomic_path(path) as tmp:
        save_file(shard.tensors, str(tmp), metadata={"destaflow": json.dumps(record)})
    return record


# ---- reading ----------------------------------------------------------------------------------------------


class EncoderCache:
    """Read access to built caches: `cache[id]` -> (tapped (L, T, d) float32, frames). Shards open lazily.

    `roots` is one cache folder or several built with the same settings (one per corpus). `frames` is the
    clip's own length in encoder frames; T equals it in a trimmed cache and is 1500 otherwise. At most
    `open_shards` shards stay open (least recently used closed first).
    """

    def __init__(self, roots: str | Path | list[str] | list[Path], open_shards: int = 64) -> None:
        roots = [Path(roots)] if isinstance(roots, (str, Path)) else [Path(root) for root in roots]
        if not roots:
            raise ValueError("no encoder cache folder given")
        configs = [json.loads((root / "cache_config.json").read_text()) for root in roots]
        if any(config != configs[0] for config in configs):
            raise ValueError(f"encoder caches built with different settings: {dict(zip(map(str, roots), configs))}")
        self.config = configs[0]
        self.entries: dict[str, tuple[Path, str, int]] = {}
        for root in roots:
            for row in tables.read(root / "index.parquet", "encoder_index").iter_rows(named=True):
                if row["id"] in self.entries:
                    raise ValueError(f"clip {row['id']!r} is in more than one encoder cache ({root})")
                self.entries[row["id"]] = (root / "shards" / row["shard"], row["key"], row["frames"])
        self._shards: OrderedDict[Path, object] = OrderedDict()
        self.open_shards = open_shards

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self.entries

    @property
    def trimmed(self) -> bool:
        return bool(self.config["trim"])

    def __getitem__(self, clip_id: str) -> tuple[Tensor, int]:
        shard_file, key, frames = self.entries[clip_id]
        return self._shard(shard_file).get_tensor(key).float(), frames

    def _shard(self, shard_file: Path):
        if shard_file in self._shards:
            self._shards.move_to_end(shard_file)
        else:
            self._shards[shard_file] = safe_open(str(shard_file), framework="pt")
            if len(self._shards) > self.open_shards:
                self._shards.popitem(last=False)
        return self._shards[shard_file]
