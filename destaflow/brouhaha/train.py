"""Train the brouhaha-style model with pyannote.audio's training API: `python -m destaflow.brouhaha.train '<json>'`.

Runs in the pyannote environment (destaflow.brouhaha.train_brouhaha starts it). Mixtures are written as wav
files to a work folder, handed to pyannote as a protocol, and a Lightning trainer fits BrouhahaNet on
BrouhahaTask's chunks. Held-out mixtures of the valid split's speakers (never trained on) measure the result:
SNR within 3 dB, C50 median absolute error, frame-level speech accuracy. Output folder: `brouhaha.ckpt`
(loads with pyannote.audio's Model.from_pretrained), `metrics.json`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import soundfile as sf
import torch

from destaflow.atomic import atomic_dir
from destaflow.attributes.dsp import energy_regions
from destaflow.augmentation.mixtures import MixtureMaker, load_clean_clips, load_noise_files
from destaflow.augmentation.settings import parse_settings

log = logging.getLogger("destaflow.brouhaha")

RATE = 16_000
CHUNK_MARGIN_S = 0.05  # the end of each mixture that no chunk may reach (destaflow.brouhaha.model.MixtureProtocol)
METRICS = "metrics.json"


def split_rows(manifests: list[str], settings: dict[str, Any]) -> dict[str, list[dict]]:
    table = pl.concat([pl.read_parquet(m, columns=["id", "audio_path", "speaker", "split"]) for m in manifests], how="vertical_relaxed")
    rows = {}
    for split, limit in (("train", settings["clips"]), ("valid", settings["held_out"])):
        part = table.filter(pl.col("split") == split).sort("id")
        rows[split] = part.sample(min(limit, part.height), seed=settings["seed"]).sort("id").to_dicts()
    return rows


def mixture_maker(rows: list[dict], augment: dict[str, Any], settings: dict[str, Any], seed: int, clean_share: float) -> MixtureMaker:
    """Mixtures of the clips long enough to hold one training chunk (pyannote draws none from shorter ones)."""
    clips, speakers = load_clean_clips(rows)
    shortest = settings["chunk_s"] + CHUNK_MARGIN_S
    long_enough = [(clip, speaker) for clip, speaker in zip(clips, speakers) if len(clip) / RATE > shortest]
    if len(long_enough) < len(clips):
        log.warning("%d of %d clean clips are %.2f s or shorter and are left out", len(clips) - len(long_enough), len(clips), shortest)
    if not long_enough:
        raise ValueError(f"the brouhaha model has no readable clean clip longer than {shortest:.2f} s (chunk_s + {CHUNK_MARGIN_S})")
    clips, speakers = [c for c, _ in long_enough], [s for _, s in long_enough]
    plan = dataclasses.replace(parse_settings(augment), reverb_probability=settings["reverb_share"])
    return MixtureMaker(clips, speakers, plan, np.random.default_rng(seed), load_noise_files(plan), rooms=settings["rooms"],
                        clean_share=clean_share, max_snr_db=settings["max_snr_db"])  # fmt: skip


def write_mixtures(make: MixtureMaker, count: int, snr_range: tuple[float, float], folder: Path, dry_c50_db: float) -> list[dict[str, Any]]:
    """`count` mixtures as wav files, each with its speech regions (from the clean clip) and true SNR / C50."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for number in range(count):
        mixture = make.make(snr_range)
        while mixture.reverberant and mixture.c50_db is None:  # a room whose C50 is undefined: no target for it
            mixture = make.make(snr_range)
        path = folder / f"mixture-{number:05d}.wav"
        sf.write(path, mixture.samples, RATE, subtype="PCM_16")
        files.append({
            "uri": path.stem, "audio": str(path), "duration": len(mixture.samples) / RATE,
            "speech": energy_regions(make.clips[mixture.clip]),
            "snr_db": mixture.snr_db, "c50_db": mixture.c50_db if mixture.reverberant else dry_c50_db,
            "reverberant": mixture.reverberant,
        })  # fmt: skip
    return files


def progress_logger(every: int):
    """A Lightning callback that logs the step, its losses and the pace every `every` steps (log files have no bars)."""
    import time

    import lightning

    class LogEvery(lightning.Callback):
        def on_train_start(self, trainer, module) -> None:
            self.started = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            step = trainer.global_step
            if step % every == 0 or step == trainer.max_steps:
                losses = " ".join(f"{k.removeprefix('loss/')} {float(v):.3f}" for k, v in trainer.callback_metrics.items() if k.startswith("loss/"))
                pace = (time.perf_counter() - self.started) / step
                log.info("step %d/%d: %s (%.2f s/step)", step, trainer.max_steps, losses, pace)

    return LogEvery()


