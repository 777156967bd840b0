"""A tiny extracted DailyTalk.zip: three dialogs of 44.1 kHz espeak-ng turns plus metadata.json.

Files follow the release: dailytalk/metadata.json ({dialog: {utterance: entry}}, keys as strings) and
dailytalk/data/<dialog>/<utterance>_<speaker>_d<dialog>.wav with a same-named .txt holding the line.
Speaker 0 is voiced male and speaker 1 female, as in the corpus. Deliberate oddities: turn 2 of
dialog 47 is in metadata.json but has no wav, data/120/2_0_d120.wav is absent from metadata.json, and
dialog 120 lists a turn with an impossible speaker index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
import soxr

from destaflow.corpora import espeak

SAMPLE_RATE = 44_100
VOICES = {0: "en-us+m3", 1: "en-us+f3"}


@dataclass(frozen=True)
class Turn:
    dialog: int
    utterance: int
    speaker: int
    text: str
    emotion: str
    act: str
    topic: str = "ordinary_life"
    has_wav: bool = True
    in_metadata: bool = True

    @property
    def stem(self) -> str:
        return f"{self.utterance}_{self.speaker}_d{self.dialog}"


TURNS = [
    Turn(7, 0, 0, "Hello, how are you today?", "no emotion", "question"),
    Turn(7, 1, 1, "I am fine, thank you.", "happiness", "inform"),
    Turn(7, 2, 0, "Shall we go to the park?", "no emotion", "directive"),
    Turn(47, 0, 1, "Thank you for calling.", "happiness", "inform", topic="relationship"),
    Turn(47, 1, 0, "Oh, lovely. Where is the wedding?", "happiness", "question", topic="relationship"),
    Turn(47, 2, 1, "See you soon.", "sadness", "commissive", topic="relationship", has_wav=False),
    Turn(120, 0, 0, "I can not believe it.", "surprise", "inform", topic="work"),
    Turn(120, 1, 1, "That is disgusting.", "disgust", "inform", topic="work"),
    Turn(120, 2, 0, "Anyway.", "no emotion", "inform", topic="work", in_metadata=False),
]
BAD_SPEAKER_TURN = {"dialog": "120", "utterance": "3", "entry": {"text": "Who said that?", "speaker": 5}}


def build(root: Path) -> Path:
    """Write the corpus under root; return the extracted `dailytalk` folder."""
    corpus = root / "dailytalk"
    for turn in TURNS:
        if turn.has_wav:
            folder = corpus / "data" / str(turn.dialog)
            write_speech(folder / f"{turn.stem}.wav", turn)
            (folder / f"{turn.stem}.txt").write_text(turn.text + "\n")
    (corpus / "metadata.json").write_text(json.dumps(metadata(), indent=1))
    return corpus


def metadata() -> dict[str, dict[str, dict]]:
    dialogs: dict[str, dict[str, dict]] = {}
    for index, turn in enumerate(t for t in TURNS if t.in_metadata):
        dialogs.setdefault(str(turn.dialog), {})[str(turn.utterance)] = {
            "index": index,
            "text": turn.text,
            "speaker": turn.speaker,
            "turn": turn.utterance,
            "topic": turn.topic,
            "emotion": turn.emotion,
            "act": turn.act,
            "dialog_idx": turn.dialog,
            "utterance_idx": turn.utterance,
        }
    dialogs[BAD_SPEAKER_TURN["dialog"]][BAD_SPEAKER_TURN["utterance"]] = BAD_SPEAKER_TURN["entry"]
    return dialogs


def write_speech(path: Path, turn: Turn) -> None:
    samples, rate = espeak.synthesize(turn.text, VOICES[turn.speaker], 50, 190)
    samples = soxr.resample(samples[:rate], rate, SAMPLE_RATE)  # at most 1 s
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, SAMPLE_RATE, subtype="PCM_16")
