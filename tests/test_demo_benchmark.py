"""The demo benchmark: Dynamic-SUPERB-format instances built from test-split voices, read back by the loader."""

import json

import numpy as np
import polars as pl
import pytest

from conftest import espeak_clips
from destaflow.evaluation import rules
from destaflow.evaluation.demo_benchmark import DEMO_TASKS, SNR_LEVELS, build_demo_benchmark, true_seed
from destaflow.evaluation.dynamic_superb import load_benchmark, model_inputs
from destaflow.seed import parse_seed

ROOM = {"length_m": [4, 6], "width_m": [3, 5], "height_m": [2.5, 3], "rt60_s": [0.6, 0.9], "distance_m": [1.0, 2.0]}
SENTENCES = ["The bus was full.", "It rained all day long.", "She sold the old car."]


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_benchmark")
    voices = {"en-us+f3": "test", "en-gb-scotland+m3": "test", "en-us+m2": "train"}
    clips = espeak_clips(root, voices, SENTENCES, peak=0.5)
    genders = {"en-us+f3": "female", "en-gb-scotland+m3": "male", "en-us+m2": "male"}
    rows = [{"id": f"{c['voice']}-{c['index']}", "audio_path": str(c["path"]), "speaker": c["voice"], "split": c["split"], "text": c["text"],
             "gender": genders[c["voice"]], "accent": "Scottish" if "scotland" in c["voice"] else "American",
             "speaking_speed": ["slow", "normal", "fast"][c["index"]], "pitch": "low" if "m" in c["voice"][-2:] else "high"} for c in clips]
    manifest = root / "demo.parquet"
    pl.DataFrame(rows).write_parquet(manifest)
    out = root / "bench"
    summary = build_demo_benchmark([str(manifest)], str(out), list(DEMO_TASKS), seed=3, room=ROOM, per_speaker=2)
    return out, summary, {r["id"]: r for r in rows}


SEEDS = {"attributes": ["gender", "pitch", "speaking_speed", "snr", "c50"], "style": "paper",
         "bins": {"snr": {"edges": [10, 20, 30, 45], "words": ["very noisy", "noisy", "moderately noisy", "clean", "very clean"]},
                  "c50": {"edges": [10, 35, 45, 55, 59, 60], "words": ["very distant", "distant", "slightly distant", "balanced", "slightly close", "close", "very close"]}}}


def test_every_task_is_an_instance_of_the_test_clips_only(benchmark):
    out, summary, _ = benchmark
    listed = json.loads((out / "instances.json").read_text())
    assert [e["name"] for e in listed] == [t.instance for t in DEMO_TASKS.values()]
    assert summary["items"].to_list() == [4] * len(DEMO_TASKS)  # 2 test voices x 2 clips; the train voice left out
    items = load_benchmark(out)
    assert len(items) == 4 * len(DEMO_TASKS)
    for item in items:
        assert item.options and rules.normalise_label(item.label) in [rules.normalise_label(o) for o in item.options]
        assert item.instruction.split("\n")[0].endswith(f"The answer could be {', '.join(item.options[:-1])} or {item.options[-1]}.")


def test_labels_follow_the_corpus_and_the_degradations(benchmark):
    out, _, rows = benchmark
    items = {i.id: i for i in load_benchmark(out)}
    by_instance = lambda name: [i for i in items.values() if i.instance == name]  # noqa: E731
    genders = {i.label for i in by_instance("SpeakerGenderRecognition_Demo")}
    assert genders == {"female", "male"}
    noise = by_instance("NoiseDetection_Demo")
    assert sorted(i.label for i in noise) == ["clean", "clean", "noisy", "noisy"]
    clean_audio = {i.label: model_inputs(i, "native")[0] for i in noise}
    assert not np.allclose(clean_audio["clean"][:1000], clean_audio["noisy"][:1000])
    assert {i.label for i in by_instance("NoiseSNRLevelPrediction_Demo")} <= set(SNR_LEVELS)
    assert sorted(i.label for i in by_instance("ReverberationDetection_Demo")) == ["clean", "clean", "reverberant", "reverberant"]
    matching = by_instance("SpeechTextMatching_Demo")
    assert all('\nText: "' in i.instruction for i in matching) and {i.label for i in matching} == {"yes", "no"}
    pairs = by_instance("SpeakerVerification_Demo")
    assert all(len(model_inputs(i, "native")) == 2 for i in pairs) and {i.label for i in pairs} == {"yes", "no"}


