"""Thin wrapper around the espeak-ng command-line synthesizer."""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from destaflow.corpora.commands import require_command

ESPEAK = "espeak-ng"


class EspeakError(RuntimeError):
    pass


def require_espeak() -> str:
    return require_command(ESPEAK, "espeak-ng", EspeakError)


@functools.cache
def variant_genders() -> dict[str, str]:
    """Variant name (f2, m3, ...) -> 'female' | 'male', as espeak-ng itself lists them."""
    listing = subprocess.run([require_espeak(), "--voices=variant"], capture_output=True, text=True, check=True).stdout
    genders = {}
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5 or not fields[4].startswith("!v/"):
            continue
        gender = fields[2].split("/")[-1]
        if gender in ("F", "M"):
            genders[fields[4][3:]] = "female" if gender == "F" else "male"
    return genders


def synthesize(text: str, voice: str, pitch: int, words_per_minute: int) -> tuple[np.ndarray, int]:
    """Render `text` with espeak-ng; return float32 mono samples and the sample rate."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "clip.wav"
        command = [require_espeak(), "-v", voice, "-p", str(pitch), "-s", str(words_per_minute), "-w", str(wav), text]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not wav.exists():
            raise EspeakError(f"espeak-ng failed for voice {voice!r}: {result.stderr.strip()}")
        samples, rate = sf.read(wav, dtype="float32", always_2d=False)
    if samples.size == 0:
        raise EspeakError(f"espeak-ng rendered no audio for voice {voice!r} and text {text!r}")
    return samples, rate


@functools.cache
def variants_apply(language: str) -> bool:
    """Whether espeak-ng honours `+variant` for this language voice (some aliases, e.g. en-gb, silently do not)."""
    female, _ = synthesize("Hello there.", f"{language}+f3", 50, 175)
    male, _ = synthesize("Hello there.", f"{language}+m3", 50, 175)
    return female.shape != male.shape or not np.array_equal(female, male)
