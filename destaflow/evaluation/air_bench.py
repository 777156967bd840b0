"""AIR-Bench-Chat from a local copy, and its pairwise judge scoring with both answer orders.

Layout: `<root>/Chat/Chat_meta.json` (a JSON list) and the audio at
`<root>/Chat/{task_name}_{dataset_name}/{path}`. Fields: path, question, answer_gt, task_name, dataset_name,
meta_info (the text the judge reads instead of the audio), uniq_id. "Speech" = speech_QA + speech_dialogue_QA.

Scoring: the official prompt rates the reference answer (assistant 1) and the model's (assistant 2); every
item is judged twice with the two answers swapped, and the model's score is the mean of its two scores. A
verdict that is not exactly two integers 1-10 is a counted failure: the item's score is then missing,
reported as `failures`, never silently dropped from `n`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
from tqdm import tqdm

from destaflow.evaluation.judges import AIR_BENCH_CHAT, Judge, JudgeCache, Verdicts, ask, parse_two_scores

SPEECH_TASKS = ("speech_QA", "speech_dialogue_QA")
META_FILE = Path("Chat") / "Chat_meta.json"


def load_chat(root: str | Path, subset: str = "speech", max_items: int | None = None, seed: int = 0) -> pl.DataFrame:
    """Items with an `audio_path` column; subset 'speech' (the 800 DeSTA2 reports) or 'all'."""
    root = Path(root)
    meta = root / META_FILE
    if not meta.exists():
        raise FileNotFoundError(f"AIR-Bench-Chat meta not found: {meta}")
    rows = json.loads(meta.read_text())
    if subset == "speech":
        rows = [row for row in rows if row["task_name"] in SPEECH_TASKS]
    elif subset != "all":
        raise ValueError(f"AIR-Bench-Chat subset must be 'speech' or 'all', not {subset!r}")
    if max_items is not None and len(rows) > max_items:
        rows = [rows[i] for i in sorted(random.Random(seed).sample(range(len(rows)), max_items))]
    for row in rows:
        row["audio_path"] = str(root / "Chat" / f"{row['task_name']}_{row['dataset_name']}" / row["path"])
    columns = ["uniq_id", "task_name", "dataset_name", "path", "audio_path", "question", "answer_gt", "meta_info"]
    return pl.DataFrame([{c: str(row.get(c, "")) for c in columns} for row in rows], schema={c: pl.String for c in columns})


def judge_both_orders(judge: Judge, cache: JudgeCache, row: dict, counts: Verdicts) -> dict:
    """The model's and the reference's mean score over the two orders, or None for a failed order."""
    orders = (("reference", row["answer_gt"], row["response"]), ("model", row["response"], row["answer_gt"]))
    model_scores, reference_scores, replies = [], [], []
    for first, answer_1, answer_2 in orders:
        reply = ask(judge, cache, AIR_BENCH_CHAT, counts, meta_info=row["meta_info"], question=row["question"], answer_1=answer_1, answer_2=answer_2)
        replies.append(reply)
        scores = parse_two_scores(reply) if reply is not None else None
        if scores is None:
            continue
        reference, model = scores if first == "reference" else scores[::-1]
        reference_scores.append(reference)
        model_scores.append(model)
    complete = len(model_scores) == 2
    return {
        "model_score": sum(model_scores) / 2 if complete else None,
        "reference_score": sum(reference_scores) / 2 if complete else None,
        "reply_reference_first": replies[0],
        "reply_model_first": replies[1],
    }


def score_chat(answers: pl.DataFrame, judge: Judge, cache: JudgeCache) -> tuple[pl.DataFrame, dict]:
    """Per-item scores and the summary: mean model score over judged items, n, failures, judge and prompt."""
    counts = Verdicts()
    rows = []
    for row in tqdm(answers.to_dicts(), desc="AIR-Bench-Chat judge", unit="item"):
        verdict = judge_both_orders(judge, cache, row, counts) if row.get("response") is not None else {
            "model_score": None, "reference_score": None, "reply_reference_first": None, "reply_model_first": None}
        rows.append(row | verdict)
    scored = pl.DataFrame(rows, schema=answers.schema | {"model_score": pl.Float64, "reference_score": pl.Float64,
                                                        "reply_reference_first": pl.String, "reply_model_first": pl.String})
    judged = scored.filter(pl.col("model_score").is_not_null())
    summary = {
        "n": scored.height,
        "judged": judged.height,
        "failures": scored.height - judged.height,
        "model_score": float(judged["model_score"].mean()) if judged.height else None,
        "reference_score": float(judged["reference_score"].mean()) if judged.height else None,
        "judge_model": judge.model,
        "judge_prompt": AIR_BENCH_CHAT.id,
        "judge_calls": counts.calls,
        "judge_call_failures": counts.failures,
        "orders": "both (reference first, model first)",
    }
    return scored, summary
