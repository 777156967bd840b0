"""Voice-activity boundaries on synthesized clips padded with known silence: pyannote beside the DSP energy span.

Each clip is one or two espeak-ng sentences (a random voice of the demo's) with random leading silence, an
optional pause between the sentences and random trailing silence; the true speech regions are the padding plus
the energy span of espeak-ng's own audio. Clean, and again with white noise at 20 dB SNR. Printed side by side:
median and 90th-percentile boundary error (each true onset or offset against the nearest found one of the same
kind), clips whose number of regions is wrong, and leading + trailing silence error.
  pyannote  the voice_activity rule's detector (destaflow.vad, in the pyannote environment)
  dsp       the attribute stage's energy span (destaflow.attributes.dsp.active_span: one region, no pauses)
Usage: .venv/bin/python bench/vad_boundaries.py [--clips 60] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import soundfile as sf

from destaflow.attributes.dsp import active_span
from destaflow.config import validate_config
from destaflow.corpora import espeak
from destaflow.vad import detect_voice_activity
from destaflow.vad.regions import boundary_errors

ROOT = Path(__file__).resolve().parents[1]
RATE = 16_000


def synthesize(folder: Path, clips: int, seed: int) -> tuple[pl.DataFrame, dict[str, list[tuple[float, float]]]]:
    rng = random.Random(seed)
    demo = validate_config({})["demo"]
    voices = [f"{accent}+{variant}" for accent in demo["accents"] for variant in demo["variants"]]
    sentences = [line.strip() for line in (ROOT / "data" / "demo_sentences.txt").read_text().splitlines() if line.strip()]
    rows, truth = [], {}
    for number in range(clips):
        voice = rng.choice(voices)
        lead, trail = rng.uniform(0.1, 2.0), rng.uniform(0.1, 2.0)
        said = [espeak.synthesize(rng.choice(sentences), voice, 50, rng.choice([130, 170, 220]))[0] for _ in range(rng.choice([1, 1, 2]))]
        pieces, regions, t = [np.zeros(int(lead * RATE))], [], lead
        for index, speech in enumerate(said):
            if index:
                pause = rng.uniform(0.5, 1.5)
                pieces.append(np.zeros(int(pause * RATE)))
                t += pause
            speech = 0.5 * speech / np.max(np.abs(speech))
            start, end = active_span(speech)
            regions.append((t + start, t + end))
            pieces.append(speech)
            t += len(speech) / RATE
        pieces.append(np.zeros(int(trail * RATE)))
        clip = np.concatenate(pieces).astype(np.float32)
        for condition, audio in (("clean", clip), ("noisy", add_noise(clip, 20.0, rng))):
            path = folder / f"{condition}-{number:03d}.wav"
            sf.write(path, audio, RATE)
            rows.append({"id": path.stem, "audio_path": str(path), "condition": condition})
            truth[path.stem] = regions
    return pl.DataFrame(rows), truth


def add_noise(clip: np.ndarray, snr_db: float, rng: random.Random) -> np.ndarray:
    """White noise at snr_db below the speech power (power over the samples above -40 dB of the peak)."""
    speech = clip[np.abs(clip) > np.max(np.abs(clip)) * 0.01]
    noise = np.random.default_rng(rng.randrange(1 << 30)).standard_normal(len(clip))
    noise *= np.sqrt(np.mean(speech**2) / 10 ** (snr_db / 10))
    return (clip + noise).astype(np.float32)


def score(found: dict[str, list[tuple[float, float]]], truth: dict[str, list[tuple[float, float]]], durations: dict[str, float]) -> dict:
    errors, silences, wrong_count = [], [], 0
    for clip, regions in truth.items():
        got = found.get(clip, [])
        wrong_count += len(got) != len(regions)
        errors += boundary_errors(got, regions)
        if got:
            silences += [abs(got[0][0] - regions[0][0]), abs((durations[clip] - got[-1][1]) - (durations[clip] - regions[-1][1]))]
    return {"median_ms": 1000 * statistics.median(errors), "p90_ms": 1000 * float(np.percentile(errors, 90)),
            "wrong_regions": wrong_count, "silence_median_ms": 1000 * statistics.median(silences), "clips": len(truth)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=60, help="clips per condition")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        table, truth = synthesize(folder, args.clips, args.seed)
        table.write_parquet(folder / "clips.parquet")
        durations = {row["id"]: sf.info(row["audio_path"]).duration for row in table.iter_rows(named=True)}
        start = time.perf_counter()
        settings = validate_config({})["attributes"]["vad"]
        detect_voice_activity(str(folder / "clips.parquet"), str(folder / "vad.parquet"), str(folder / "quarantine.parquet"), {**settings, "threads": 1})
        seconds = time.perf_counter() - start
        vad = pl.read_parquet(folder / "vad.parquet")
        pyannote = {row["id"]: [(r["start"], r["end"]) for r in row["speech_regions"]] for row in vad.iter_rows(named=True)}
        dsp = {row["id"]: [active_span(sf.read(row["audio_path"], dtype="float32")[0])] for row in table.iter_rows(named=True)}
    print(f"{table.height} clips ({args.clips} per condition, {sum(durations.values()):.0f} s of audio); pyannote: {seconds:.1f} s with model loading, 1 thread")
    print(f"{'condition':<10}{'method':<10}{'median ms':>10}{'p90 ms':>9}{'wrong #regions':>16}{'lead/trail ms':>15}")
    for condition in ("clean", "noisy"):
        subset = {clip: regions for clip, regions in truth.items() if clip.startswith(condition)}
        for method, found in (("pyannote", pyannote), ("dsp", dsp)):
            row = score(found, subset, durations)
            print(f"{condition:<10}{method:<10}{row['median_ms']:>10.0f}{row['p90_ms']:>9.0f}{row['wrong_regions']:>10}/{row['clips']:<5}{row['silence_median_ms']:>15.0f}")


if __name__ == "__main__":
    main()
