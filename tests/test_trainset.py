"""The caption training set: joins, per-corpus cap, split files, HF export, Table II summary."""

import json

import polars as pl
import pytest

from destaflow import manifest
from destaflow.attributes.extract import complete_attribute_columns
from destaflow.trainset import build_trainset


def seed_manifest(path, corpus, speakers):
    rows = []
    for speaker, split in speakers.items():
        for index in range(3):
            rows.append({
                "id": f"{corpus}-{speaker}-{index}", "corpus": corpus, "audio_path": f"/a/{speaker}{index}.wav",
                "speaker": speaker, "split": split, "sample_rate": 16000, "duration": 2.0,
                "duration_source": "dsp:sample-count", "seed": f"[00:00:00-00:00:02] hi ({speaker})",
            })
    table = complete_attribute_columns(pl.DataFrame(rows)).select(*manifest.STAGE_COLUMNS["seed"])
    manifest.write(table, path, "seed")
    return table


def captions(path, seeds, per_clip=1):
    rows = [
        {"id": r["id"], "caption_index": k, "corpus": r["corpus"], "split": r["split"], "seed": r["seed"],
         "prompt": "What can you hear from the audio?", "response": f"caption {k} of {r['id']}", "llm": "tiny",
         "backend": "transformers", "gen_params": json.dumps({"temperature": 1.0}), "sample_seed": 1, "n_tokens": 5,
         "hit_token_limit": False}
        for r in seeds.iter_rows(named=True) for k in range(per_clip)
    ]
    pl.DataFrame(rows).write_parquet(path)


def transcripts(path, seeds, missing=()):
    rows = [{"id": i, "transcription": f"heard {i}", "transcription_source": "whisper"} for i in seeds["id"] if i not in missing]
    pl.DataFrame(rows).write_parquet(path)


@pytest.fixture
def inputs(tmp_path):
    big = seed_manifest(tmp_path / "big.parquet", "big", {"a": "train", "b": "train", "c": "valid", "d": "test"})
    small = seed_manifest(tmp_path / "small.parquet", "small", {"e": "train", "f": "test"})
    captions(tmp_path / "cap-big.parquet", big)
    captions(tmp_path / "cap-small.parquet", small, per_clip=2)
    transcripts(tmp_path / "tr-big.parquet", big, missing={"big-a-0"})
    transcripts(tmp_path / "tr-small.parquet", small)
    return tmp_path


def run(inputs, max_per_corpus=None):
    return build_trainset(
        [str(inputs / "cap-big.parquet"), str(inputs / "cap-small.parquet")],
        [str(inputs / "big.parquet"), str(inputs / "small.parquet")],
        [str(inputs / "tr-big.parquet"), str(inputs / "tr-small.parquet")],
        {"max_per_corpus": max_per_corpus, "seed": 0},
        str(inputs / "out"),
    )


def test_examples_join_clip_caption_and_transcript(inputs, caplog):
    examples = run(inputs)
    assert examples.height == 11 + 12  # big lost one clip without a transcript; small has 2 captions per clip
    assert "1 captions of 1 clips left out: the Whisper pass quarantined those clips (e.g. ['big-a-0'])" in caplog.text
    row = examples.filter((pl.col("id") == "small-e-1") & (pl.col("caption_index") == 1)).row(0, named=True)
    assert row["target"] == "caption 1 of small-e-1" and row["transcription"] == "heard small-e-1"
    assert row["input"] == "What can you hear from the audio?" and row["audio_path"] == "/a/e1.wav"


def test_a_caption_of_an_unknown_clip_is_refused(inputs):
    stray = pl.read_parquet(inputs / "cap-small.parquet").head(1).with_columns(pl.lit("nowhere-0").alias("id"))
    pl.concat([pl.read_parquet(inputs / "cap-small.parquet"), stray]).write_parquet(inputs / "cap-small.parquet")
    with pytest.raises(ValueError, match="1 captions of clips no seed manifest lists, e.g. \\['nowhere-0'\\]"):
        run(inputs)


def test_splits_hf_export_and_summary(inputs):
    from datasets import load_from_disk

    examples = run(inputs)
    out = inputs / "out"
    for split in ("train", "valid", "test"):
        assert pl.read_parquet(out / f"{split}.parquet").height == examples.filter(pl.col("split") == split).height
    dataset = load_from_disk(str(out / "hf"))
    assert set(dataset) == {"train", "valid", "test"} and dataset["train"].num_rows == examples.filter(pl.col("split") == "train").height
    summary = pl.read_csv(out / "summary.csv").filter(pl.col("corpus") == "small", pl.col("split") == "train").row(0, named=True)
    assert summary["audios"] == 3 and summary["captions"] == 6 and summary["hours"] == pytest.approx(6 / 3600, abs=1e-3)


def test_cap_applies_to_training_captions_only(inputs):
    examples = run(inputs, max_per_corpus=2)
    counts = dict(examples.group_by("corpus", "split").len().select(pl.concat_str("corpus", "split", separator="/"), "len").iter_rows())
    assert counts == {"big/train": 2, "big/valid": 3, "big/test": 3, "small/train": 2, "small/test": 6}
