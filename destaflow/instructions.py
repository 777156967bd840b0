"""Instruction records in Dynamic-SUPERB's format, built from labelled manifests.

Used for the LoRA stage's in-domain training set (from training voices) and for the demo benchmark (from
held-out voices). A record is {id, file, instruction, label, task, split}: the instruction asks one
question about the clip and ends with the options, as the benchmark's instructions do ("The answer
could be female or male.").
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

import polars as pl


@dataclass(frozen=True)
class Task:
    name: str
    questions: tuple[str, ...]
    label: Callable[[dict[str, Any]], str | None]
    options: tuple[str, ...] | None = None  # None: the labels that occur in the data


def _column(name: str) -> Callable[[dict[str, Any]], str | None]:
    return lambda row: row.get(name)


def _noise(row: dict[str, Any]) -> str | None:
    return "noisy" if row.get("snr_db") is not None and row.get("snr_db_source") == "label" else "clean"


def _reverb(row: dict[str, Any]) -> str | None:
    return "reverberant" if row.get("c50_db") is not None and row.get("c50_db_source") == "label" else "dry"


TASKS: dict[str, Task] = {
    "gender": Task("gender", ("What is the gender of the speaker?", "Is the speaker female or male?", "Identify the speaker's gender."), _column("gender"), ("female", "male")),
    "accent": Task("accent", ("Which accent does the speaker have?", "Identify the accent of the speech.", "Where is the speaker's accent from?"), _column("accent")),
    "speaking_speed": Task("speaking_speed", ("How fast is the speaker talking?", "Classify the speaking rate of the utterance.", "Is the speech slow, normal or fast?"), _column("speaking_speed"), ("slow", "normal", "fast")),
    "pitch": Task("pitch", ("How high is the speaker's voice?", "Classify the pitch of the speaker's voice.", "Is the voice low, normal or high in pitch?"), _column("pitch"), ("low", "normal", "high")),
    "noise": Task("noise", ("Is there background noise in the recording?", "Detect whether the audio is noisy or clean.", "Does the recording contain noise?"), _noise, ("clean", "noisy")),
    "reverberation": Task("reverberation", ("Does the recording sound reverberant?", "Detect whether the speech is reverberant or dry.", "Was this recorded in a reverberant room?"), _reverb, ("dry", "reverberant")),
}

# Questions only the demo benchmark asks (its other tasks ask TASKS' questions); the captioning prompt guard
# refuses them too (destaflow.captioning.prompts), so they live here, beside TASKS, with no benchmark imports.
BENCHMARK_QUESTIONS: dict[str, tuple[str, ...]] = {
    "snr_level": ("What is the signal-to-noise ratio of the recording, in decibels?", "Estimate the SNR level of the speech in dB."),
    "reverberation": ("Is the speech reverberant, or was it recorded without room echo?", "Detect whether the audio is reverberant or clean."),
    "speech_text_matching": ("Does the speech match the text below?", "Is the given text what the speaker says?"),
    "speaker_verification": ("Are the two utterances spoken by the same speaker?", "Do both audio clips come from the same person?"),
}


def options_sentence(options: list[str]) -> str:
    listed = options[0] if len(options) == 1 else f"{', '.join(options[:-1])} or {options[-1]}"
    return f"The answer could be {listed}."


def task_options(task: Task, rows: list[dict[str, Any]]) -> list[str]:
    if task.options is not None:
        return list(task.options)
    return sorted({label for row in rows if (label := task.label(row)) is not None})


def build_records(table: pl.DataFrame, task_names: list[str], seed: int) -> pl.DataFrame:
    """One record per (clip, task) where the clip has a label for the task."""
    rng = random.Random(seed)
    rows = table.to_dicts()
    records = []
    for name in task_names:
        if name not in TASKS:
            raise ValueError(f"unknown instruction task {name!r}; known: {', '.join(TASKS)}")
        task = TASKS[name]
        options = task_options(task, rows)
        for row in rows:
            label = task.label(row)
            if label is None or label not in options:
                continue
            question = rng.choice(task.questions)
            records.append({
                "id": f"{row['id']}:{name}",
                "clip_id": row["id"],
                "file": row["audio_path"],
                "instruction": f"{question} {options_sentence(options)}",
                "label": label,
                "task": name,
                "split": row["split"],
            })
    return pl.DataFrame(records, schema={c: pl.String for c in ("id", "clip_id", "file", "instruction", "label", "task", "split")})