def test_every_item_records_what_its_audio_is_as_a_true_seed(benchmark):
    out, _, rows = benchmark
    items = load_benchmark(out)
    assert all(item.truths and len(item.truths) == len(item.audios) for item in items)
    for item in items:
        seed = true_seed(item.truths[0], SEEDS)
        stated = parse_seed(seed)
        clip = rows[item.audios[0]["path"].removesuffix(".wav")]
        assert stated["gender"].lower() == clip["gender"] and stated["speaking_speed"].lower() == clip["speaking_speed"]
        if item.instance == "NoiseDetection_Demo":
            assert (stated["snr"] == "Very clean") == (item.label == "clean")
            assert item.label == "clean" or "(SNR " in seed
        elif item.instance == "NoiseSNRLevelPrediction_Demo":
            assert f"(SNR {SNR_LEVELS[item.label]:.0f} dB)" in seed
        elif item.instance == "ReverberationDetection_Demo":
            assert ("c50" in stated) == (item.label == "reverberant")
        else:
            assert stated["snr"] == "Very clean" and "c50" not in stated


def test_rebuilding_gives_the_same_benchmark(benchmark, tmp_path):
    out, _, rows = benchmark
    manifest = tmp_path / "m.parquet"
    pl.DataFrame(list(rows.values())).write_parquet(manifest)
    build_demo_benchmark([str(manifest)], str(tmp_path / "again"), ["noise", "speaker_verification"], seed=3, room=ROOM, per_speaker=2)
    first = {i.id: (i.instruction, i.label, i.audios[0]["bytes"]) for i in load_benchmark(out, ["NoiseDetection_Demo", "SpeakerVerification_Demo"])}
    second = {i.id: (i.instruction, i.label, i.audios[0]["bytes"]) for i in load_benchmark(tmp_path / "again")}
    assert first == second


def test_unknown_task_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown demo benchmark task"):
        build_demo_benchmark([], str(tmp_path), ["gender", "dancing"], seed=0, room=ROOM)


def test_a_second_synthesizers_voices_get_instances_of_their_own(benchmark, tmp_path):
    _, _, rows = benchmark
    manifest = tmp_path / "m.parquet"
    pl.DataFrame([r | {"synthesizer": "festival" if r["speaker"] == "en-gb-scotland+m3" else "espeak-ng"} for r in rows.values()]).write_parquet(manifest)
    summary = build_demo_benchmark([str(manifest)], str(tmp_path / "b"), ["gender", "pitch", "noise"], seed=3, room=ROOM, per_speaker=2,
                                   second_synthesizer_tasks=["gender", "noise"])
    assert summary.select("instance", "synthesizer", "items").rows() == [
        ("SpeakerGenderRecognition_Demo", "espeak-ng", 2), ("PitchClassification_Demo", "espeak-ng", 2), ("NoiseDetection_Demo", "espeak-ng", 2),
        ("SpeakerGenderRecognition_DemoFestival", "festival", 3), ("NoiseDetection_DemoFestival", "festival", 3)]
    items = load_benchmark(tmp_path / "b", ["SpeakerGenderRecognition_DemoFestival"])  # every clip of that voice, none of the others
    assert {i.audios[0]["path"] for i in items} == {f"en-gb-scotland+m3-{n}.wav" for n in range(3)}
    assert {i.label for i in items} == {"male"}
