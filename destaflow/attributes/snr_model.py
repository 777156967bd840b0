"""A learned blind SNR estimator (the brouhaha stand-in), trained on the workflow's own clean training clips.

brouhaha's weights come only from the model hub, and energy statistics cannot tell babble from the speaker
(bench/attribute_accuracy.py: 71 % within 3 dB). So a small network learns it: log band energies of a clip
(64 log-spaced band edges, 46 distinct bands; 32 ms frames; level-normalised) -> two 1-D convolutions -> a
bidirectional GRU -> attention and max pooling over frames -> SNR in dB. It trains on mixtures made on the
fly, as the augmentation stage makes them: clean training-split clips, white / pink / babble (other
speakers) / MUSAN-file noise at SNRs drawn from `snr_db`, reverberated with the augmentation's probability
in simulated rooms or through RIR files; a share of clips gets no noise and the target `max_snr_db`. Weights are saved as safetensors beside a JSON config and the held-out (valid-split)
accuracy; nothing is unpickled on load.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from tqdm import tqdm

from destaflow.atomic import atomic_dir
from destaflow.attributes.base import Extractor
from destaflow.attributes.models import fill, lazy
from destaflow.audio import AudioError, load_audio
from destaflow.augmentation.noise import list_musan_noise_files, looped_segment, pink_noise
from destaflow.augmentation.reverb import align_to_direct_path, apply_reverb, draw_room, list_rir_files, simulate_room
from destaflow.augmentation.settings import AugmentSettings, parse_settings

log = logging.getLogger(__name__)

N_FFT, HOP = 512, 256
CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE = "config.json", "model.safetensors", "metrics.json"
MIN_TALKERS_FOR_BABBLE = 2
HELD_OUT_MIXTURES = 200


@dataclass(frozen=True)
class SnrModelConfig:
    bands: int = 64  # band edges asked for; duplicates at low frequencies merge (64 -> 46 bands)
    hidden: int = 96
    max_snr_db: float = 50.0  # targets are clipped here: beyond it a clip is simply clean


def band_edges(bands: int) -> np.ndarray:
    return np.unique(np.round(np.geomspace(1, N_FFT // 2 + 1, bands + 1)).astype(int))


def log_bands(samples: np.ndarray, edges: np.ndarray) -> Tensor:
    """(frames, bands) log band energies in dB/20, minus the clip's median, so the level does not matter."""
    x = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    if len(x) < N_FFT:
        x = torch.nn.functional.pad(x, (0, N_FFT - len(x)))
    power = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True).abs().pow(2).T
    energy = torch.stack([power[:, a:b].sum(-1) for a, b in zip(edges[:-1], edges[1:])], -1)
    db = 10 * torch.log10(energy + 1e-10)
    return (db - db.median()) / 20


