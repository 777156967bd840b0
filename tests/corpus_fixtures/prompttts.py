"""A tiny PromptSpeech release plus a separate, incomplete folder of user-supplied audio.

promptspeech/ holds what the four released zips extract to (here a test split of each version):
Synthesized_test/Synthesized_test.txt without a header (item, style prompt, gender, pitch, speed,
volume, emotion) and Real_test/Real_test.txt with a header row and a text column but no emotion (the
real version has none), plus a README.txt that is no metadata. promptspeech_audio/ is the audio the
user brings: synthesized items flat as <item>.wav (16 kHz), real items in their LibriTTS tree
(24 kHz, with LibriTTS's own .normalized.txt beside them). One item of each version has no audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
import soxr

from destaflow.corpora import espeak

SYNTHESIZED_RATE = 16_000
LIBRITTS_RATE = 24_000
VOICES = {"male": "en-us+m3", "female": "en-us+f3"}


@dataclass(frozen=True)
class Item:
    name: str
    prompt: str
    gender: str
    pitch: str
    speed: str
    volume: str
    emotion: str | None
    text: str
    has_audio: bool = True

    @property
    def libritts_path(self) -> Path:
        speaker, chapter = self.name.split("_")[:2]
        return Path("train-clean-100") / speaker / chapter / f"{self.name}.wav"


SYNTHESIZED = [
    Item("0_000307", "A man says cheerfully at a fast pace", "Male", "normal", "high", "normal", "cheerful",
         "A new pride taught me."),
    Item("0_000308", "A lady sadly murmurs in a high voice", "Female", "high", "normal", "low", "sad",
         "Tom was beat."),
    Item("1_000012", "She whispers slowly with a deep voice", "Female", "low", "low", "high", "whispering",
         "Go hungry.", has_audio=False),
    Item("1_000013", "Please ask a man with a normal voice to say", "Male", "normal", "normal", "normal", "general",
         "So Tom took his pipes."),
]
REAL = [
    Item("1034_121119_000001_000001", "Provide me with a female voice", "Female", "high", "low", "normal", None,
         "What shall we do?"),
    Item("1034_121119_000002_000000", "A woman speaks loudly and fast", "Female", "normal", "high", "high", None,
         "He asked his father."),
    Item("6829_68769_000005_000000", "A man with a low voice talks slowly", "Male", "low", "low", "normal", None,
         "Go hungry, replied Barney.", has_audio=False),
]


def build(root: Path) -> tuple[Path, Path]:
    """Write the release and the audio under root; return (corpus root, audio root)."""
    corpus, audio = root / "promptspeech", root / "promptspeech_audio"
    write_synthesized_metadata(corpus / "Synthesized_test" / "Synthesized_test.txt")
    write_real_metadata(corpus / "Real_test" / "Real_test.txt")
    (corpus / "README.txt").write_text("PromptSpeech: style prompts for PromptTTS.\nSee the project page.\n")
    for item in SYNTHESIZED:
        if item.has_audio:
            write_speech(audio / f"{item.name}.wav", item, SYNTHESIZED_RATE)
    for item in REAL:
        if item.has_audio:
            wav = audio / item.libritts_path
            write_speech(wav, item, LIBRITTS_RATE)
            wav.with_suffix(".normalized.txt").write_text(item.text + "\n")
    return corpus, audio


def write_synthesized_metadata(path: Path) -> None:
    lines = ["\t".join([i.name, i.prompt, i.gender, i.pitch, i.speed, i.volume, i.emotion or ""]) for i in SYNTHESIZED]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def write_real_metadata(path: Path) -> None:
    header = "item_name\tstyle_prompt\tgender\tpitch\tspeed\tvolume\ttext"
    lines = [header] + ["\t".join([i.name, i.prompt, i.gender, i.pitch, i.speed, i.volume, i.text]) for i in REAL]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def write_speech(path: Path, item: Item, sample_rate: int) -> None:
    samples, rate = espeak.synthesize(item.text, VOICES[item.gender.lower()], 50, 190)
    samples = soxr.resample(samples[:rate], rate, sample_rate)  # at most 1 s
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, sample_rate, subtype="PCM_16")
