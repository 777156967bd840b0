"""Which source clips are augmented and how: every decision made up front, deterministically from the seed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from destaflow import manifest
from destaflow.augmentation.noise import NoisePlan, list_musan_noise_files
from destaflow.augmentation.reverb import ReverbPlan, draw_room, list_rir_files
from destaflow.augmentation.settings import AugmentSettings


@dataclass(frozen=True)
class ClipPlan:
    id: str
    source: dict[str, Any]  # the source manifest row
    reverb: ReverbPlan | None
    noise: NoisePlan | None


@dataclass(frozen=True)
class SourcePool:
    """All source manifests stacked (columns unioned); `sizes` says how many rows each manifest gave, in order."""

    table: pl.DataFrame
    sizes: tuple[int, ...]


def read_sources(paths: list[str]) -> SourcePool:
    tables = [manifest.read(path, "corpus").sort("id") for path in paths]
    if not tables:
        raise ValueError("augmentation needs at least one source manifest")
    return SourcePool(pl.concat(tables, how="diagonal_relaxed"), tuple(t.height for t in tables))


def allocate(sizes: tuple[int, ...], total: int) -> list[int]:
    """Split `total` clips as evenly as possible over the sources, none beyond its size."""
    quotas = [0] * len(sizes)
    remaining = min(total, sum(sizes))
    open_sources = [i for i, size in enumerate(sizes) if size > 0]
    while remaining and open_sources:
        share, extra = divmod(remaining, len(open_sources))
        for rank, i in enumerate(open_sources):
            take = min(share + (rank < extra), sizes[i] - quotas[i])
            quotas[i] += take
            remaining -= take
        open_sources = [i for i in open_sources if quotas[i] < sizes[i]]
    return quotas


def draw_sources(pool: SourcePool, clips: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    rows = pool.table.to_dicts()
    drawn, start = [], 0
    for size, quota in zip(pool.sizes, allocate(pool.sizes, clips)):
        drawn += [rows[start + i] for i in sorted(rng.choice(size, quota, replace=False))]
        start += size
    return drawn


def clip_rng(seed: int, source_id: str) -> np.random.Generator:
    """A generator per clip, so a clip's augmentation does not depend on which other clips were drawn."""
    digest = hashlib.sha256(source_id.encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "big")])


def plan_clips(pool: SourcePool, settings: AugmentSettings) -> list[ClipPlan]:
    rng = np.random.default_rng(settings.seed)
    drawn = draw_sources(pool, settings.clips, rng)
    # noise types are dealt round-robin in a seeded order, so every configured type is represented
    type_order = [str(t) for t in rng.permutation(settings.noise_types)]
    noise_files = list_musan_noise_files(settings.noise_dir) if "file" in settings.noise_types else []
    rir_files = list_rir_files(settings.rir_dir) if settings.rir_dir and settings.reverb_probability > 0 else []
    talkers = _talkers_by_split(pool.table)
    plans, noisy = [], 0
    for source in drawn:
        generator = clip_rng(settings.seed, source["id"])
        wants_reverb, wants_noise = _choose_effects(generator, settings)
        noise = None
        if wants_noise:
            others = [t for t in talkers.get(source["split"], []) if t[2] != source["speaker"]]
            kind = _noise_kind(type_order, noisy, has_babble_talkers=bool(others))
            noisy += 1
            if kind is None:
                wants_reverb = _fall_back_to_reverb(settings, source["id"])
            else:
                noise = _plan_noise(generator, settings, kind, noise_files, others)
        reverb = _plan_reverb(generator, settings, rir_files) if wants_reverb else None
        plans.append(ClipPlan(f"aug-{source['id']}", source, reverb, noise))
    return plans


def _choose_effects(rng: np.random.Generator, settings: AugmentSettings) -> tuple[bool, bool]:
    """Reverb and noise each by their probability; a clip that drew neither gets one, in proportion."""
    reverb = rng.random() < settings.reverb_probability
    noise = rng.random() < settings.noise_probability
    if not (reverb or noise):
        total = settings.reverb_probability + settings.noise_probability
        reverb = rng.random() < settings.reverb_probability / total
        noise = not reverb
    return bool(reverb), bool(noise)


def _noise_kind(type_order: list[str], turn: int, has_babble_talkers: bool) -> str | None:
    """The type whose turn it is, skipping babble when the split has no other speaker to draw from."""
    for step in range(len(type_order)):
        kind = type_order[(turn + step) % len(type_order)]
        if kind != "babble" or has_babble_talkers:
            return kind
    return None


def _fall_back_to_reverb(settings: AugmentSettings, source_id: str) -> bool:
    if settings.reverb_probability == 0:
        raise ValueError(f"clip {source_id}: babble noise needs another speaker in its split, and reverb is disabled")
    return True


def _plan_noise(
    rng: np.random.Generator, settings: AugmentSettings, kind: str, noise_files: list[str], others: list[tuple[str, str, str]]
) -> NoisePlan:
    snr = round(float(rng.uniform(settings.snr_db.low, settings.snr_db.high)), 2)
    seed = int(rng.integers(2**63))
    if kind == "file":
        return NoisePlan(kind, snr, seed, noise_file=noise_files[int(rng.integers(len(noise_files)))])
    if kind == "babble":
        low, high = settings.babble_speakers
        count = min(int(rng.integers(low, high + 1)), len(others))
        chosen = sorted(rng.choice(len(others), count, replace=False))
        return NoisePlan(kind, snr, seed, babble=tuple((others[i][0], others[i][1]) for i in chosen))
    return NoisePlan(kind, snr, seed)


def _plan_reverb(rng: np.random.Generator, settings: AugmentSettings, rir_files: list[str]) -> ReverbPlan:
    if rir_files:
        return ReverbPlan(rir_file=rir_files[int(rng.integers(len(rir_files)))])
    return ReverbPlan(room=draw_room(rng, settings.room))


def _talkers_by_split(table: pl.DataFrame) -> dict[str, list[tuple[str, str, str]]]:
    """Babble talkers come from the clip's own split, so held-out speakers never leak into training audio."""
    talkers: dict[str, list[tuple[str, str, str]]] = {}
    for clip_id, path, speaker, split in table.select("id", "audio_path", "speaker", "split").sort("id").iter_rows():
        talkers.setdefault(split, []).append((clip_id, path, speaker))
    return talkers
