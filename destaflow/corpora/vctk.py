"""VCTK 0.92 as released on Edinburgh DataShare (`VCTK-Corpus-0.92.zip`, unpacked; the zip has no top folder).

    speaker-info.txt                                   ID  AGE  GENDER  ACCENTS  REGION COMMENTS
    txt/<speaker>/<speaker>_<NNN>.txt                  one transcript per utterance
    wav48_silence_trimmed/<speaker>/<speaker>_<NNN>_mic1.flac   (and _mic2.flac), 48 kHz

Gaps in the release that this reader tolerates: p315 has no transcripts (and no mic2 audio), p280 has no
mic2 audio, some p362 transcripts have no audio, and speaker folders may lack a speaker-info row (s5).
A clip is every utterance that has a transcript or audio of the chosen microphone; one whose audio is
absent is still yielded so that the quarantine records it as a missing file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from destaflow.corpora.base import labelled, map_label, require_paths, split_for

log = logging.getLogger(__name__)

CORPUS = "vctk"
SPEAKER_INFO = "speaker-info.txt"
TEXT_DIR = "txt"
AUDIO_DIR = "wav48_silence_trimmed"
MICS = ("mic1", "mic2")


@dataclass(frozen=True)
class Speaker:
    age: str | None = None
    gender: str | None = None
    accent: str | None = None
    region: str | None = None
    comment: str | None = None


UNKNOWN_SPEAKER = Speaker()


def read(root: Path, settings: dict[str, Any]) -> Iterator[dict[str, Any]]:
    require_paths(root, SPEAKER_INFO, TEXT_DIR, AUDIO_DIR, corpus=CORPUS)
    mic = settings.get("mic", "mic1")
    if mic not in MICS:
        raise ValueError(f"{CORPUS} mic must be one of {MICS}, not {mic!r}")
    speakers = parse_speaker_info((root / SPEAKER_INFO).read_text(encoding="utf-8", errors="replace"))
    unlisted: set[str] = set()
    for speaker, utterance in sorted(utterances(root, mic)):
        if speaker not in speakers and speaker not in unlisted:
            unlisted.add(speaker)
            log.warning("%s: speaker %s has no row in %s; its clips carry no speaker labels", CORPUS, speaker, SPEAKER_INFO)
        yield clip_row(root, speaker, utterance, mic, speakers.get(speaker, UNKNOWN_SPEAKER), settings)


def parse_speaker_info(text: str) -> dict[str, Speaker]:
    """Speaker id -> labels, from the whitespace-aligned table (header line first, comments in parentheses)."""
    speakers: dict[str, Speaker] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.split()[0].upper() == "ID":
            continue
        parsed = parse_speaker_line(line)
        if parsed is None:
            log.warning("%s: %s line %d is not 'ID AGE GENDER ACCENTS [REGION] [(COMMENT)]': %r", CORPUS, SPEAKER_INFO, number, line)
            continue
        speaker, info = parsed
        speakers[speaker] = info
    return speakers


def parse_speaker_line(line: str) -> tuple[str, Speaker] | None:
    body, _, comment = line.partition("(")
    fields = body.split()
    if len(fields) < 4:
        return None
    speaker, age, gender, *place = fields
    # "Australian English" and "NewZealand English" are one accent written as two words; no region is "English".
    accent_words = 2 if len(place) > 1 and place[1] == "English" else 1
    accent, region = " ".join(place[:accent_words]), " ".join(place[accent_words:])
    # releases before 0.92 wrote the id without its "p" prefix
    speaker = f"p{speaker}" if speaker.isdigit() else speaker
    return speaker, Speaker(age=age, gender=gender, accent=accent, region=region or None, comment=comment.rstrip().rstrip(")").strip() or None)


def utterances(root: Path, mic: str) -> set[tuple[str, str]]:
    """(speaker, utterance id) of every transcript and every audio file of `mic`."""
    found = set(_named_files(root / TEXT_DIR, ".txt"))
    found |= set(_named_files(root / AUDIO_DIR, f"_{mic}.flac"))
    return found


def _named_files(folder: Path, suffix: str) -> Iterator[tuple[str, str]]:
    for speaker_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        speaker = speaker_dir.name
        for path in sorted(speaker_dir.glob(f"*{suffix}")):
            utterance = path.name[: -len(suffix)]
            if not utterance.startswith(f"{speaker}_"):
                log.warning("%s: skipping %s: its name does not start with its folder's speaker %s", CORPUS, path, speaker)
                continue
            yield speaker, utterance


def clip_row(root: Path, speaker: str, utterance: str, mic: str, info: Speaker, settings: dict[str, Any]) -> dict[str, Any]:
    labels = settings.get("labels", {})
    speaker_id = f"{CORPUS}-{speaker}"
    transcript_path = root / TEXT_DIR / speaker / f"{utterance}.txt"
    return {
        "id": f"{CORPUS}-{utterance}",
        "audio_path": str((root / AUDIO_DIR / speaker / f"{utterance}_{mic}.flac").absolute()),
        "speaker": speaker_id,
        "split": split_for(speaker_id, settings),
        **labelled(
            gender=map_label(info.gender, labels.get("gender")),
            age=map_label(info.age, labels.get("age")),
            accent=map_label(info.accent, labels.get("accent")),
            text=map_transcript(read_transcript(transcript_path), labels.get("text")),
        ),
        "vctk_region": info.region,
        "vctk_comment": info.comment,
        "vctk_mic": mic,
    }


def read_transcript(path: Path) -> str | None:
    if not path.is_file():
        return None
    text = " ".join(path.read_text(encoding="utf-8", errors="replace").split())
    return text or None


def map_transcript(text: str | None, mapping: dict[str, str] | None) -> str | None:
    """A transcript is free text: an explicit mapping entry replaces it, otherwise it stays verbatim (not lower-cased)."""
    if text is None or not mapping:
        return text
    return mapping.get(text, text)