def build_model(settings: dict[str, Any]):
    from destaflow.brouhaha.model import BrouhahaNet

    width = settings["hidden"]
    return BrouhahaNet(frontend=settings["frontend"], lstm={"hidden_size": width, "num_layers": 2, "bidirectional": True}, linear={"hidden_size": width, "num_layers": 2})


def train(manifests: list[str], augment: dict[str, Any], settings: dict[str, Any], out_dir: str, work_dir: str) -> dict[str, Any]:
    import lightning

    from destaflow.brouhaha.model import CHECKPOINT, BrouhahaTask, MixtureProtocol

    if settings.get("threads"):
        torch.set_num_threads(settings["threads"])
    torch.manual_seed(settings["seed"])
    work = Path(work_dir)
    shutil.rmtree(work, ignore_errors=True)
    rows = split_rows(manifests, settings)
    snr_range = tuple(settings["snr_db"])
    make = mixture_maker(rows["train"], augment, settings, settings["seed"], settings["clean_share"])
    files = write_mixtures(make, settings["mixtures"], snr_range, work / "train", settings["dry_c50_db"])
    log.info("%d training mixtures of %d clean clips in %s", len(files), len(make.clips), work / "train")
    del make
    levels = {file["audio"]: (file["snr_db"], file["c50_db"]) for file in files}
    model = build_model(settings)
    model.task = BrouhahaTask(MixtureProtocol(files), levels, duration=settings["chunk_s"], batch_size=settings["batch_size"], num_workers=0, cache=str(work / "task.npz"))
    trainer = lightning.Trainer(
        max_steps=settings["steps"], accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0, callbacks=[progress_logger(max(1, settings["steps"] // 30))],
    )  # fmt: skip
    trainer.fit(model)
    metrics = held_out_metrics(model, rows["valid"] or rows["train"], augment, settings, work / "held_out")
    metrics |= {"trained_on_clips": len(rows["train"]), "mixtures": len(files), "steps": settings["steps"], "held_out": "valid" if rows["valid"] else "train"}
    with atomic_dir(out_dir) as tmp:
        trainer.save_checkpoint(str(tmp / CHECKPOINT))
        (tmp / METRICS).write_text(json.dumps(metrics, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    log.info("brouhaha model: %s", metrics)
    return metrics


def held_out_metrics(model, rows: list[dict], augment: dict[str, Any], settings: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Mixtures of the held-out clips at the augmentation's SNRs (none clean): SNR within 3 dB, C50 median
    absolute error on the reverberant ones, and frame accuracy of speech against the clean clip's regions."""
    from destaflow.brouhaha.model import clip_levels
    from destaflow.brouhaha.predict import Predictor

    make = mixture_maker(rows, augment, settings, settings["seed"] + 1, clean_share=0.0)
    files = write_mixtures(make, settings["held_out"], (augment["snr_db"][0], augment["snr_db"][1]), folder, settings["dry_c50_db"])
    predictor = Predictor(model)
    snr_errors, c50_errors, frames_right, frames = [], [], 0, 0
    for file in files:
        times, outputs = predictor(sf.read(file["audio"], dtype="float32")[0])
        levels = clip_levels(outputs)
        if levels["snr_db"] is not None:
            snr_errors.append(abs(levels["snr_db"] - file["snr_db"]))
        else:
            snr_errors.append(float("inf"))  # no speech found: counted as a miss
        if file["reverberant"]:
            c50_errors.append(abs(levels["c50_db"] - file["c50_db"]))
        decided = outputs[:, 0] > 0.5
        truth = np.zeros(len(times), bool)
        for start, end in file["speech"]:
            truth |= (times >= start) & (times < end)
        frames_right += int((decided == truth).sum())
        frames += len(times)
    return {
        "held_out_mixtures": len(files),
        "snr_within_3db": round(float(np.mean(np.array(snr_errors) <= 3)), 4),
        "snr_median_abs_error_db": round(float(np.median(snr_errors)), 3),
        "c50_median_abs_error_db": round(float(np.median(c50_errors)), 3) if c50_errors else None,
        "c50_mixtures": len(c50_errors),
        "vad_frame_accuracy": round(frames_right / frames, 4) if frames else None,
    }


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)
    logging.captureWarnings(True)
    job = json.loads((argv or sys.argv[1:])[0])
    train(job["manifests"], job["augment"], job["settings"], job["out_dir"], job["work_dir"])


if __name__ == "__main__":
    main()
