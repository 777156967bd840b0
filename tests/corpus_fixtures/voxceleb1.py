"""A tiny VoxCeleb1: wav/<VoxCeleb1 ID>/<YouTube id>/<NNNNN>.wav (16 kHz mono) beside vox1_meta.csv.

The meta rows are copied from the release's table (tab-separated, its header included); like the real table
it lists speakers whose audio is not present here. One YouTube id starts with "-", as real ones can.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16_000

META_ROWS = (
    ("VoxCeleb1 ID", "VGGFace1 ID", "Gender", "Nationality", "Set"),
    ("id10001", "A.J._Buckley", "m", "Ireland", "dev"),
    ("id10002", "A.R._Rahman", "m", "India", "dev"),
    ("id10006", "Abbie_Cornish", "f", "Australia", "dev"),
    ("id10019", "Alain_Delon", "m", "Norway", "dev"),
    ("id10270", "Eartha_Kitt", "f", "USA", "test"),
    ("id10292", "Emraan_Hashmi", "m", "India", "test"),
)

CLIPS = (
    "id10001/1zcIwhmdeo4/00001",
    "id10001/1zcIwhmdeo4/00002",
    "id10001/7w0IBEWc9Qw/00001",
    "id10006/-J2ZkqWtTyA/00001",
    "id10006/-J2ZkqWtTyA/00002",
    "id10019/Ilq3Ea4hLRM/00001",
    "id10270/x6uYqmx31kE/00001",
    "id10270/8jEAjG6SegY/00008",
    "id10292/ENIHEvg_VLM/00003",
)


def build(root: Path) -> Path:
    corpus = root / "VoxCeleb1"
    corpus.mkdir(parents=True)
    (corpus / "vox1_meta.csv").write_text("".join("\t".join(row) + "\n" for row in META_ROWS), encoding="utf-8")
    for index, clip in enumerate(CLIPS):
        path = corpus / "wav" / f"{clip}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, _tone(0.7, 180.0 + 25 * index), SAMPLE_RATE, subtype="PCM_16")
    return corpus


def _tone(seconds: float, frequency: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
