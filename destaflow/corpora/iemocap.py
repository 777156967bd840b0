"""IEMOCAP reader (the USC SAIL `IEMOCAP_full_release` layout): one clip per segmented utterance.

Layout read (per session N = 1..5; a copy holding only some sessions is read as it is):

    SessionN/sentences/wav/<dialog>/<utterance>.wav   16 kHz mono, e.g. Ses01F_impro01/Ses01F_impro01_F000.wav
    SessionN/dialog/EmoEvaluation/<dialog>.txt        one "[start - end]<TAB>utterance<TAB>emotion<TAB>[V, A, D]"
                                                      line per utterance, followed by per-annotator lines
                                                      (C-E2:, A-E3:, ...); a '%' header line; sub-folders
                                                      (Categorical/, Attribute/, Self-evaluation/) are not read
    SessionN/dialog/transcriptions/<dialog>.txt       "utterance [start-end]: text" lines; lines for non-speech
                                                      events (ids ending MXX0/FXX0) name no clip and go unused

The speaker of an utterance is the actor whose gender letter precedes the utterance number
(Ses01F_impro01_M003 is the male actor of session 1, whoever the dialog prefix names), so speakers are
`iemocap-Ses01F`, `iemocap-Ses01M`, ... (ten actors). The consensus emotion `xxx` means the evaluators
did not agree: it is kept raw in `iemocap_emotion` but gives no `emotion` label.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from destaflow.corpora import base

CORPUS = "iemocap"
WAV_DIR = "sentences/wav"
EVALUATION_DIR = "dialog/EmoEvaluation"
TRANSCRIPTION_DIR = "dialog/transcriptions"
NO_AGREEMENT = "xxx"

DEFAULT_LABELS: dict[str, dict[str, str]] = {
    "gender": {"F": "female", "M": "male"},
    "emotion": {
        "neu": "neutral",
        "hap": "happy",
        "exc": "happy",
        "sad": "sad",
        "ang": "angry",
        "fru": "frustrated",
        "sur": "surprised",
        "fea": "fearful",
        "dis": "disgusted",
        "oth": "other",
    },
}

SESSION_DIR = re.compile(r"^Session(\d+)$")
EVALUATION_LINE = re.compile(r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\s+(\S+)\s+(\S+)\s+\[([^\]]*)\]")
TRANSCRIPT_LINE = re.compile(r"^(\S+)\s+\[[\d.]+-[\d.]+\]:\s*(.*)$")
UTTERANCE_SPEAKER = re.compile(r"^Ses(\d+)[FM]?_.*_([FM])\d+$")
NON_SPEECH_TOKEN = re.compile(r"\[[^\]]*\]")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    start: float
    end: float
    emotion: str
    valence: float | None
    activation: float | None
    dominance: float | None


def read(root: Path, settings: dict[str, Any]) -> Iterator[dict[str, Any]]:
    root = Path(root).absolute()
    sessions = session_dirs(root)
    for session in sessions:
        base.require_paths(root, f"{session}/{WAV_DIR}", f"{session}/{EVALUATION_DIR}", corpus=CORPUS)
    for session in sessions:
        yield from read_session(root / session, settings)


def session_dirs(root: Path) -> list[str]:
    """Names of the SessionN folders under root; a root with none fails with the layout error."""
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and SESSION_DIR.match(p.name)) if root.is_dir() else []
    if not names:
        base.require_paths(root, f"Session1/{WAV_DIR}", f"Session1/{EVALUATION_DIR}", corpus=CORPUS)
    return names


def read_session(session_dir: Path, settings: dict[str, Any]) -> Iterator[dict[str, Any]]:
    evaluations = read_evaluations(session_dir / EVALUATION_DIR)
    transcripts = read_transcripts(session_dir / TRANSCRIPTION_DIR)
    # every evaluated utterance is a clip (its wav may be missing: it is quarantined downstream), and so
    # is every sentence wav, labelled or not
    utterances = sorted(set(evaluations) | set(sentence_wavs(session_dir / WAV_DIR)))
    for utterance in utterances:
        row = clip_row(session_dir, utterance, evaluations.get(utterance), transcripts.get(utterance), settings)
        if row is not None:
            yield row


def sentence_wavs(wav_dir: Path) -> list[str]:
    return [p.stem for p in wav_dir.glob("*/*.wav") if not p.name.startswith(".")]


def read_evaluations(evaluation_dir: Path) -> dict[str, Evaluation]:
    evaluations: dict[str, Evaluation] = {}
    for path in sorted(evaluation_dir.glob("*.txt")):
        for number, line in enumerate(read_lines(path), start=1):
            if not line.startswith("["):
                continue  # header, blank and per-annotator lines
            match = EVALUATION_LINE.match(line)
            if match is None:
                logger.warning("%s:%d: unreadable evaluation line skipped: %r", path, number, line[:120])
                continue
            start, end, utterance, emotion, vad = match.groups()
            evaluations[utterance] = Evaluation(float(start), float(end), emotion, *parse_vad(vad))
    return evaluations


def parse_vad(text: str) -> tuple[float | None, float | None, float | None]:
    try:
        valence, activation, dominance = (float(part) for part in text.split(","))
    except ValueError:
        return None, None, None
    return valence, activation, dominance


def read_transcripts(transcription_dir: Path) -> dict[str, str | None]:
    transcripts: dict[str, str | None] = {}
    if not transcription_dir.is_dir():
        logger.warning("%s is missing: this session's clips get no text", transcription_dir)
    for path in sorted(transcription_dir.glob("*.txt")):
        for line in read_lines(path):
            match = TRANSCRIPT_LINE.match(line)
            if match:
                transcripts[match.group(1)] = spoken_text(match.group(2))
    return transcripts


def read_lines(path: Path) -> list[str]:
    # a few release files are not clean UTF-8; a stray byte must not cost the whole dialog
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def spoken_text(transcript: str) -> str | None:
    """The words only: bracketed non-speech events such as [LAUGHTER] are dropped."""
    text = " ".join(NON_SPEECH_TOKEN.sub(" ", transcript).split())
    return text or None


def clip_row(
    session_dir: Path,
    utterance: str,
    evaluation: Evaluation | None,
    text: str | None,
    settings: dict[str, Any],
) -> dict[str, Any] | None:
    match = UTTERANCE_SPEAKER.match(utterance)
    if match is None:
        logger.warning("%s: utterance id %r names no session and speaker gender; skipped", session_dir, utterance)
        return None
    session, gender = int(match.group(1)), match.group(2)
    dialog = utterance.rsplit("_", 1)[0]
    speaker = f"{CORPUS}-Ses{session:02d}{gender}"
    raw_emotion = evaluation.emotion if evaluation else None
    return {
        "id": f"{CORPUS}-{utterance}",
        "audio_path": str(session_dir / WAV_DIR / dialog / f"{utterance}.wav"),
        "speaker": speaker,
        "split": base.split_for(speaker, settings),
        **base.labelled(
            gender=label(gender, "gender", settings),
            emotion=None if raw_emotion == NO_AGREEMENT else label(raw_emotion, "emotion", settings),
            text=text,
        ),
        "iemocap_session": session,
        "iemocap_dialog": dialog,
        "iemocap_emotion": raw_emotion,
        "iemocap_valence": evaluation.valence if evaluation else None,
        "iemocap_activation": evaluation.activation if evaluation else None,
        "iemocap_dominance": evaluation.dominance if evaluation else None,
        "iemocap_start": evaluation.start if evaluation else None,
        "iemocap_end": evaluation.end if evaluation else None,
    }


def label(raw: Any, attribute: str, settings: dict[str, Any]) -> str | None:
    return base.map_with_defaults(raw, attribute, settings, DEFAULT_LABELS)