class SnrNet(nn.Module):
    def __init__(self, config: SnrModelConfig) -> None:
        super().__init__()
        self.config = config
        self.edges = band_edges(config.bands)
        inputs, hidden = len(self.edges) - 1, config.hidden
        self.conv = nn.Sequential(nn.Conv1d(inputs, hidden, 5, padding=2), nn.ReLU(), nn.Conv1d(hidden, hidden, 5, padding=2), nn.ReLU())
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.attention = nn.Linear(2 * hidden, 1)
        self.head = nn.Sequential(nn.Linear(4 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, features: Tensor, valid: Tensor) -> Tensor:
        """features (B, T, bands), valid (B, T) -> SNR (B,) in dB."""
        z = self.conv(features.transpose(1, 2)).transpose(1, 2)
        z, _ = self.gru(z)
        weights = self.attention(z).squeeze(-1).masked_fill(~valid, -1e9).softmax(-1)
        pooled = (weights[..., None] * z).sum(1)
        peak = z.masked_fill(~valid[..., None], -1e9).max(1).values
        return 20 * self.head(torch.cat([pooled, peak], -1)).squeeze(-1)

    def batch(self, clips: list[np.ndarray]) -> tuple[Tensor, Tensor]:
        features = [log_bands(c, self.edges) for c in clips]
        frames = max(f.shape[0] for f in features)
        padded = torch.stack([nn.functional.pad(f, (0, 0, 0, frames - f.shape[0])) for f in features])
        valid = torch.stack([torch.arange(frames) < f.shape[0] for f in features])
        return padded, valid

    @torch.no_grad()
    def estimate(self, clips: list[np.ndarray]) -> list[float]:
        """One clip at a time: the backward GRU would otherwise start in another clip's padding."""
        self.eval()
        return [round(float(self(*self.batch([clip]))[0]), 2) for clip in clips]


# ---- training mixtures ----------------------------------------------------------------------------------


class MixtureMaker:
    """Random mixtures of clean training clips with the augmentation stage's noise and reverberation kinds."""

    def __init__(
        self,
        clips: list[np.ndarray],
        speakers: list[str],
        augment: AugmentSettings,
        rng: np.random.Generator,
        noise_files: list[np.ndarray] | None = None,
        rooms: int = 60,
        clean_share: float = 0.0,
        max_snr_db: float = 50.0,
    ):
        self.clips, self.speakers, self.augment, self.rng = clips, speakers, augment, rng
        self.clean_share, self.max_snr_db = clean_share, max_snr_db
        kinds = list(augment.noise_types)
        if len(set(speakers)) < MIN_TALKERS_FOR_BABBLE and "babble" in kinds:
            kinds.remove("babble")
        if not kinds:
            raise ValueError("the SNR estimator needs a noise type other than babble when the training clips have one speaker")
        self.kinds = kinds
        self.noise_files = (noise_files if noise_files is not None else load_noise_files(augment)) if "file" in kinds else []
        self.rirs = self._rirs(rooms) if augment.reverb_probability > 0 else []

    def _rirs(self, count: int) -> list[np.ndarray]:
        if self.augment.rir_dir:
            files = list_rir_files(self.augment.rir_dir)
            chosen = sorted(self.rng.choice(len(files), min(count, len(files)), replace=False))
            return [align_to_direct_path(load_audio(files[i]).samples.astype(np.float64)) for i in chosen]
        return [align_to_direct_path(simulate_room(draw_room(self.rng, self.augment.room))) for _ in range(count)]

    def noise(self, kind: str, length: int, target: int) -> np.ndarray:
        if kind == "white":
            return self.rng.standard_normal(length)
        if kind == "pink":
            return pink_noise(self.rng, length)
        if kind == "file":
            return looped_segment(self.noise_files[self.rng.integers(len(self.noise_files))], length, self.rng)
        others = [i for i, s in enumerate(self.speakers) if s != self.speakers[target]]
        low, high = self.augment.babble_speakers
        total = np.zeros(length)
        for i in self.rng.choice(others, min(int(self.rng.integers(low, high + 1)), len(others)), replace=False):
            total += looped_segment(self.clips[i] / (_rms(self.clips[i]) or 1.0), length, self.rng)
        return total

    def __call__(self, snr_range: tuple[float, float]) -> tuple[np.ndarray, float]:
        target = int(self.rng.integers(len(self.clips)))
        speech = self.clips[target].astype(np.float64)
        if self.rirs and self.rng.random() < self.augment.reverb_probability:
            speech = apply_reverb(speech, self.rirs[self.rng.integers(len(self.rirs))])
        if self.rng.random() < self.clean_share:
            return (speech / max(1.0, np.max(np.abs(speech)) / 0.99)).astype(np.float32), self.max_snr_db
        snr = float(self.rng.uniform(*snr_range))
        noise = self.noise(self.kinds[self.rng.integers(len(self.kinds))], len(speech), target)
        noise *= math.sqrt(np.mean(speech**2) / (max(np.mean(noise**2), 1e-20) * 10 ** (snr / 10)))
        mix = speech + noise
        return (mix / max(1.0, np.max(np.abs(mix)) / 0.99)).astype(np.float32), snr


def load_noise_files(augment: AugmentSettings) -> list[np.ndarray]:
    return [load_audio(p).samples for p in list_musan_noise_files(augment.noise_dir)] if "file" in augment.noise_types else []


def load_clean_clips(rows: list[dict[str, Any]]) -> tuple[list[np.ndarray], list[str]]:
    """float32 clips (half the memory of float64: 2,000 clips of 8 s hold ~1 GB) and their speakers."""
    clips, speakers = [], []
    for row in rows:
        try:
            samples = load_audio(row["audio_path"]).samples.astype(np.float32)
        except AudioError as error:
            log.warning("SNR estimator: leaving out %s: %s", row["id"], error)
            continue
        if _rms(samples) > 0:
            clips.append(samples)
            speakers.append(str(row.get("speaker")))
    return clips, speakers


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples))))


# ---- training, saving, loading --------------------------------------------------------------------------


def train_snr_estimator(manifests: list[str], augment: dict[str, Any], settings: dict[str, Any], out_dir: str | Path) -> dict[str, float]:
    """The workflow's entry: train on the manifests' train split, check on their valid split, save."""
    table = pl.concat([pl.read_parquet(m, columns=["id", "audio_path", "speaker", "split"]) for m in manifests], how="vertical_relaxed")
    rows = {}
    for split, limit in (("train", settings["clips"]), ("valid", HELD_OUT_MIXTURES)):
        part = table.filter(pl.col("split") == split).sort("id")
        rows[split] = part.sample(min(limit, part.height), seed=settings["seed"]).sort("id").to_dicts()  # bounded memory
    metrics = train_snr_model(rows["train"], rows["valid"], parse_settings(augment), settings, out_dir)
    log.info("SNR estimator: %s", metrics)
    return metrics


