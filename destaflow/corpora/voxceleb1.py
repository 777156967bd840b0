"""VoxCeleb1 audio (vox1_dev_wav.zip and vox1_test_wav.zip, both unpacked into one `wav/`) plus its meta table.

    wav/<VoxCeleb1 ID>/<YouTube video id>/<NNNNN>.wav      16 kHz mono
    vox1_meta.csv      tab-separated: VoxCeleb1 ID, VGGFace1 ID, Gender (m|f), Nationality, Set (dev|test)

Gender comes from the meta table; accent is the speaker's nationality, mapped through the accent label map
(the table gives a country, e.g. "USA", not an accent). The meta table is downloaded separately from the
audio and belongs in `root` beside `wav/`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from destaflow.corpora.base import CorpusLayoutError, labelled, map_label, require_paths, split_for

log = logging.getLogger(__name__)

CORPUS = "voxceleb1"
WAV_DIR = "wav"
META_FILE = "vox1_meta.csv"
META_COLUMNS = ("VoxCeleb1 ID", "VGGFace1 ID", "Gender", "Nationality", "Set")


@dataclass(frozen=True)
class Celebrity:
    name: str | None = None
    gender: str | None = None
    nationality: str | None = None
    release_set: str | None = None


UNKNOWN_CELEBRITY = Celebrity()


def read(root: Path, settings: dict[str, Any]) -> Iterator[dict[str, Any]]:
    require_paths(root, WAV_DIR, META_FILE, corpus=CORPUS)
    celebrities = parse_meta((root / META_FILE).read_text(encoding="utf-8", errors="replace"))
    for speaker_dir in sorted(p for p in (root / WAV_DIR).iterdir() if p.is_dir()):
        celebrity = celebrities.get(speaker_dir.name)
        if celebrity is None:
            log.warning("%s: speaker %s has no row in %s; its clips carry no speaker labels", CORPUS, speaker_dir.name, META_FILE)
        for audio in speaker_audio(speaker_dir):
            yield clip_row(audio, speaker_dir.name, celebrity or UNKNOWN_CELEBRITY, settings)


def parse_meta(text: str) -> dict[str, Celebrity]:
    lines = text.splitlines()
    header = tuple(field.strip() for field in lines[0].split("\t")) if lines else ()
    if header != META_COLUMNS:
        raise CorpusLayoutError(f"{CORPUS} {META_FILE} header is {header!r}, expected the tab-separated columns {META_COLUMNS!r}")
    celebrities: dict[str, Celebrity] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) != len(META_COLUMNS) or not fields[0]:
            log.warning("%s: %s line %d does not have %d tab-separated fields: %r", CORPUS, META_FILE, number, len(META_COLUMNS), line)
            continue
        speaker, name, gender, nationality, release_set = (field or None for field in fields)
        celebrities[speaker] = Celebrity(name=name, gender=gender, nationality=nationality, release_set=release_set)
    return celebrities


def speaker_audio(speaker_dir: Path) -> Iterator[Path]:
    """Every <video>/<NNNNN>.wav of one speaker, in a stable order."""
    for video_dir in sorted(p for p in speaker_dir.iterdir() if p.is_dir()):
        yield from sorted(video_dir.glob("*.wav"))


def clip_row(audio: Path, speaker: str, celebrity: Celebrity, settings: dict[str, Any]) -> dict[str, Any]:
    labels = settings.get("labels", {})
    speaker_id = f"{CORPUS}-{speaker}"
    video = audio.parent.name
    return {
        "id": f"{CORPUS}-{speaker}-{video}-{audio.stem}",
        "audio_path": str(audio.absolute()),
        "speaker": speaker_id,
        "split": split_for(speaker_id, settings),
        **labelled(
            gender=map_label(celebrity.gender, labels.get("gender")),
            accent=map_label(celebrity.nationality, labels.get("accent")),
        ),
        "voxceleb1_name": celebrity.name,
        "voxceleb1_nationality": celebrity.nationality,
        "voxceleb1_set": celebrity.release_set,
        "voxceleb1_video": video,
    }
