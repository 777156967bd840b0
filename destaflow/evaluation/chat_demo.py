"""An AIR-Bench-Chat-format open-question set from the demo's test clips, for the pairwise judge.

Each test clip (at most `per_speaker` per voice) gets one open question about the speaker, the words or both;
the reference answer (`answer_gt`) is written from the clip's corpus labels, and `meta_info` (what the judge
reads instead of the audio) is the clip's seed transcript. Written exactly in AIR-Bench's layout, so
`air_bench.load_chat` reads it like the real benchmark: Chat/Chat_meta.json and
Chat/speech_QA_destaflow_demo/<id>.wav.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import polars as pl

from destaflow.atomic import atomic_dir
from destaflow.evaluation.air_bench import META_FILE
from destaflow.evaluation.demo_benchmark import held_out_clips

TASK, DATASET = "speech_QA", "destaflow_demo"

# question -> reference answer written from the labels (gender, accent, speaking_speed, pitch, text)
QUESTIONS = {
    "Describe the speaker's voice.": "The speaker is {a_gender} with {an_accent} accent, speaking at a {speed} pace with {pitch} pitch.",
    "What did the speaker say, and how did they sound while saying it?": 'The speaker said "{text}" in a {pitch}-pitched {gender} voice, at a {speed} pace.',
    "Where might the speaker come from, judging by how they talk?": "The speaker has {an_accent} accent of English, so they likely come from where that accent is spoken.",
    "Is the speaker talking quickly or slowly, and what are they talking about?": 'The speaker talks at a {speed} pace and says: "{text}"',
}


def reference_answer(template: str, clip: dict) -> str:
    """The template filled from the labels; a missing label reads as an unspecific word, never as 'None'."""
    accent = clip["accent"] or "unidentified"
    words = {
        "a_gender": {"female": "a woman", "male": "a man"}.get(clip["gender"], "a person"), "gender": clip["gender"] or "human",
        "an_accent": f"{'an' if accent[:1].lower() in 'aeiou' else 'a'} {accent}", "speed": clip["speaking_speed"] or "normal",
        "pitch": clip["pitch"] or "normal", "text": clip["text"] or "",
    }
    return template.format(**words)


def build_chat_demo(seed_manifests: list[str], out_dir: str, seed: int, per_speaker: int | None = None) -> pl.DataFrame:
    """Write the set under `out_dir`; return its meta rows."""
    table = held_out_clips(seed_manifests, per_speaker, seed)
    rng = random.Random(seed)
    rows = []
    for clip in table.iter_rows(named=True):
        question = rng.choice(list(QUESTIONS))
        rows.append({
            "path": f"{clip['id']}.wav", "question": question, "answer_gt": reference_answer(QUESTIONS[question], clip),
            "task_name": TASK, "dataset_name": DATASET, "meta_info": clip["seed"], "uniq_id": clip["id"],
            "source_audio": clip["audio_path"],
        })
    with atomic_dir(Path(out_dir)) as tmp:
        audio = tmp / META_FILE.parent / f"{TASK}_{DATASET}"
        audio.mkdir(parents=True)
        for row in rows:
            shutil.copyfile(row.pop("source_audio"), audio / row["path"])
        (tmp / META_FILE).write_text(json.dumps(rows, indent=1) + "\n")
    return pl.DataFrame(rows)
