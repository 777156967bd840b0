"""A tiny VCTK 0.92 in the layout of the unpacked `VCTK-Corpus-0.92.zip`, with the release's own gaps.

speaker-info.txt rows copy the release's format (p-prefixed ids, double-space aligned columns, comments in
parentheses); p280 has no mic2 audio, p315 no transcripts and no mic2 audio, p362 a transcript without audio,
and s5 has audio but no speaker-info row. One mic1 file (p234_002) is a few garbage bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 48_000

SPEAKER_INFO = """\
ID  AGE  GENDER  ACCENTS  REGION COMMENTS 
p225  23  F    English    Southern  England
p226  22  M    English    Surrey
p234  22  F    Scottish  West  Dumfries
p248  23  F    Indian  
p280  25  F    Unknown    France (mic2 files unavailable)
p315  18  M    American    New  England (Text and mic2 files unavailable)
p326  26  M    Australian  English  Sydney
p362  29  F    American
"""

TRANSCRIPTS = {
    "p225_001": "Please call Stella.",
    "p225_002": "Ask her to bring these things with her from the store.",
    "p225_003": "Six spoons of fresh snow peas, five thick slabs of blue cheese.",
    "p226_001": "Please call Stella.",
    "p226_002": "We also need a small plastic snake and a big toy frog for the kids.",
    "p234_001": "She can scoop these things into three red bags.",
    "p234_002": "And we will go meet her Wednesday at the train station.",
    "p248_001": "Please call Stella.",
    "p248_002": "When the sunlight strikes raindrops in the air, they act as a prism.",
    "p280_001": "Please call Stella.",
    "p280_002": "The rainbow is a division of white light into many beautiful colors.",
    "p326_001": "Please call Stella.",
    "p326_002": "These take the shape of a long round arch.",
    "p362_001": "Please call Stella.",
    "p362_002": "There is, according to legend, a boiling pot of gold at one end.",
    "s5_001": "Please call Stella.",
    "s5_002": "People look, but no one ever finds it.",
}
NO_TRANSCRIPT = ("p315_001", "p315_002")
MIC1_ONLY_SPEAKERS = ("p280", "p315")
AUDIO_MISSING = "p362_002"
CORRUPT_MIC1 = "p234_002"

CLIPS = tuple(sorted({*TRANSCRIPTS, *NO_TRANSCRIPT}))
"""Every utterance of the fixture: it has a transcript, mic1 audio, or both."""


def build(root: Path) -> Path:
    corpus = root / "VCTK-Corpus-0.92"
    corpus.mkdir(parents=True)
    (corpus / "speaker-info.txt").write_text(SPEAKER_INFO, encoding="utf-8")
    for utterance, text in TRANSCRIPTS.items():
        _write_text(corpus / "txt" / _speaker(utterance) / f"{utterance}.txt", text + "\n")
    for number, utterance in enumerate(CLIPS):
        if utterance != AUDIO_MISSING:
            _write_audio(corpus, utterance, 220.0 + 20 * number)
    return corpus


def _speaker(utterance: str) -> str:
    return utterance.rsplit("_", 1)[0]


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _write_audio(corpus: Path, utterance: str, frequency: float) -> None:
    speaker = _speaker(utterance)
    folder = corpus / "wav48_silence_trimmed" / speaker
    folder.mkdir(parents=True, exist_ok=True)
    mics = ("mic1",) if speaker in MIC1_ONLY_SPEAKERS else ("mic1", "mic2")
    for mic in mics:
        path = folder / f"{utterance}_{mic}.flac"
        if utterance == CORRUPT_MIC1 and mic == "mic1":
            path.write_bytes(b"fLaC\x00\x13garbage")
        else:
            sf.write(path, _tone(0.6, frequency), SAMPLE_RATE, format="FLAC", subtype="PCM_16")


def _tone(seconds: float, frequency: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
