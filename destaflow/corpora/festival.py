"""A second speech synthesizer, Festival, for test voices only.

The demo trains on espeak-ng voices; a few test voices from Festival (Debian `festival` with its festvox voices)
show whether what the adapter learned reaches beyond one synthesizer. Labels are exact by construction, as for
espeak-ng: the speaking rate is set through the voice's own duration control (diphone voices' Duration_Stretch,
the HTS engine's speed), and the pitch is shifted by resampling (synthesized k times slower, then played k times
faster: pitch x k at the same rate), the same way for every voice since Festival's HTS voices take no pitch
setting.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from destaflow.corpora.commands import require_command

TEXT2WAVE = "text2wave"


class FestivalError(RuntimeError):
    pass


def require_festival() -> str:
    return require_command(TEXT2WAVE, "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts", FestivalError)


def rate_setting(voice: str, rate: float) -> str:
    """Scheme that makes `voice` speak `rate` times its natural speed (HTS voices and diphone voices differ)."""
    if voice.endswith("_hts"):
        return f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {rate:.5f}))))'
    return f"(Parameter.set 'Duration_Stretch {1 / rate:.5f})"


def text2wave(text: str, voice: str, rate: float = 1.0) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "text.txt", Path(folder) / "speech.wav"
        source.write_text(text + "\n")
        command = [require_festival(), "-eval", f"({voice})", "-eval", rate_setting(voice, rate), str(source), "-o", str(target)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not target.exists() or target.stat().st_size <= 44:
            raise FestivalError(f"festival could not speak with {voice} (is its festvox package installed?): {done.stderr.strip()[:300]}")
        samples, sample_rate = sf.read(target, dtype="float32")
    return samples, sample_rate


@functools.cache
def natural_words_per_minute(text: str, voice: str) -> float:
    samples, sample_rate = text2wave(text, voice)
    return len(text.split()) / (len(samples) / sample_rate) * 60


def synthesize(text: str, voice: str, semitones: float, words_per_minute: float) -> tuple[np.ndarray, int]:
    """`text` spoken by `voice` at `words_per_minute`, its pitch shifted by `semitones`."""
    factor = 2 ** (semitones / 12)
    rate = words_per_minute / natural_words_per_minute(text, voice)
    samples, sample_rate = text2wave(text, voice, rate / factor)
    return soxr.resample(samples, sample_rate * factor, sample_rate).astype(np.float32), sample_rate
