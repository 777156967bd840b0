"""AccentDB, release `accentdb_extended` (accentDB_extended.tar.gz), unpacked; `root` is the folder holding `data/`.

    data/<accent>/speaker_<NN>/<accent>_s<NN>_<NNN>.wav

The accent is the folder name (american, australian, bangla, british, indian, malayalam, odiya, telugu,
welsh); the speaker is the numbered folder inside it. The release has no transcripts and no speaker
gender or age, so accent is the only attribute it labels.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Iterator

from destaflow.corpora.base import labelled, map_label, require_paths, split_for

log = logging.getLogger(__name__)

CORPUS = "accentdb"
DATA_DIR = "data"
SPEAKER_DIR = re.compile(r"speaker_(\d+)")


def read(root: Path, settings: dict[str, Any]) -> Iterator[dict[str, Any]]:
    require_paths(root, DATA_DIR, corpus=CORPUS)
    for accent_dir in _visible(root / DATA_DIR):
        if not accent_dir.is_dir():
            log.warning("%s: skipping %s: expected only accent folders in %s", CORPUS, accent_dir, DATA_DIR)
            continue
        for speaker_dir in _visible(accent_dir):
            if not speaker_dir.is_dir():
                log.warning("%s: skipping %s: not inside a speaker folder", CORPUS, speaker_dir)
                continue
            speaker = speaker_name(accent_dir.name, speaker_dir.name)
            for audio in _visible(speaker_dir):
                if audio.suffix.lower() == ".wav":
                    yield clip_row(audio, accent_dir.name, speaker, settings)


def _visible(folder: Path) -> list[Path]:
    # archives packed on macOS carry "._name" and ".DS_Store" entries beside the real ones
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def speaker_name(accent: str, folder: str) -> str:
    """`speaker_01` under `american` -> `american_s01`, the prefix the release gives that speaker's files."""
    match = SPEAKER_DIR.fullmatch(folder)
    return f"{accent}_s{match.group(1)}" if match else f"{accent}_{folder}"


def clip_row(audio: Path, accent: str, speaker: str, settings: dict[str, Any]) -> dict[str, Any]:
    labels = settings.get("labels", {})
    speaker_id = f"{CORPUS}-{speaker}"
    # file names repeat accent and speaker; one that does not keeps its folder's speaker to stay unique
    clip = audio.stem if audio.stem.startswith(f"{speaker}_") else f"{speaker}-{audio.stem}"
    return {
        "id": f"{CORPUS}-{clip}",
        "audio_path": str(audio.absolute()),
        "speaker": speaker_id,
        "split": split_for(speaker_id, settings),
        **labelled(accent=map_label(accent, labels.get("accent"))),
        "accentdb_accent": accent,
    }
