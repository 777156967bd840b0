"""PromptTTS reader: the PromptSpeech style-prompt release, with audio the user supplies.

What is released (speechresearch.github.io/prompttts, "1.1 PromptSpeech"): four zip files of prompts,
Synthesized_training.zip (155,092), Synthesized_test.zip (5,032), Real_training.zip (26,588) and
Real_test.zip (1,305). The synthesized version was rendered with a commercial TTS and carries five style
factors (gender: 2 classes; pitch, speaking speed, volume: high/normal/low; emotion: 5 styles - said,
shouted, whispered, cheerful, sad); its audio is not public. The real version re-uses LibriTTS
utterances (openslr 60) and has no emotion factor.

`root` is the folder the zips were extracted into. Metadata files are the tab-separated `*.txt`/`*.tsv`
files in root or one folder below it (deeper text files, such as LibriTTS transcripts, are never read).
A file either starts with a header row naming its columns (item_name, style_prompt, gender, pitch,
speed/speaking_speed, volume/energy, emotion, text/content; common aliases accepted) or has none and
then holds, in order: item name, style prompt, gender, pitch, speaking speed, volume[, emotion].
A text file that fits neither is skipped with a warning.

Audio: `<audio_root>/<item>.wav`, or a `<item>.wav` anywhere below audio_root (so a LibriTTS tree
serves the real version as it is); audio_root defaults to root. An item whose audio is absent is still
yielded and is quarantined downstream as `missing file`.

Speakers: a LibriTTS item (`<speaker>_<chapter>_<paragraph>_<sentence>`) belongs to its LibriTTS
speaker (`prompttts-libritts<speaker>`). Synthesized items do not name their TTS voice, so all
synthesized items of one gender count as one speaker (`prompttts-synth-female`, ...): no voice can then
appear in two splits.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from destaflow.corpora import base

CORPUS = "prompttts"
METADATA_SUFFIXES = (".txt", ".tsv")
POSITIONAL_COLUMNS = ("item", "style_prompt", "gender", "pitch", "speaking_speed", "volume", "emotion")
REQUIRED_POSITIONAL = 6  # the real version has no emotion column
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "item": ("item_name", "item", "name", "id", "utt_id", "utterance", "utterance_id", "file", "filename", "wav"),
    "style_prompt": ("style_prompt", "prompt", "style", "description"),
    "gender": ("gender",),
    "pitch": ("pitch",),
    "speaking_speed": ("speaking_speed", "speed", "rate", "speaking_rate"),
    "volume": ("volume", "energy", "loudness"),
    "emotion": ("emotion", "style_emotion"),
    "text": ("text", "content", "content_prompt", "transcript", "transcription"),
}

DEFAULT_LABELS: dict[str, dict[str, str]] = {
    "gender": {"M": "male", "F": "female"},
    "speaking_speed": {"high": "fast", "low": "slow"},
    "volume": {"high": "loud", "low": "quiet"},
    "emotion": {"general": "neutral", "cheerful": "happy"},
}

LIBRITTS_ITEM = re.compile(r"^(\d+)_(\d+)_(\d+)_(\d+)$")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    name: str
    values: dict[str, str | None]
    source: str


def read(root: Path, settings: dict[str, Any]) -> Iterator[dict[str, Any]]:
    root = Path(root).absolute()
    # the release's inner file names are not fixed, so the layout check is: a folder holding metadata
    if not root.is_dir():
        raise base.CorpusLayoutError(
            f"{CORPUS} root {root} is not a folder: is this where the PromptSpeech zips were extracted?"
        )
    items = read_items(root)
    if not items:
        raise base.CorpusLayoutError(
            f"{CORPUS} root {root} holds no PromptSpeech metadata (tab-separated *.txt/*.tsv in it or one folder "
            "below): is this where the PromptSpeech zips were extracted?"
        )
    audio = AudioFinder(Path(settings.get("audio_root") or root).absolute())
    for item in items:
        yield clip_row(item, audio.path(item.name), settings)


def metadata_files(root: Path) -> list[Path]:
    folders = [root, *(p for p in root.iterdir() if p.is_dir() and p.name != "__MACOSX")]
    return sorted(
        path
        for folder in folders
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in METADATA_SUFFIXES and not path.name.startswith(".")
    )


def read_items(root: Path) -> list[Item]:
    items: dict[str, Item] = {}
    for path in metadata_files(root):
        for item in read_metadata_file(path, root):
            if item.name in items:
                first = items[item.name].source
                logger.warning("%s: item %r already read from %s; duplicate skipped", path, item.name, first)
                continue
            items[item.name] = item
    return list(items.values())


def read_metadata_file(path: Path, root: Path) -> list[Item]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    rows = [line.split("\t") for line in lines if line.strip()]
    if not rows:
        return []
    columns = header_columns(rows[0])
    first_data_line = 1
    if columns is not None:
        rows, first_data_line = rows[1:], 2
    elif REQUIRED_POSITIONAL <= len(rows[0]) <= len(POSITIONAL_COLUMNS):
        columns = list(POSITIONAL_COLUMNS[: len(rows[0])])
    else:
        logger.warning("%s: neither a PromptSpeech header nor %d-%d tab-separated fields; file skipped",
                       path, REQUIRED_POSITIONAL, len(POSITIONAL_COLUMNS))
        return []
    source = str(path.relative_to(root))
    items = []
    for number, fields in enumerate(rows, start=first_data_line):
        item = parse_row(fields, columns, source)
        if item is None:
            logger.warning("%s: row %d has %d fields, not %d; skipped", path, number, len(fields), len(columns))
            continue
        items.append(item)
    return items


def header_columns(fields: list[str]) -> list[str | None] | None:
    """Canonical column names of a header row (None for columns this reader ignores), or None if no header."""
    names = [canonical_column(field) for field in fields]
    return names if names and names[0] == "item" else None


def canonical_column(field: str) -> str | None:
    name = field.strip().lower().replace(" ", "_")
    return next((column for column, aliases in COLUMN_ALIASES.items() if name in aliases), None)


def parse_row(fields: list[str], columns: list[str | None], source: str) -> Item | None:
    if len(fields) < min(len(columns), REQUIRED_POSITIONAL) or len(fields) > len(columns):
        return None
    values = {column: (field.strip() or None) for column, field in zip(columns, fields) if column}
    name = values.pop("item", None)
    if not name:
        return None
    return Item(Path(name).stem if name.lower().endswith(".wav") else name, values, source)


class AudioFinder:
    """`<audio_root>/<item>.wav`, else a `<item>.wav` anywhere below audio_root (indexed once, on first need)."""

    def __init__(self, audio_root: Path) -> None:
        self.audio_root = audio_root
        self._nested: dict[str, Path] | None = None
        if not audio_root.is_dir():
            logger.warning("%s audio_root %s is not a folder: every item is quarantined as missing", CORPUS, audio_root)

    def path(self, item: str) -> Path:
        direct = self.audio_root / f"{item}.wav"
        if direct.is_file():
            return direct
        return self.nested().get(item, direct)

    def nested(self) -> dict[str, Path]:
        if self._nested is None:
            found = sorted(self.audio_root.rglob("*.wav")) if self.audio_root.is_dir() else []
            self._nested = {}
            for path in found:
                self._nested.setdefault(path.stem, path)
        return self._nested


def speaker_of(item: Item) -> str:
    libritts = LIBRITTS_ITEM.match(item.name)
    if libritts:
        return f"{CORPUS}-libritts{libritts.group(1)}"
    # default gender words only, so a speaker id never changes with the configured label maps
    gender = label(item.values.get("gender"), "gender", {}) or "unknown"
    return f"{CORPUS}-synth-{gender}"


def clip_row(item: Item, wav: Path, settings: dict[str, Any]) -> dict[str, Any]:
    speaker = speaker_of(item)
    values = item.values
    return {
        "id": f"{CORPUS}-{item.name}",
        "audio_path": str(wav),
        "speaker": speaker,
        "split": base.split_for(speaker, settings),
        **base.labelled(
            gender=label(values.get("gender"), "gender", settings),
            pitch=label(values.get("pitch"), "pitch", settings),
            speaking_speed=label(values.get("speaking_speed"), "speaking_speed", settings),
            volume=label(values.get("volume"), "volume", settings),
            emotion=label(values.get("emotion"), "emotion", settings),
            text=values.get("text"),
        ),
        "prompttts_item": item.name,
        "prompttts_style_prompt": values.get("style_prompt"),
        "prompttts_source": item.source,
    }


def label(raw: Any, attribute: str, settings: dict[str, Any]) -> str | None:
    return base.map_with_defaults(raw, attribute, settings, DEFAULT_LABELS)
