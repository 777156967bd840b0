"""Voice activity with pyannote.audio, run in the pyannote environment: `python -m destaflow.vad.detect`.

With `settings["brouhaha"]` (a trained results/brouhaha folder) the same pass also gives each clip's SNR and C50.

One pass of the segmentation model per clip (its windows, pyannote's sliding-window aggregation). Before the
windows are aggregated, each frame's per-speaker scores become two: the highest (someone speaks) and the second
highest (two speak at once), as pyannote's voice-activity and overlapped-speech pipelines do. Each is then
binarised with its own hysteresis thresholds (pyannote's Binarize).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from tqdm import tqdm

from destaflow.audio import AudioError, load_audio
from destaflow.models.sources import find_one, package_files, parse_source
from destaflow import tables
from destaflow.vad.regions import summarise

log = logging.getLogger("destaflow.vad")

RATE = 16_000
STAGE = "voice_activity"


def segmentation_path(spec: str) -> str:
    """A `package:<dist>/<file>` spec -> that file; `hub:<id>` -> the id (clusters); else the path."""
    source = parse_source(spec)
    if source.kind == "package":
        files = [f for dist in source.packages for f in package_files(dist)]
        return str(find_one(files, source.file or "pytorch_model.bin", "+".join(source.packages)))
    return source.hub_id if source.kind == "hub" else str(source.path)


def speaker_count_scores(scores: np.ndarray) -> np.ndarray:
    """(chunks, frames, speakers) -> (chunks, frames, 2): the highest and the second-highest speaker score."""
    top_two = np.sort(scores, axis=-1)[..., -2:]
    return top_two[..., ::-1].copy()


class VoiceActivityDetector:
    def __init__(self, settings: dict[str, Any]) -> None:
        from pyannote.audio import Inference, Model
        from pyannote.audio.utils.signal import Binarize

        path = segmentation_path(settings["segmentation"])
        self.name = "pyannote:" + settings["segmentation"].removeprefix("package:").removeprefix("hub:")  # provenance
        model = Model.from_pretrained(path)
        if model is None:
            raise RuntimeError(f"pyannote.audio could not load a segmentation model from {path}")
        if len(model.specifications.classes) < 2:
            raise ValueError(f"{path}: a single-class model cannot tell overlapped speech; use a multi-speaker segmentation model")
        self.inference = Inference(model, pre_aggregation_hook=speaker_count_scores, batch_size=settings["batch_size"])
        self.speech = Binarize(**settings["speech"])
        self.overlap = Binarize(**settings["overlap"])

    def regions(self, samples: np.ndarray) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """(speech regions, overlapped-speech regions) in seconds of a 16 kHz mono clip."""
        scores = self.inference({"waveform": torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None], "sample_rate": RATE})
        speech = self.speech(scores).label_timeline(0).support()
        overlap = self.overlap(scores).label_timeline(1).support()
        return [(s.start, s.end) for s in speech], [(s.start, s.end) for s in overlap]

    def describe(self, samples: np.ndarray) -> dict[str, Any]:
        speech, overlap = self.regions(samples)
        return summarise(speech, overlap, len(samples) / RATE) | {"vad_source": self.name}


class LevelEstimator:
    """The workflow's brouhaha-style model (results/brouhaha): a clip's SNR and C50."""

    def __init__(self, folder: str, batch_size: int) -> None:
        from destaflow.brouhaha.model import CHECKPOINT
        from destaflow.brouhaha.predict import Predictor

        self.predictor = Predictor.from_checkpoint(str(Path(folder) / CHECKPOINT), batch_size)
        self.name = "model:destaflow-brouhaha"

    def describe(self, samples: np.ndarray) -> dict[str, Any]:
        levels = self.predictor.levels(samples)
        return {"snr_db": _rounded(levels["snr_db"]), "c50_db": _rounded(levels["c50_db"]), "brouhaha_source": self.name}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def detect(corpus_manifest: str, out_table: str, out_quarantine: str, settings: dict[str, Any]) -> None:
    """Every clip of the manifest -> one row of the voice-activity table, or a quarantine row with the reason."""
    if settings.get("threads"):
        torch.set_num_threads(settings["threads"])
    clips = pl.read_parquet(corpus_manifest, columns=["id", "audio_path"]).to_dicts()
    detectors = [VoiceActivityDetector(settings)] + ([LevelEstimator(settings["brouhaha"], settings["batch_size"])] if settings.get("brouhaha") else [])
    rows, quarantined = [], []
    for clip in tqdm(clips, desc="voice activity", unit="clip"):
        try:
            samples = load_audio(clip["audio_path"]).samples
            row = {"id": clip["id"]}
            for detector in detectors:
                row |= detector.describe(samples)
            rows.append(row)
        except AudioError as error:
            quarantined.append(tables.quarantine_row(clip["id"], clip["audio_path"], STAGE, error))
        except Exception as error:  # noqa: BLE001 - one clip the model fails on must not stop the corpus
            log.exception("voice activity failed on %s", clip["id"])
            quarantined.append(tables.quarantine_row(clip["id"], clip["audio_path"], STAGE, f"{STAGE}: {type(error).__name__}: {tables.reason_of(error)}"))
    if len(rows) + len(quarantined) != len(clips):
        raise RuntimeError(f"lost clips: {len(clips)} in, {len(rows)} kept + {len(quarantined)} quarantined")
    log.info("%d clips in, %d with voice activity, %d quarantined", len(clips), len(rows), len(quarantined))
    tables.write(pl.DataFrame(rows, schema=tables.VOICE_ACTIVITY), out_table, "voice_activity")
    tables.write_quarantine(quarantined, out_quarantine)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest")
    parser.add_argument("out_table")
    parser.add_argument("out_quarantine")
    parser.add_argument("--settings", required=True, help="JSON: destaflow.vad.vad_settings()")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)
    logging.captureWarnings(True)
    detect(args.manifest, args.out_table, args.out_quarantine, json.loads(args.settings))


if __name__ == "__main__":
    main()
