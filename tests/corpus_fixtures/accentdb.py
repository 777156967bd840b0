"""A tiny AccentDB `accentdb_extended`: data/<accent>/speaker_<NN>/<accent>_s<NN>_<NNN>.wav, no transcripts.

The compiled native and metropolitan-Indian accents are mono 22,050 Hz files; the four accents the authors
recorded are written as stereo 48 kHz, so the reader meets both formats the release mixes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

COMPILED_RATE, RECORDED_RATE = 22_050, 48_000

SPEAKERS = {
    # accent folder -> speaker folder numbers
    "american": (1, 2),
    "welsh": (1,),
    "indian": (1,),
    "bangla": (1,),
    "malayalam": (3,),
}
RECORDED = ("bangla", "malayalam", "odiya", "telugu")
CLIPS_PER_SPEAKER = 2

CLIPS = tuple(
    f"{accent}_s{speaker:02d}_{number:03d}"
    for accent, speakers in SPEAKERS.items()
    for speaker in speakers
    for number in range(1, CLIPS_PER_SPEAKER + 1)
)


def build(root: Path) -> Path:
    corpus = root / "accentdb_extended"
    for index, clip in enumerate(CLIPS):
        accent, speaker, _ = clip.rsplit("_", 2)
        folder = corpus / "data" / accent / f"speaker_{speaker[1:]}"
        folder.mkdir(parents=True, exist_ok=True)
        recorded = accent in RECORDED
        rate = RECORDED_RATE if recorded else COMPILED_RATE
        sf.write(folder / f"{clip}.wav", _tone(0.8, rate, 200.0 + 15 * index, channels=2 if recorded else 1), rate, subtype="PCM_16")
    return corpus


def _tone(seconds: float, rate: int, frequency: float, channels: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono
