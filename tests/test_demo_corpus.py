import numpy as np
import polars as pl
import pytest
import soundfile as sf

from conftest import require_espeak
from destaflow import manifest
from destaflow.config import validate_config
from destaflow.corpora import demo


@pytest.fixture(scope="module")
def settings(repo_root):
    require_espeak()
    config = validate_config({})["demo"]
    config["sentences"] = str(repo_root / config["sentences"])
    return config


@pytest.fixture(scope="module")
def corpus(settings, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return demo.synthesize_corpus(settings, out / "audio", out / "demo.parquet")


def test_voices_span_genders_and_accents(corpus):
    voices = corpus.select("speaker", "gender", "accent").unique()
    assert voices.height >= 12
    assert set(voices["gender"]) == {"female", "male"}
    assert voices["accent"].n_unique() >= 3


def test_held_out_voices_never_train_and_are_gender_balanced(corpus, settings):
    speakers = {split: set(corpus.filter(pl.col("split") == split)["speaker"]) for split in manifest.SPLITS}
    assert not speakers["test"] & speakers["train"] and not speakers["valid"] & speakers["train"]
    assert len(speakers["test"]) == settings["test_voices"] and len(speakers["valid"]) == settings["valid_voices"]
    test_genders = corpus.filter(pl.col("split") == "test")["gender"].value_counts()
    assert test_genders["count"].to_list() == [test_genders["count"][0]] * 2


def test_manifest_is_valid_and_every_label_has_provenance(corpus):
    manifest.validate(corpus, "corpus")
    for attribute in ("gender", "accent", "pitch", "speaking_speed", "volume", "text"):
        assert corpus[attribute].null_count() == 0
        assert set(corpus[f"{attribute}_source"]) == {"label"}


def test_recorded_volume_and_duration_match_the_audio(corpus):
    for row in corpus.sample(20, seed=0).iter_rows(named=True):
        samples, rate = sf.read(row["audio_path"], dtype="float64")
        assert rate == row["sample_rate"] == 16000
        assert len(samples) / rate == pytest.approx(row["duration"])
        rms_dbfs = 20 * np.log10(np.sqrt(np.mean(samples**2)))
        assert rms_dbfs == pytest.approx(row["synth_rms_dbfs"], abs=0.1)


def test_values_fall_inside_their_label_ranges(corpus, settings):
    for attribute, column in (("pitch", "synth_pitch"), ("speaking_speed", "synth_wpm"), ("volume", "synth_rms_dbfs")):
        for row in corpus.select(attribute, column).iter_rows():
            low, high = settings[attribute][row[0]]
            assert low - 0.5 <= row[1] <= high + 0.5


def test_faster_speech_is_shorter(corpus):
    per_char = corpus.with_columns((pl.col("duration") / pl.col("text").str.len_chars()).alias("s_per_char"))
    means = per_char.group_by("speaking_speed").agg(pl.col("s_per_char").mean()).sort("s_per_char")
    assert means["speaking_speed"].to_list() == ["fast", "normal", "slow"]


def test_held_out_voices_never_say_a_training_sentence(settings):
    plans = demo.plan_clips(settings, demo.read_sentences(settings["sentences"]))
    said = {split: {p.text for p in plans if p.split == split} for split in ("train", "valid", "test")}
    assert said["train"] and said["valid"] and said["test"]
    assert not said["train"] & said["test"] and not said["train"] & said["valid"] and not said["valid"] & said["test"]


def test_plan_is_deterministic(settings):
    sentences = demo.read_sentences(settings["sentences"])
    assert demo.plan_clips(settings, sentences) == demo.plan_clips(settings, sentences)


def test_unknown_variant_is_a_clear_error(settings):
    with pytest.raises(ValueError, match="espeak-ng has no voice variant"):
        demo.build_voices({"en-us": "American"}, ["f2", "zz9"])


def test_a_voice_that_ignores_variants_is_refused(settings):
    with pytest.raises(ValueError, match="ignores voice variants"):
        demo.build_voices({"en-gb": "British"}, ["f2", "m2"])


def test_female_voices_sound_higher_than_male_ones(corpus):
    from destaflow.attributes.dsp import pitch_stats

    by_gender = {}
    for row in corpus.filter(pl.col("pitch") == "normal").iter_rows(named=True):
        samples, _ = sf.read(row["audio_path"], dtype="float32")
        by_gender.setdefault(row["gender"], []).append(pitch_stats(samples)[0])
    assert np.median(by_gender["female"]) > 1.5 * np.median(by_gender["male"])


def test_festival_voices_speak_test_sentences_with_exact_labels(settings, tmp_path):
    import shutil

    if shutil.which("text2wave") is None:
        pytest.skip("festival is not installed (bin/setup installs it)")
    own = settings | {"variants": ["f2", "m2"], "accents": {"en-us": "American"}, "valid_voices": 0, "test_voices": 1, "clips_per_voice": 2,
                      "festival": settings["festival"] | {"voices": {"voice_kal_diphone": "male", "voice_cmu_us_slt_arctic_hts": "female"}, "clips_per_voice": 3}}
    table = demo.synthesize_corpus(own, tmp_path / "audio", tmp_path / "demo.parquet")
    festival = table.filter(pl.col("synthesizer") == "festival")
    assert festival.height == 6 and set(festival["split"]) == {"test"} and set(festival["accent"]) == {"American"}
    assert dict(festival.group_by("speaker").agg(pl.col("gender").first()).iter_rows()) == {
        "festival+voice_kal_diphone": "male", "festival+voice_cmu_us_slt_arctic_hts": "female"}
    assert not set(festival["text"]) & set(table.filter(pl.col("split") == "train")["text"])
    for row in festival.iter_rows(named=True):  # the rate is what the label says, within 8 %
        words_per_minute = len(row["text"].split()) / row["duration"] * 60
        assert abs(words_per_minute / row["synth_wpm"] - 1) < 0.08, row
        low, high = own["festival"]["pitch"][row["pitch"]]
        assert low <= row["synth_pitch"] <= high
