"""SNR, C50 and voice activity on held-out mixtures of unseen speakers: the brouhaha-style model beside the others.

Mixtures are made like the augmentation stage's (destaflow.augmentation.mixtures) from the valid split's clips
(speakers no model trained on): one of its noise kinds at an SNR drawn from augment.snr_db, and 70 % of them
reverberated in its rooms. Printed side by side:
  SNR within 3 dB and median absolute error   DSP frame energy (`snr`), learned_snr (results/snr_estimator,
                                              when trained), brouhaha (results/brouhaha)
  C50 median absolute error (reverberant ones) brouhaha (the only C50 estimate for unlabelled clips)
  speech frame accuracy (10 ms frames)         pyannote segmentation (`voice_activity`), DSP energy span;
                                              truth: the clean clip's energy regions
Usage: .venv/bin/python bench/level_accuracy.py [--mixtures 200] [--config config.yaml]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import soundfile as sf

from destaflow.attributes.dsp import active_span, frame_energy_snr
from destaflow.brouhaha.train import mixture_maker, write_mixtures
from destaflow.config import augment_settings, brouhaha_sources, load_config
from destaflow.vad import detect_voice_activity

RATE = 16_000


def held_out_mixtures(config: dict, count: int, folder: Path) -> pl.DataFrame:
    """Mixtures of the valid split's clips, written as the brouhaha model's own held-out check writes them (another seed)."""
    settings = config["attributes"]["brouhaha"]
    table = pl.concat([pl.read_parquet(f"results/corpora/{c}.parquet") for c in brouhaha_sources(config)], how="diagonal_relaxed")
    rows = table.filter(pl.col("split") == "valid").sort("id").to_dicts()
    augment = augment_settings(config)
    make = mixture_maker(rows, augment, settings | {"rooms": 20}, seed=12345, clean_share=0.0)
    files = write_mixtures(make, count, tuple(augment["snr_db"]), folder, settings["dry_c50_db"])
    return pl.DataFrame([{"id": f["uri"], "audio_path": f["audio"], "snr_db": f["snr_db"], "c50_db": f["c50_db"] if f["reverberant"] else None,
                          "speech": json.dumps(f["speech"])} for f in files])  # fmt: skip


def frame_accuracy(regions: list[tuple[float, float]], truth: list[tuple[float, float]], duration: float) -> tuple[int, int]:
    times = np.arange(0.005, duration, 0.01)
    found, true = np.zeros(len(times), bool), np.zeros(len(times), bool)
    for start, end in regions:
        found |= (times >= start) & (times < end)
    for start, end in truth:
        true |= (times >= start) & (times < end)
    return int((found == true).sum()), len(times)


def snr_row(name: str, estimates: list[float | None], truth: list[float]) -> str:
    errors = np.array([abs(e - t) if e is not None else np.inf for e, t in zip(estimates, truth)])
    return f"{name:<34}{np.mean(errors <= 3):>12.1%}{np.median(errors):>14.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixtures", type=int, default=200)
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--brouhaha", default="results/brouhaha")
    parser.add_argument("--snr-estimator", default="results/snr_estimator")
    args = parser.parse_args()
    config = load_config(args.config)
    if not Path(args.brouhaha, "brouhaha.ckpt").exists():
        raise SystemExit(f"{args.brouhaha} has no trained model: run `bin/demo brouhaha` first")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        mixtures = held_out_mixtures(config, args.mixtures, folder)
        mixtures.select("id", "audio_path").write_parquet(folder / "mixtures.parquet")
        settings = config["attributes"]["vad"] | {"brouhaha": args.brouhaha, "threads": 2}
        detect_voice_activity(str(folder / "mixtures.parquet"), str(folder / "vad.parquet"), str(folder / "q.parquet"), settings)
        found = pl.read_parquet(folder / "vad.parquet")
        joined = mixtures.join(found, on="id", how="left", suffix="_found")
        audio = {row["id"]: sf.read(row["audio_path"], dtype="float32")[0] for row in mixtures.iter_rows(named=True)}
        dsp = [frame_energy_snr(audio[i]) for i in joined["id"]]
        learned = None
        if Path(args.snr_estimator, "model.safetensors").exists():
            from destaflow.attributes.snr_model import load_snr_model

            learned = load_snr_model(args.snr_estimator).estimate([audio[i] for i in joined["id"]])
        vad = {"pyannote segmentation (voice_activity)": [0, 0], "DSP energy span": [0, 0]}
        for row in joined.iter_rows(named=True):
            truth, duration = [tuple(r) for r in json.loads(row["speech"])], len(audio[row["id"]]) / RATE
            for name, regions in (("pyannote segmentation (voice_activity)", [(r["start"], r["end"]) for r in row["speech_regions"] or []]),
                                  ("DSP energy span", [active_span(audio[row["id"]])])):  # fmt: skip
                right, total = frame_accuracy(regions, truth, duration)
                vad[name][0] += right
                vad[name][1] += total
    truth_snr = joined["snr_db"].to_list()
    print(f"{joined.height} held-out mixtures of {config['attributes']['brouhaha']['sources'] or 'the augmentation sources'}' valid-split speakers")
    print(f"{'SNR estimate':<34}{'within 3 dB':>12}{'median |err|':>14}")
    print(snr_row("DSP frame energy (snr)", dsp, truth_snr))
    if learned is not None:
        print(snr_row("learned_snr (results/snr_estimator)", learned, truth_snr))
    else:
        print(f"learned_snr: not trained here ({args.snr_estimator}: snakemake results/snr_estimator)")
    print(snr_row(f"brouhaha ({args.brouhaha})", joined["snr_db_found"].to_list(), truth_snr))
    reverberant = joined.filter(pl.col("c50_db").is_not_null())
    c50_errors = (reverberant["c50_db_found"] - reverberant["c50_db"]).abs()
    print(f"C50 median |err| (brouhaha, {reverberant.height} reverberant mixtures): {c50_errors.median():.2f} dB")
    print(f"{'speech frames (10 ms)':<40}{'accuracy':>10}")
    for name, (right, total) in vad.items():
        print(f"{name:<40}{right / total:>10.1%}")
    metrics = json.loads(Path(args.brouhaha, "metrics.json").read_text())
    print(f"brouhaha's own speech output on its training run's held-out mixtures: {metrics['vad_frame_accuracy']:.1%}")


if __name__ == "__main__":
    main()
