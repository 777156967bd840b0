"""Training-target ablations (paper Table III): the same clips and inputs with other training targets.

Same clips, same audio inputs, same training and scoring; only what the adapter learns to make the LLM say
differs:
    seed_target     the seed transcript itself (the paper's "seed transcript as target" row, 33.13 vs 56.78)
    desta_caption   captions written under a DeSTA(1)-style system prompt that asks for a third-person
                    description of the recording instead of the LLM's own answer (7.24 in the paper)
    open_qa_1/3     the LLM writes 1 or 3 question-answer pairs per clip from its seed transcript; each pair
                    is a training example (question = user turn, answer = target) (50.56 / 50.33)

The captioned variants rerun the captioning stage with their own prompt settings; the paper wrote open-QA
pairs with Llama3-70B, here the backbone writes them (the same LLM everywhere).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from destaflow import tables
from destaflow.atomic import atomic_path
from destaflow.trainset import write_trainset

log = logging.getLogger(__name__)

# Our wording of the earlier DeSTA paper's approach (its exact prompt is not reproduced here).
DESTA_CAPTION_SYSTEM = (
    "You are given the transcript of a speech recording together with the speaker's attributes. Write one "
    "caption for the recording: a concise, objective, third-person description of what is said and how it "
    "is said. Do not answer as an assistant and do not add anything that is not in the description."
)


def open_qa_prompt(pairs: int) -> str:
    count = "one question-answer pair" if pairs == 1 else f"{pairs} different question-answer pairs"
    return (
        f"Write {count} about this audio, each answerable by listening to it. Use exactly this format for each "
        "pair:\nQ: <question>\nA: <answer>"
    )


@dataclass(frozen=True)
class Variant:
    description: str
    caption: dict[str, Any] = field(default_factory=dict)
    """Overrides of the `caption` settings for the variant's own captioning run; empty = no run of its own."""
    qa_pairs: int = 0
    """> 0: each caption holds up to this many `Q:`/`A:` pairs, each one training example."""


VARIANTS = {
    "seed_target": Variant("seed transcript itself as target"),
    "desta_caption": Variant("DeSTA-style captions (third-person description prompt)", caption={"system": DESTA_CAPTION_SYSTEM}),
    "open_qa_1": Variant("open QA, 1 pair per clip (same LLM)", caption={"prompt": open_qa_prompt(1)}, qa_pairs=1),
    "open_qa_3": Variant("open QA, 3 pairs per clip (same LLM)", caption={"prompt": open_qa_prompt(3)}, qa_pairs=3),
}


def variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"unknown ablation {name!r}; known: {', '.join(VARIANTS)}")
    return VARIANTS[name]


def needs_captions(name: str) -> bool:
    return bool(variant(name).caption)


def caption_settings(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The `caption` section with the variant's prompt; room for k answers when it asks for k pairs."""
    chosen = variant(name)
    tokens = settings["max_new_tokens"] * max(1, chosen.qa_pairs)
    own_prompt = {"prompts": None} if "prompt" in chosen.caption else {}  # the variant's prompt replaces any pool
    return {**settings, "max_new_tokens": tokens, **own_prompt, **chosen.caption}


def seed_target_trainset(trainset_path: str, out_path: str) -> pl.DataFrame:
    """One row per clip of the caption training split with its seed transcript as the target."""
    table = pl.read_parquet(trainset_path)
    table = table.unique("id", keep="first", maintain_order=True).with_columns(
        pl.col("seed").alias("target"), pl.lit(None, pl.String).alias("llm"), pl.lit('{"ablation": "seed_target"}').alias("gen_params")
    )
    with atomic_path(out_path) as tmp:
        table.write_parquet(tmp)
    return table


QA_PAIR = re.compile(r"^\s*Q\d*\s*[:.)]\s*(?P<question>.+?)\s*\n\s*A\d*\s*[:.)]\s*(?P<answer>.+?)\s*(?=\n\s*Q\d*\s*[:.)]|\Z)", re.S | re.M)


def parse_qa_pairs(text: str, limit: int) -> list[tuple[str, str]]:
    """The first `limit` complete `Q: ... / A: ...` pairs of an LLM answer."""
    pairs = [(m["question"].strip(), " ".join(m["answer"].split())) for m in QA_PAIR.finditer(text)]
    return [(q, a) for q, a in pairs if q and a][:limit]


def explode_qa(captions: pl.DataFrame, limit: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per parsed pair (prompt = question, response = answer; the last pair is dropped when the answer
    hit the token limit); captions without a complete pair go to quarantine (audio_path null: captions are text)."""
    rows, failed = [], []
    for caption in captions.to_dicts():
        pairs = parse_qa_pairs(caption["response"], limit)
        if caption.get("hit_token_limit") and pairs:  # the token limit may have cut the last answer short
            pairs = pairs[:-1]
        if not pairs:
            failed.append(tables.quarantine_row(caption["id"], None, "ablation_open_qa", "no complete 'Q: ... A: ...' pair in the LLM's answer"))
        for index, (question, answer) in enumerate(pairs):
            rows.append({**caption, "caption_index": caption["caption_index"] * limit + index, "prompt": question, "response": answer})
    return pl.DataFrame(rows, schema=captions.schema), tables.quarantine_table(failed)


def captioned_trainset(name: str, caption_shards: list[str], seed_manifests: list[str], transcripts: list[str], settings: dict[str, Any], out_dir: str, quarantine_path: str) -> pl.DataFrame:
    """The training set of a variant with its own captioning run (open-QA answers exploded into pairs)."""
    captions = pl.concat([pl.read_parquet(path) for path in caption_shards])
    quarantined = tables.quarantine_table()
    if variant(name).qa_pairs:
        captions, quarantined = explode_qa(captions, variant(name).qa_pairs)
        log.info("%s: %d question-answer pairs, %d answers without one", name, captions.height, quarantined.height)
    tables.write_quarantine(quarantined, quarantine_path)
    return write_trainset(captions, seed_manifests, transcripts, settings, Path(out_dir), training_only=True)


def build_ablation_trainset(name: str, inputs: dict[str, Any], settings: dict[str, Any], out_dir: str, quarantine_path: str) -> None:
    """`inputs`: trainset + valid_trainset (seed_target), or captions + seeds + transcripts (captioned variants)."""
    if needs_captions(name):
        captioned_trainset(name, list(inputs["captions"]), list(inputs["seeds"]), list(inputs["transcripts"]), settings, out_dir, quarantine_path)
        return
    for split, source in (("train", inputs["trainset"]), ("valid", inputs["valid_trainset"])):
        seed_target_trainset(source, str(Path(out_dir) / f"{split}.parquet"))
    tables.write_quarantine([], quarantine_path)
