"""Instruction-following retention in Speech-IFEval's protocol.

Each item is an audio question with verifiable output constraints (Google IFEval instruction ids and
kwargs, checked by IFEval's own rule checkers from `lm_eval.tasks.ifeval`). The speech LM answers from the
audio; the text reference (its own backbone LLM) answers the same instruction from the clip's seed
transcript (`textual_audio`) in the same template. Following rate = share of answers meeting every
constraint (IFEval's strict prompt-level accuracy); ratio = speech / text; forgetting
delta = (speech - text) / text.

Rows use Speech-IFEval's format: audio_filepath, textual_audio, instruction, dataset, metric,
instruction_id_list, kwargs (one dict per id), plus `set`. The demo set attaches one constraint to each test
clip's question; a local Speech-IFEval copy (closed-ended, creative-writing and chain-of-thought sets) is read
as it is. Chain-of-thought items carry no checkable constraint: an LLM judge decides whether the answer
reasons step by step (`judge_chain_of_thought`); without a judge they stay unchecked. The following rate
of a system is the mean of its per-set rates (Speech-IFEval's IFrate).
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import polars as pl
from tqdm import tqdm

from destaflow.atomic import atomic_path
from destaflow.evaluation.demo_benchmark import held_out_clips
from destaflow.evaluation.judges import CHAIN_OF_THOUGHT, Judge, JudgeCache, Verdicts, ask, parse_yes_no
from destaflow.instructions import TASKS

log = logging.getLogger(__name__)

# Constraints of Speech-IFEval's sets whose checkers need no downloaded NLTK data (sentence counting does).
DEMO_CONSTRAINTS: tuple[tuple[str, dict], ...] = (
    ("change_case:english_capital", {}),
    ("change_case:english_lowercase", {}),
    ("startend:quotation", {}),
    ("detectable_format:title", {}),
    ("detectable_format:json_format", {}),
    ("startend:end_checker", {"end_phrase": "Is there anything else I can help with?"}),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}),
    ("length_constraints:number_words", {"num_words": 30, "relation": "less than"}),
)
DEMO_QUESTIONS = ("What can you hear from the audio?", *TASKS["gender"].questions[:1], *TASKS["speaking_speed"].questions[:1], *TASKS["pitch"].questions[:1])
SETS = ("closed_ended_questions", "creative_writing", "chain-of-thought")
COT_METRIC = "cot"  # Speech-IFEval's metric for the items an LLM judge checks
COLUMNS = {"id": pl.String, "set": pl.String, "audio_filepath": pl.String, "textual_audio": pl.String, "instruction": pl.String,
           "dataset": pl.String, "metric": pl.String, "instruction_id_list": pl.List(pl.String), "kwargs": pl.String}
# How an item's `follows` was decided.
RULE, JUDGED, NO_VERDICT, NEEDS_JUDGE, NO_CHECKER = "rule", "judge", "judge: no verdict", "unchecked: needs a judge", "unchecked: checker data missing"


def registry() -> dict:
    import langdetect
    from lm_eval.tasks.ifeval.instructions_registry import INSTRUCTION_DICT

    langdetect.DetectorFactory.seed = 0  # the case checkers ask langdetect, which samples unless seeded
    return INSTRUCTION_DICT


def _clean(kwargs: dict | None) -> dict:
    return {key: value for key, value in (kwargs or {}).items() if value is not None}


def describe(instruction_id: str, kwargs: dict) -> str:
    """IFEval's own wording of a constraint (what is appended to the question)."""
    return registry()[instruction_id](instruction_id).build_description(**_clean(kwargs))


def follows(response: str | None, instruction_ids: list[str], kwargs_list: list[dict], prompt: str) -> bool | None:
    """Strict: the response meets every constraint. None when a checker cannot run here (its data is missing)."""
    if not response or not response.strip():
        return False
    for instruction_id, kwargs in zip(instruction_ids, kwargs_list, strict=True):
        checker = registry()[instruction_id](instruction_id)
        checker.build_description(**_clean(kwargs))
        arguments = checker.get_instruction_args()
        if arguments and "prompt" in arguments:
            checker.build_description(prompt=prompt)
        try:
            if not checker.check_following(response):
                return False
        except LookupError as error:  # NLTK data (punkt) not installed: no verdict rather than a wrong one
            log.warning("%s cannot be checked here: NLTK data missing (%s)", instruction_id, type(error).__name__)
            return None
    return True


def build_demo_set(seed_manifests: list[str], out_path: str, seed: int, per_speaker: int | None = None) -> pl.DataFrame:
    """One constrained question per test clip (at most `per_speaker` clips of each voice): a question about
    the clip + one IFEval constraint, seeded."""
    table = held_out_clips(seed_manifests, per_speaker, seed)
    rng = random.Random(seed)
    rows = []
    for n, clip in enumerate(table.iter_rows(named=True)):
        instruction_id, kwargs = DEMO_CONSTRAINTS[n % len(DEMO_CONSTRAINTS)]
        question = rng.choice(DEMO_QUESTIONS)
        rows.append({
            "id": clip["id"], "set": "demo", "audio_filepath": clip["audio_path"], "textual_audio": clip["seed"],
            "instruction": f"{question}\n{describe(instruction_id, kwargs)}", "dataset": "demo", "metric": "ifeval",
            "instruction_id_list": [instruction_id], "kwargs": json.dumps([kwargs]),
        })
    result = pl.DataFrame(rows, schema=COLUMNS)
    with atomic_path(out_path) as tmp:
        result.write_parquet(tmp)
    return result


