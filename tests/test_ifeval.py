"""Instruction-following retention: IFEval checkers, the demo set, Speech-IFEval's format, the ratio."""

import json

import polars as pl
import pytest

from conftest import SHARED
from destaflow.evaluation import ifeval

FIXTURES = SHARED / "reference" / "fixtures"


@pytest.mark.parametrize(
    "instruction_id, kwargs, good, bad",
    [
        ("change_case:english_lowercase", {}, "the speaker is a woman with a calm voice.", "The speaker is a woman with a calm voice."),
        ("startend:quotation", {}, '"A calm female voice."', "A calm female voice."),
        ("detectable_format:title", {}, "<<Voice>> A woman speaks.", "Voice: a woman speaks."),
        ("detectable_format:json_format", {}, '{"gender": "female"}', "gender: female"),
        ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* female\n* slow", "* female"),
        ("startend:end_checker", {"end_phrase": "Is there anything else I can help with?"}, "Female. Is there anything else I can help with?", "Female."),
        ("length_constraints:number_words", {"num_words": 5, "relation": "less than"}, "A woman.", "A woman speaks slowly and softly here."),
    ],
)
def test_ifeval_checkers_decide_each_demo_constraint(instruction_id, kwargs, good, bad):
    assert instruction_id in dict(ifeval.DEMO_CONSTRAINTS)
    assert ifeval.follows(good, [instruction_id], [kwargs], "q") is True
    assert ifeval.follows(bad, [instruction_id], [kwargs], "q") is False
    assert ifeval.follows("", [instruction_id], [kwargs], "q") is False and ifeval.follows(None, [instruction_id], [kwargs], "q") is False


def test_every_constraint_must_hold():
    ids = ["change_case:english_lowercase", "startend:quotation"]
    answer = '"the speaker is a woman with a calm and quiet voice"'
    assert ifeval.follows(answer, ids, [{}, {}], "q") and not ifeval.follows(answer.replace("the", "The"), ids, [{}, {}], "q")
    assert [ifeval.follows(answer, ids, [{}, {}], "q") for _ in range(5)] == [True] * 5  # langdetect is seeded


def seed_manifest(path, clips=5):
    rows = [{"id": f"c{i}", "audio_path": f"audio/c{i}.wav", "split": "test" if i < clips else "train",
             "seed": f"[00:00:00-00:00:02] Hello {i}. (Gender: Female)"} for i in range(clips + 2)]
    pl.DataFrame(rows).write_parquet(path)
    return str(path)


def test_demo_set_attaches_one_described_constraint_per_test_clip(tmp_path):
    items = ifeval.build_demo_set([seed_manifest(tmp_path / "s.parquet")], str(tmp_path / "items.parquet"), seed=1)
    assert items["id"].to_list() == [f"c{i}" for i in range(5)]
    assert pl.read_parquet(tmp_path / "items.parquet").equals(items)
    for row, (instruction_id, kwargs) in zip(items.iter_rows(named=True), ifeval.DEMO_CONSTRAINTS):
        assert row["instruction_id_list"] == [instruction_id] and json.loads(row["kwargs"]) == [kwargs]
        assert row["instruction"].endswith(ifeval.describe(instruction_id, kwargs))
        assert row["textual_audio"].startswith("[00:00:00-00:00:02] Hello")


def test_speech_ifeval_copy_is_read_in_its_format(tmp_path):
    closed = {"id": 0, "audio_filepath": "Gender_recognition/a.wav", "textual_audio": "[00:00:00 - 00:00:02] Hi.(Gender: Female)",
              "instruction": "What is the gender?\nYour entire response should be in all capital letters.", "dataset": "Gender_recognition",
              "metric": "accuracy", "instruction_id_list": ["change_case:english_capital"], "kwargs": [{}], "label": "female"}
    creative = {"audio_filepath": "Gender_recognition/a.wav", "key": "bullet-points-0", "textual_audio": "x", "instruction": "Summarize.",
                "dataset": "Gender_recognition", "metric": "open", "instruction_id_list": ["detectable_format:number_bullet_lists"],
                "kwargs": [{"num_bullets": 3}], "id": 934}
    (tmp_path / "closed_ended_questions.jsonl").write_text(json.dumps(closed) + "\n")
    (tmp_path / "creative_writing.jsonl").write_text(json.dumps(creative) + "\n")
    items = ifeval.load_speech_ifeval(tmp_path)
    assert items["id"].to_list() == ["closed_ended_questions/0", "creative_writing/934"]
    assert items["audio_filepath"][0] == str(tmp_path / "Gender_recognition" / "a.wav")
    assert json.loads(items["kwargs"][1]) == [{"num_bullets": 3}]
    with pytest.raises(FileNotFoundError, match="closed_ended_questions. not found"):
        ifeval.load_speech_ifeval(tmp_path / "nowhere")


def test_retention_ratio_and_forgetting_delta():
    speech = pl.DataFrame({"id": ["a", "b", "c", "d"], "follows": [True, False, True, None]})
    text = pl.DataFrame({"id": ["a", "b", "c", "d"], "follows": [True, True, True, True]})
    result = ifeval.retention(speech, text)
    assert result["checked"] == 3 and result["unchecked"] == 1
    assert result["speech_following"] == pytest.approx(2 / 3) and result["text_following"] == 1.0
    assert result["ratio"] == pytest.approx(2 / 3) and result["forgetting_delta"] == pytest.approx(-1 / 3)


@pytest.mark.skipif(not (FIXTURES / "speech-ifeval_creative_writing.jsonl").exists(), reason="shared reference fixtures absent")
def test_real_speech_ifeval_sets_load_and_their_constraints_are_known(tmp_path):
    for name in ifeval.SETS:
        (tmp_path / f"{name}.jsonl").write_text((FIXTURES / f"speech-ifeval_{name}.jsonl").read_text())
    items = ifeval.load_speech_ifeval(tmp_path)
    assert items.height == 933 + 400
    known = set(ifeval.registry())
    assert {i for ids in items["instruction_id_list"] for i in ids} <= known
