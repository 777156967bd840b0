"""The frozen-encoder cache: every clip's tapped Whisper encoder states, computed once, stored fp16.

The encoder never trains, so running it on every step (as the reference loop does) repeats the same work
each epoch. Here each unique clip is padded to Whisper's 30 s window, encoded once, and its taps (L, T, d)
are kept, trimmed to the clip's own frames unless `trim=False` (then all 1500).

Layout of `out_dir`:

    shards/shard-00000.safetensors   up to `clips_per_shard` clips, keys "0", "1", ...; its metadata names
                                     the clips, their frames and the clips it quarantined
    index.parquet                    id -> shard, key, frames (the clip's own frames, trimmed or not)
    quarantine.parquet               id, audio_path, stage='encoder_cache', reason
    cache_config.json                tap layers, trim, the Whisper model

Clips are sorted by id and cut into shards in that order, and each shard is written atomically, so a killed
build resumes at the first shard that is missing (or was built for other clips or settings).
"""

from __future__ import annotations

import json
import logging
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
from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

from destaflow.atomic import atomic_path, write_text
from destaflow.audio import TARGET_RATE, load_audio
from destaflow.models.sources import model_name
from destaflow.models.whisper_taps import frames_for_duration, tap_encoder
from destaflow.quarantine import QUARANTINE_COLUMNS, write_quarantine
from destaflow.runtime import chunks, quiet_loading, torch_device

log = logging.getLogger(__name__)

STAGE = "encoder_cache"
INDEX_COLUMNS = {"id": pl.String, "shard": pl.String, "key": pl.String, "frames": pl.Int64}


# ---- the Whisper front end, shared with the uncached (reference) training loop ---------------------------


def log_mels(feature_extractor: WhisperFeatureExtractor, audios: list[np.ndarray]) -> Tensor:
    """(B, mels, 3000): Whisper log-mel features, each clip padded (or cut) to the 30 s window."""
    features = feature_extractor(audios, sampling_rate=TARGET_RATE, padding="max_length", return_tensors="pt")
    return features.input_features


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
    quarantined: list[dict]


def encode_shard(clips: list[dict], whisper, feature_extractor, tap_layers: list[int], batch_size: int, trim: bool, progress) -> ShardResult:
    result = ShardResult({}, [], [], [])
    for batch in chunks(clips, batch_size):
        readable, audios = [], []
        for clip in batch:
            try:
                audios.append(load_audio(clip["audio_path"]).samples)
                readable.append(clip)
            except Exception as error:  # AudioError, or anything else the decoder throws: quarantine, never crash
                reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
                result.quarantined.append({"id": clip["id"], "audio_path": clip["audio_path"], "stage": STAGE, "reason": reason})
        if readable:
            tapped = tap_encoder(whisper, log_mels(feature_extractor, audios), tap_layers).to("cpu", torch.float16)
            for clip, states in zip(readable, tapped):
                frames = frames_for_duration(clip["duration"])
                result.tensors[str(len(result.ids))] = (states[:, :frames] if trim else states).contiguous()
                result.ids.append(clip["id"])
                result.frames.append(frames)
        progress.update(len(batch))
    return result


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
) -> pl.DataFrame:
    """Encode every unique clip of the splits once; return the index (id, shard, key, frames)."""
    out = Path(out_dir)
    clips = unique_clips(split_parquets)
    settings = {"tap_layers": list(tap_layers), "trim": trim, "whisper": model_name(whisper_dir)}
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
        device = torch_device()
        with quiet_loading():
            feature_extractor = WhisperFeatureExtractor.from_pretrained(whisper_dir)
            whisper = WhisperForConditionalGeneration.from_pretrained(whisper_dir).to(device).eval()
        with tqdm(total=sum(len(planned[n]) for n in todo), desc="encoder cache", unit="clip") as progress:
            for number in todo:
                shard = encode_shard(planned[number], whisper, feature_extractor, tap_layers, batch_size, trim, progress)
                records[number] = write_shard(out / "shards" / shard_name(number), shard, settings, planned[number])
    for stale in sorted((out / "shards").glob("shard-*.safetensors"))[len(planned):]:
        stale.unlink()

    index, quarantined = [], []
    for number, record in enumerate(records):
        index += [{"id": i, "shard": shard_name(number), "key": str(k), "frames": f} for k, (i, f) in enumerate(zip(record["ids"], record["frames"]))]
        quarantined += record["quarantined"]
    if len(index) + len(quarantined) != len(clips):
        raise RuntimeError(f"lost clips: {len(clips)} in, {len(index)} cached + {len(quarantined)} quarantined")
    index_table = pl.DataFrame(index, schema=INDEX_COLUMNS)
    with atomic_path(out / "index.parquet") as tmp:
        index_table.write_parquet(tmp)
    write_quarantine(pl.DataFrame(quarantined, schema=QUARANTINE_COLUMNS), out / "quarantine.parquet")
    write_text(out / "cache_config.json", json.dumps(settings, indent=2) + "\n")
    log.info("encoder cache: %d clips cached, %d quarantined", len(index), len(quarantined))
    return index_table


def shard_name(number: int) -> str:
    return f"shard-{number:05d}.safetensors"


def write_shard(path: Path, shard: ShardResult, settings: dict, clips: list[dict]) -> dict:
    record = {
        "settings": settings,
        "clips": [clip["id"] for clip in clips],
        "ids": shard.ids,
        "frames": shard.frames,
        "quarantined": shard.quarantined,
    }
    with atomic_path(path) as tmp:
        save_file(shard.tensors, str(tmp), metadata={"destaflow": json.dumps(record)})
    return record


# ---- reading ----------------------------------------------------------------------------------------------


class EncoderCache:
    """Read access to a built cache: `cache[id]` -> (tapped (L, T, d) float32, frames). Shards open lazily.

    `frames` is the clip's own length in encoder frames; T equals it in a trimmed cache and is 1500 otherwise.
    At most `open_shards` shards stay open (least recently used closed first).
    """

    def __init__(self, out_dir: str | Path, open_shards: int = 64) -> None:
        self.root = Path(out_dir)
        self.config = json.loads((self.root / "cache_config.json").read_text())
        index = pl.read_parquet(self.root / "index.parquet")
        self.entries = {row["id"]: (row["shard"], row["key"], row["frames"]) for row in index.iter_rows(named=True)}
        self._shards: OrderedDict[str, object] = OrderedDict()
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

    def _shard(self, shard_file: str):
        if shard_file in self._shards:
            self._shards.move_to_end(shard_file)
        else:
            self._shards[shard_file] = safe_open(str(self.root / "shards" / shard_file), framework="pt")
            if len(self._shards) > self.open_shards:
                self._shards.popitem(last=False)
        return self._shards[shard_file]
