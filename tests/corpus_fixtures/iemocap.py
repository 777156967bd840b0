"""A tiny IEMOCAP_full_release: two sessions, three dialogs, 16 kHz espeak-ng sentence wavs.

Files follow the release: SessionN/sentences/wav/<dialog>/<utt>.wav, SessionN/dialog/EmoEvaluation/
<dialog>.txt (header, consensus line, per-annotator C-/A- lines) with an unread Categorical/ sub-folder,
and SessionN/dialog/transcriptions/<dialog>.txt with a non-speech MXX0 line. Deliberate oddities:
Ses01M_script01_1_M001 is evaluated but has no wav, Ses01F_impro01_F001 has no evaluator agreement
(xxx), and Session2's evaluation file holds one garbled bracket line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
import soxr

from destaflow.corpora import espeak

SAMPLE_RATE = 16_000
VOICES = {"F": "en-us+f3", "M": "en-us+m3"}


@dataclass(frozen=True)
class Utterance:
    id: str
    emotion: str
    vad: tuple[float, float, float]
    transcript: str
    has_wav: bool = True

    @property
    def dialog(self) -> str:
        return self.id.rsplit("_", 1)[0]

    @property
    def gender(self) -> str:
        return self.id.rsplit("_", 1)[1][0]


SESSIONS: dict[int, list[Utterance]] = {
    1: [
        Utterance("Ses01F_impro01_F000", "neu", (2.5, 2.5, 2.5), "Excuse me."),
        Utterance("Ses01F_impro01_M000", "fru", (2.0, 3.5, 3.5), "Do you have your forms?"),
        Utterance("Ses01F_impro01_F001", "xxx", (3.0, 2.0, 2.5), "Yeah. [LAUGHTER]"),
        Utterance("Ses01M_script01_1_M000", "ang", (1.5, 4.0, 4.5), "I told you already."),
        Utterance("Ses01M_script01_1_F000", "exc", (4.0, 4.0, 3.0), "That is wonderful news!"),
        Utterance("Ses01M_script01_1_M001", "sad", (1.5, 1.5, 2.0), "I am sorry.", has_wav=False),
    ],
    2: [
        Utterance("Ses02F_impro02_F000", "hap", (4.5, 3.0, 3.0), "What a lovely day."),
        Utterance("Ses02F_impro02_M000", "sad", (1.5, 2.0, 2.0), "I miss her."),
        Utterance("Ses02F_impro02_M001", "sur", (3.0, 4.0, 2.5), "Really? Now?"),
    ],
}
NON_SPEECH_LINE = "Ses01M_script01_1_MXX0 [014.1000-015.0200]: [BREATHING]"
GARBLED_EVALUATION_LINE = "[31.5 - ]\tSes02F_impro02_M009\t"


def build(root: Path) -> Path:
    """Write the corpus under root; return the IEMOCAP_full_release folder."""
    corpus = root / "IEMOCAP_full_release"
    for session, utterances in SESSIONS.items():
        session_dir = corpus / f"Session{session}"
        for dialog in dict.fromkeys(u.dialog for u in utterances):
            in_dialog = [u for u in utterances if u.dialog == dialog]
            write_evaluation(session_dir / "dialog/EmoEvaluation" / f"{dialog}.txt", in_dialog, garbled=session == 2)
            write_transcription(session_dir / "dialog/transcriptions" / f"{dialog}.txt", in_dialog)
            for utterance in in_dialog:
                if utterance.has_wav:
                    write_speech(session_dir / "sentences/wav" / dialog / f"{utterance.id}.wav", utterance)
        categorical = session_dir / "dialog/EmoEvaluation/Categorical" / f"{utterances[0].dialog}_e1_cat.txt"
        categorical.parent.mkdir(parents=True, exist_ok=True)
        categorical.write_text(f"{utterances[0].id} :Neutral state; ()\n")
    return corpus


def timings(utterances: list[Utterance]) -> list[tuple[float, float]]:
    return [(2.0 + 3.1 * index, 4.2 + 3.1 * index) for index in range(len(utterances))]


def write_evaluation(path: Path, utterances: list[Utterance], garbled: bool) -> None:
    blocks = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n"]
    for utterance, (start, end) in zip(utterances, timings(utterances)):
        valence, activation, dominance = utterance.vad
        blocks.append(
            f"[{start:.4f} - {end:.4f}]\t{utterance.id}\t{utterance.emotion}\t"
            f"[{valence:.4f}, {activation:.4f}, {dominance:.4f}]\n"
            "C-E2:\tNeutral;\t()\nC-E3:\tFrustration; Anger;\t()\nC-F1:\tNeutral;\t()\n"
            "A-E3:\tval 3; act 2; dom  2;\t()\nA-F1:\tval 2; act 3; dom  3;\t(mildly aggravated)\n"
        )
    if garbled:
        blocks.append(GARBLED_EVALUATION_LINE + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(blocks))


def write_transcription(path: Path, utterances: list[Utterance]) -> None:
    lines = [
        f"{utterance.id} [{start:08.4f}-{end:08.4f}]: {utterance.transcript}"
        for utterance, (start, end) in zip(utterances, timings(utterances))
    ]
    if utterances[0].dialog == "Ses01M_script01_1":
        lines.insert(1, NON_SPEECH_LINE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def write_speech(path: Path, utterance: Utterance) -> None:
    samples, rate = espeak.synthesize(utterance.transcript, VOICES[utterance.gender], 50, 190)
    samples = soxr.resample(samples[:rate], rate, SAMPLE_RATE)  # at most 1 s
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, SAMPLE_RATE, subtype="PCM_16")