def train_snr_model(
    train_rows: list[dict[str, Any]],
    valid_rows: list[dict[str, Any]],
    augment: AugmentSettings,
    settings: dict[str, Any],
    out_dir: str | Path,
) -> dict[str, float]:
    """Train on mixtures of `train_rows`, measure on mixtures of `valid_rows`, save to `out_dir`; return the metrics."""
    low, high = settings["snr_db"]
    if low > high:
        raise ValueError(f"attributes.snr_estimator.snr_db: low {low} is above high {high}")
    if settings.get("threads"):
        torch.set_num_threads(settings["threads"])
    torch.manual_seed(settings["seed"])
    rng = np.random.default_rng(settings["seed"])
    config = SnrModelConfig()
    model = SnrNet(config)
    clips, speakers = load_clean_clips(train_rows)
    if not clips:
        raise ValueError("the SNR estimator has no readable training clips")
    noise_files = load_noise_files(augment)
    make = MixtureMaker(clips, speakers, augment, rng, noise_files, clean_share=settings["clean_share"], max_snr_db=config.max_snr_db)
    snr_range = (low, high)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["lr"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings["lr"], total_steps=settings["steps"])
    model.train()
    for _ in tqdm(range(settings["steps"]), desc="training the SNR estimator", unit="step"):
        mixtures = [make(snr_range) for _ in range(settings["batch_size"])]
        features, valid = model.batch([m for m, _ in mixtures])
        target = torch.tensor([min(snr, config.max_snr_db) for _, snr in mixtures], dtype=torch.float32)
        loss = nn.functional.smooth_l1_loss(model(features, valid), target, beta=2.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    del make, clips  # the held-out check loads its own clips
    metrics = held_out_accuracy(model, valid_rows or train_rows, augment, settings, noise_files)
    metrics |= {"trained_on_clips": len(speakers), "noise_kinds": sorted(set(augment.noise_types)), "held_out": "valid" if valid_rows else "train"}
    save_snr_model(model, out_dir, metrics)
    return metrics


def held_out_accuracy(
    model: SnrNet,
    rows: list[dict[str, Any]],
    augment: AugmentSettings,
    settings: dict[str, Any],
    noise_files: list[np.ndarray],
    count: int = HELD_OUT_MIXTURES,
) -> dict[str, Any]:
    """Within-3-dB share on `count` noisy mixtures of `rows` (SNRs from augment.snr_db), and the median estimate
    for the clean clips themselves."""
    clips, speakers = load_clean_clips(rows)
    if not clips:
        return {}
    make = MixtureMaker(clips, speakers, augment, np.random.default_rng(settings["seed"] + 1), noise_files, rooms=20)
    low, high = augment.snr_db.low, augment.snr_db.high
    mixtures = [make((low, high)) for _ in range(count)]
    estimates = model.estimate([m for m, _ in mixtures])
    errors = np.abs(np.array(estimates) - np.array([snr for _, snr in mixtures]))
    clean = model.estimate(clips[:count])
    return {
        "mixtures": count,
        "within_3db": round(float(np.mean(errors <= 3)), 4),
        "median_abs_error_db": round(float(np.median(errors)), 3),
        "babble_in_check": "babble" in make.kinds,
        "clean_clips": len(clean),
        "clean_median_estimate_db": round(float(np.median(clean)), 2),
    }


def save_snr_model(model: SnrNet, out_dir: str | Path, metrics: dict[str, Any]) -> None:
    with atomic_dir(out_dir) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / WEIGHTS_FILE))
        (tmp / CONFIG_FILE).write_text(json.dumps(asdict(model.config), indent=2))
        (tmp / METRICS_FILE).write_text(json.dumps(metrics, indent=2))


def load_snr_model(model_dir: str | Path) -> SnrNet:
    folder = Path(model_dir)
    model = SnrNet(SnrModelConfig(**json.loads((folder / CONFIG_FILE).read_text())))
    model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    return model.eval()


def learned_snr_extractor(settings: dict[str, Any], model_dirs: dict[str, str]) -> Extractor:
    """`snr_db` from the estimator the `train_snr_estimator` rule trained (model_dirs["snr_estimator"])."""
    folder = model_dirs.get("snr_estimator")
    if folder is None:
        raise ValueError("the learned_snr extractor needs the trained estimator folder (rule train_snr_estimator)")
    load = lazy(lambda: load_snr_model(folder))

    def run(rows, audios):
        return fill(rows, "snr_db", lambda todo: load().estimate([audios[i] for i in todo]))

    return Extractor("model:destaflow-snr-net", ("snr_db",), run)