def load_speech_ifeval(root: str | Path, sets: tuple[str, ...] = SETS) -> pl.DataFrame:
    """A local Speech-IFEval copy: <root>/<set>.jsonl (or data/<set>.jsonl), audio paths relative to <root>.

    Rows without an id (the chain-of-thought set has none) are named by their line number in the file."""
    root = Path(root)
    rows = []
    for name in sets:
        path = next((p for p in (root / f"{name}.jsonl", root / "data" / f"{name}.jsonl") if p.exists()), None)
        if path is None:
            raise FileNotFoundError(f"Speech-IFEval set {name!r} not found under {root}")
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            rows.append({
                "id": f"{name}/{row.get('id', row.get('key', f'line{number}'))}", "set": name,
                "audio_filepath": str(root / row["audio_filepath"]), "textual_audio": row["textual_audio"],
                "instruction": row["instruction"], "dataset": row.get("dataset", name), "metric": row.get("metric", ""),
                "instruction_id_list": row.get("instruction_id_list") or [], "kwargs": json.dumps(row.get("kwargs") or []),
            })
    table = pl.DataFrame(rows, schema=COLUMNS)
    if table["id"].is_duplicated().any():
        raise ValueError(f"{root}: item ids repeat within a set: {table.filter(pl.col('id').is_duplicated())['id'].unique().to_list()[:5]}")
    return table


def score(answers: pl.DataFrame) -> pl.DataFrame:
    """answers (one `response` per row) + `follows` and `check` (how it was decided). `follows` is null where
    no verdict can be had by rule: a checker whose data is missing here, or a chain-of-thought item."""
    verdicts, checks = [], []
    for row in answers.iter_rows(named=True):
        if row["metric"] == COT_METRIC:
            verdict, check = None, NEEDS_JUDGE
        else:  # no answer (unreadable audio, failed generation) does not follow: it stays in the denominator
            verdict = follows(row["response"], row["instruction_id_list"], json.loads(row["kwargs"]), row["instruction"])
            check = NO_CHECKER if verdict is None else RULE
        verdicts.append(verdict)
        checks.append(check)
    return answers.with_columns(pl.Series("follows", verdicts, dtype=pl.Boolean), pl.Series("check", checks, dtype=pl.String))


def judge_chain_of_thought(scored: pl.DataFrame, judge: Judge, cache: JudgeCache) -> tuple[pl.DataFrame, Verdicts]:
    """Chain-of-thought items judged (YES = the answer reasons step by step). A failed call or an unparsable
    reply is `judge: no verdict` and counts as not following: it stays in the denominator."""
    counts = Verdicts()
    rows = scored.to_dicts()
    for row in tqdm([r for r in rows if r["metric"] == COT_METRIC], desc="judging chain-of-thought", unit="item"):
        if not (row["response"] or "").strip():
            row["follows"], row["check"] = False, RULE
            continue
        reply = ask(judge, cache, CHAIN_OF_THOUGHT, counts, question=row["instruction"], response=row["response"])
        verdict = None if reply is None else parse_yes_no(reply)
        row["follows"], row["check"] = bool(verdict), NO_VERDICT if verdict is None else JUDGED
    return pl.DataFrame(rows, schema=scored.schema), counts


def _with_set(table: pl.DataFrame) -> pl.DataFrame:
    return table if "set" in table.columns else table.with_columns(pl.lit("all").alias("set"))  # answers of older runs


def retention(speech: pl.DataFrame, text: pl.DataFrame) -> dict:
    """Following rates of the speech LM and the text reference on the items both could be checked on: per set,
    and overall as the mean of the set rates (Speech-IFEval's IFrate)."""
    joined = _with_set(speech).select("id", "set", "follows").join(text.select("id", pl.col("follows").alias("text_follows")), on="id")
    checked = joined.filter(pl.col("follows").is_not_null() & pl.col("text_follows").is_not_null())
    per_set = checked.group_by("set", maintain_order=True).agg(pl.col("follows").mean(), pl.col("text_follows").mean())
    speech_rate = float(per_set["follows"].mean()) if per_set.height else None
    text_rate = float(per_set["text_follows"].mean()) if per_set.height else None
    ratio = speech_rate / text_rate if speech_rate is not None and text_rate else None
    result = {
        "items": joined.height, "checked": checked.height, "unchecked": joined.height - checked.height,
        "speech_following": speech_rate, "text_following": text_rate, "ratio": ratio,
        "forgetting_delta": None if ratio is None else ratio - 1.0,
    }
    for name, table in (("speech", speech), ("text", text)):
        if "check" in table.columns:
            result[f"{name}_judge_no_verdict"] = int((table["check"] == NO_VERDICT).sum())
    if per_set.height > 1:
        for row in per_set.iter_rows(named=True):
            result[f"speech_{row['set']}"], result[f"text_{row['set']}"] = row["follows"], row["text_follows"]
    return result
