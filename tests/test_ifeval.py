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
    (tmp_path / "chain-of-thought.jsonl").write_text("\n".join(json.dumps(COT | {"instruction": q}) for q in ("Why?\nThink step by step.", "How?")) + "\n")
    items = ifeval.load_speech_ifeval(tmp_path)
    assert items["id"].to_list() == ["closed_ended_questions/0", "creative_writing/934", "chain-of-thought/line1", "chain-of-thought/line2"]
    assert items["set"].to_list() == ["closed_ended_questions", "creative_writing", "chain-of-thought", "chain-of-thought"]
    assert items["audio_filepath"][0] == str(tmp_path / "Gender_recognition" / "a.wav")
    assert json.loads(items["kwargs"][1]) == [{"num_bullets": 3}]
    assert items["instruction_id_list"][2].to_list() == [] and json.loads(items["kwargs"][2]) == []
    with pytest.raises(FileNotFoundError, match="closed_ended_questions. not found"):
        ifeval.load_speech_ifeval(tmp_path / "nowhere")
    (tmp_path / "creative_writing.jsonl").write_text(json.dumps(creative) + "\n" + json.dumps(creative) + "\n")
    with pytest.raises(ValueError, match="ids repeat"):
        ifeval.load_speech_ifeval(tmp_path)


COT = {"audio_filepath": "MMAU/a.wav", "textual_audio": "[00:00:00 - 00:00:02] Hi.(Gender: Male)", "dataset": "MMAU", "metric": "cot"}


def cot_answers(responses: dict[str, str], set_name="chain-of-thought", metric="cot"):
    rows = [{"id": key, "set": set_name, "audio_filepath": "a.wav", "textual_audio": "t", "instruction": "Which word? Think step by step.",
             "dataset": "MMAU", "metric": metric, "instruction_id_list": [] if metric == "cot" else ["change_case:english_lowercase"],
             "kwargs": "[]" if metric == "cot" else "[{}]", "response": response} for key, response in responses.items()]
    return ifeval.score(pl.DataFrame(rows, schema=ifeval.COLUMNS | {"response": pl.String}))


def test_chain_of_thought_items_are_judged_in_the_report_and_stay_unchecked_without_a_judge(tmp_path, caplog):
    from test_evaluation import FakeJudgeServer

    from destaflow.evaluation.stage import ifeval_report

    def verdict(user):
        assert user.startswith("Instruction: Which word? Think step by step.\nModel's Response: ")
        return "Steps are laid out.\nResult: YES" if "First," in user else ("no idea" if "GARBLED" in user else "Result: NO")

    speech = pl.concat([cot_answers({"c1": "First, the word... so: beach.", "c2": "beach", "c3": "GARBLED", "c4": ""}),
                        cot_answers({"r1": "the speaker sounds calm and clear", "r2": "The voice is low and slow"}, "closed_ended_questions", "ifeval")])
    text = pl.concat([cot_answers({"c1": "First, a. Then b.", "c2": "First, x. So y.", "c3": "First, p. Then q.", "c4": "First, u, v."}),
                      cot_answers({"r1": "the speaker sounds calm and clear", "r2": "the voice is low and slow"}, "closed_ended_questions", "ifeval")])
    assert speech.filter(pl.col("metric") == "cot")["check"].unique().to_list() == [ifeval.NEEDS_JUDGE]
    paths = {"desta2": str(tmp_path / "s.parquet"), "text_llm": str(tmp_path / "t.parquet")}
    speech.write_parquet(paths["desta2"])
    text.write_parquet(paths["text_llm"])

    unjudged = ifeval_report(paths, "text_llm", str(tmp_path / "none.csv"), {"kind": "none"}, str(tmp_path / "c.sqlite")).row(0, named=True)
    assert unjudged["checked"] == 2 and unjudged["unchecked"] == 4 and unjudged["speech_following"] == 0.5
    assert "chain-of-thought items stay unchecked" in caplog.text

    with FakeJudgeServer(verdict) as server:
        settings = {"kind": "openai", "base_url": server.base_url, "model": "fake-judge", "timeout_s": 5, "max_retries": 1}
        row = ifeval_report(paths, "text_llm", str(tmp_path / "r.csv"), settings, str(tmp_path / "c.sqlite")).row(0, named=True)
        assert len(server.calls) == 3 + 4  # the empty answer is not sent; it does not follow
        assert "step by step" in server.calls[0]["messages"][0]["content"] and server.calls[0]["temperature"] == 0
    assert row["checked"] == 6 and row["unchecked"] == 0 and row["speech_judge_no_verdict"] == 1 and row["text_judge_no_verdict"] == 0
    assert row["speech_chain-of-thought"] == 0.25 and row["text_chain-of-thought"] == 1.0  # the unparsable verdict stays in the denominator
    assert row["speech_closed_ended_questions"] == 0.5 and row["text_closed_ended_questions"] == 1.0
    assert row["speech_following"] == pytest.approx((0.25 + 0.5) / 2) and row["text_following"] == 1.0  # mean of the set rates
    assert row["judge_model"] == "fake-judge" and row["cot_prompt_id"] == "cot-followed@1"
    assert pl.read_csv(tmp_path / "r.csv")["system"].to_list() == ["desta2"]


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
    assert items.group_by("set", maintain_order=True).len()["len"].to_list() == [933, 400, 200]
    assert set(items.filter(pl.col("set") == "chain-of-thought")["metric"]) == {ifeval.COT_METRIC}
    known = set(ifeval.registry())
    assert {i for ids in items["instruction_id_list"] for i in ids} <= known
