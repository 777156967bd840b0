"""DailyTalk reader (the extracted DailyTalk.zip, folder `dailytalk/`): one clip per dialogue turn.

Layout read:

    metadata.json                                   {dialog_idx: {utterance_idx: {"text", "speaker" (0|1),
                                                    "emotion", "act", "topic", "turn", "index",
                                                    "dialog_idx", "utterance_idx"}}}, keys as strings
    data/<dialog_idx>/<utterance_idx>_<speaker>_d<dialog_idx>.wav   one turn (44.1 kHz mono)
    data/<dialog_idx>/<utterance_idx>_<speaker>_d<dialog_idx>.txt   the line the actor read

Emotion and act are DailyDialog's annotations carried over by DailyTalk: emotion words such as
"no emotion"/"happiness", acts such as "inform"/"question" (DailyDialog's numeric ids 0-6 and 1-4 are
accepted too, through the label maps). The act becomes the `intent` attribute.

Speakers: DailyTalk was recorded by two voice actors who read speaker 0 and speaker 1 of every dialogue,
so the speaker index names the same person across dialogues; speakers are `dailytalk-0` and
`dailytalk-1` (not per dialogue: that would put one voice in several splits). With only two speakers a
speaker-disjoint split places each whole voice in one split. Gender: speaker 0 is male and speaker 1 is
female, as lhotse's DailyTalk recipe records it (and DeSTA2's released DailyTalk examples agree).

A turn listed in metadata.json whose wav is absent is still yielded (quarantined downstream); a wav
absent from metadata.json is yielded with its text only.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Iterator

from destaflow.corpora import base

CORPUS = "dailytalk"
METADATA = "metadata.json"
DATA_DIR = "data"
SPEAKER_GENDER = {"0": "male", "1": "female"}

DEFAULT_LABELS: dict[str, dict[str, str]] = {
    "emotion": {
        "no emotion": "neutral",
        "none": "neutral",
        "happiness": "happy",
        "sadness": "sad",
        "anger": "angry",
        "fear": "fearful",
        "surprise": "surprised",
        "disgust": "disgusted",
        "0": "neutral",
        "1": "angry",
        "2": "disgusted",
        "3": "fearful",
        "4": "happy",
        "5": "sad",
        "6": "surprised",
    },
    "intent": {"1": "inform", "2": "question", "3": "directive", "4": "commissive"},
}

TURN_FILE = re.compile(r"^(\d+)_(\d+)_d(\d+)$")

logger = logging.getLogger(__name__)


def read(root: Path, settings: dict[str, Any]) -> Iterator[dict[str, Any]]:
    root = Path(root).absolute()
    base.require_paths(root, METADATA, DATA_DIR, corpus=CORPUS)
    turns = read_metadata(root / METADATA)
    for stem in sorted(set(turns) | set(turn_wavs(root / DATA_DIR)), key=turn_order):
        yield clip_row(root, stem, turns.get(stem), settings)


def read_metadata(path: Path) -> dict[str, dict[str, Any]]:
    """Turn file stem (`<utterance>_<speaker>_d<dialog>`) -> its metadata entry."""
    try:
        dialogs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise base.CorpusLayoutError(f"{CORPUS} {path} is not readable JSON: {error}") from error
    if not isinstance(dialogs, dict):
        raise base.CorpusLayoutError(f"{CORPUS} {path} is not a dialog -> turns object")
    turns: dict[str, dict[str, Any]] = {}
    for dialog, entries in dialogs.items():
        if not isinstance(entries, dict):
            logger.warning("%s: dialog %r is not a turn mapping; skipped", path, dialog)
            continue
        for utterance, entry in entries.items():
            speaker = str(entry.get("speaker")) if isinstance(entry, dict) else None
            if speaker not in SPEAKER_GENDER:
                logger.warning("%s: dialog %r turn %r has no speaker 0/1; skipped", path, dialog, utterance)
                continue
            stem = f"{utterance}_{speaker}_d{dialog}"
            if not TURN_FILE.match(stem):
                logger.warning("%s: dialog %r turn %r is not numbered; skipped", path, dialog, utterance)
                continue
            turns[stem] = entry
    return turns


def turn_wavs(data_dir: Path) -> list[str]:
    stems = []
    for path in data_dir.glob("*/*.wav"):
        match = TURN_FILE.match(path.stem)
        if match and match.group(2) in SPEAKER_GENDER and match.group(3) == path.parent.name:
            stems.append(path.stem)
        elif not path.name.startswith("."):
            logger.warning("%s: not <utterance>_<0|1>_d<dialog>.wav in its dialog folder; skipped", path)
    return stems


def turn_order(stem: str) -> tuple[int, int]:
    utterance, _, dialog = TURN_FILE.match(stem).groups()
    return int(dialog), int(utterance)


def clip_row(root: Path, stem: str, entry: dict[str, Any] | None, settings: dict[str, Any]) -> dict[str, Any]:
    utterance, speaker_index, dialog = TURN_FILE.match(stem).groups()
    entry = entry or {}
    wav = root / DATA_DIR / dialog / f"{stem}.wav"
    speaker = f"{CORPUS}-{speaker_index}"
    return {
        "id": f"{CORPUS}-{stem}",
        "audio_path": str(wav),
        "speaker": speaker,
        "split": base.split_for(speaker, settings),
        **base.labelled(
            gender=label(SPEAKER_GENDER[speaker_index], "gender", settings),
            emotion=label(entry.get("emotion"), "emotion", settings),
            intent=label(entry.get("act"), "intent", settings),
            text=read_text(wav.with_suffix(".txt")) or clean(entry.get("text")),
        ),
        "dailytalk_dialog": int(dialog),
        "dailytalk_turn": int(utterance),
        "dailytalk_topic": clean(entry.get("topic")),
        "dailytalk_emotion": clean(entry.get("emotion")),
        "dailytalk_act": clean(entry.get("act")),
    }


def read_text(path: Path) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return clean(lines[0]) if lines else None


def clean(value: Any) -> str | None:
    text = " ".join(str(value).split()) if value is not None else ""
    return text or None


def label(raw: Any, attribute: str, settings: dict[str, Any]) -> str | None:
    return base.map_with_defaults(raw, attribute, settings, DEFAULT_LABELS)
