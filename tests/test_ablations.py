"""Training-target ablations: the caption set's clips with other targets."""

import polars as pl
import pytest

from destaflow import ablations
from destaflow.ablations import build_ablation_trainset, caption_settings, explode_qa, parse_qa_pairs


def caption_rows(clips, per_clip):
    return [{"id": clip, "caption_index": k, "input": "What can you hear from the audio?", "target": f"caption {k} of {clip}",
             "seed": f"[00:00:00-00:00:02] text of {clip}", "llm": "smol", "gen_params": "{}"} for clip in clips for k in range(per_clip)]


def test_seed_target_keeps_one_row_per_clip_with_its_seed_as_target(tmp_path):
    for split in ("train", "valid"):
        pl.DataFrame(caption_rows(("a", "b") if split == "train" else ("c",), 3)).write_parquet(tmp_path / f"{split}-captions.parquet")
    inputs = {"trainset": str(tmp_path / "train-captions.parquet"), "valid_trainset": str(tmp_path / "valid-captions.parquet")}
    build_ablation_trainset("seed_target", inputs, {}, str(tmp_path / "out"), str(tmp_path / "quarantine.parquet"))
    table = pl.read_parquet(tmp_path / "out" / "train.parquet")
    assert table["id"].to_list() == ["a", "b"]
    assert table["target"].to_list() == ["[00:00:00-00:00:02] text of a", "[00:00:00-00:00:02] text of b"]
    assert table["llm"].is_null().all()
    assert pl.read_parquet(tmp_path / "out" / "valid.parquet")["id"].to_list() == ["c"]
    assert pl.read_parquet(tmp_path / "quarantine.parquet").height == 0
    with pytest.raises(ValueError, match="unknown ablation"):
        build_ablation_trainset("open_qa_9", inputs, {}, str(tmp_path / "x"), str(tmp_path / "q.parquet"))


def test_captioned_variants_change_only_their_prompt_settings():
    settings = {"prompt": "What can you hear from the audio?", "system": None, "max_new_tokens": 64, "temperature": 1.0}
    assert caption_settings("desta_caption", settings) == {**settings, "system": ablations.DESTA_CAPTION_SYSTEM}
    three = caption_settings("open_qa_3", settings)
    assert three["max_new_tokens"] == 192 and "3 different question-answer pairs" in three["prompt"] and three["system"] is None
    assert not ablations.needs_captions("seed_target") and ablations.needs_captions("open_qa_1")


def test_qa_pairs_are_parsed_with_numbering_and_multiline_answers_and_capped():
    text = "Sure!\nQ1: What is the speaker's gender?\nA1: Female.\n\nQ2. How fast\nA2: Slowly,\nwith pauses.\nQ3: Unanswered?"
    assert parse_qa_pairs(text, 3) == [("What is the speaker's gender?", "Female."), ("How fast", "Slowly, with pauses.")]
    assert parse_qa_pairs(text, 1) == [("What is the speaker's gender?", "Female.")]
    assert parse_qa_pairs("The speaker sounds happy.", 3) == []


def test_open_qa_rows_are_pairs_and_answers_without_one_are_quarantined():
    captions = pl.DataFrame([
        {"id": "a", "caption_index": 0, "prompt": "p", "response": "Q: Who speaks?\nA: A man.\nQ: Where?\nA: Outside.", "hit_token_limit": False},
        {"id": "b", "caption_index": 0, "prompt": "p", "response": "A man speaks outside.", "hit_token_limit": False},
        {"id": "c", "caption_index": 0, "prompt": "p", "response": "Q: Who speaks?\nA: A woman.\nQ: How?\nA: Slowly and", "hit_token_limit": True},
    ])
    pairs, quarantined = explode_qa(captions, 3)
    assert pairs.select("id", "caption_index", "prompt", "response").rows() == [
        ("a", 0, "Who speaks?", "A man."), ("a", 1, "Where?", "Outside."), ("c", 0, "Who speaks?", "A woman.")]  # c's cut answer dropped
    assert quarantined["id"].to_list() == ["b"] and "no complete 'Q: ... A: ...' pair" in quarantined["reason"][0]
    assert pairs["id"].n_unique() + quarantined.height == captions.height
