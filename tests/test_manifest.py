import polars as pl
import pytest

from destaflow import manifest


def corpus_rows(**overrides):
    row = {
        "id": "demo-a-0",
        "corpus": "demo",
        "audio_path": "a.wav",
        "speaker": "a",
        "split": "train",
        "sample_rate": 16000,
        "duration": 1.5,
        "duration_source": "dsp:sample-count",
        "gender": "female",
        "gender_source": "label",
    }
    row.update(overrides)
    return pl.DataFrame([row])


def test_valid_manifest_passes():
    manifest.validate(corpus_rows(), "corpus")


@pytest.mark.parametrize(
    "frame, message",
    [
        (corpus_rows().drop("speaker"), "lacks column 'speaker'"),
        (corpus_rows().drop("gender_source"), "no provenance column 'gender_source'"),
        (corpus_rows(gender_source=None), "value but no 'gender_source'"),
        (corpus_rows(split="dev"), "split values ['dev']"),
        (corpus_rows(sample_rate="16k"), "column 'sample_rate' has type String"),
        (corpus_rows().with_columns(pl.lit(b"RIFF").alias("audio")), "audio belongs in files"),
        (pl.concat([corpus_rows(), corpus_rows()]), "share an id"),
        (pl.concat([corpus_rows(), corpus_rows(id="demo-a-1", split="test")]), "more than one split"),
    ],
)
def test_schema_violations_are_named(frame, message):
    with pytest.raises(manifest.ManifestError) as caught:
        manifest.validate(frame, "corpus")
    assert message in str(caught.value)


def test_write_is_atomic_and_validated(tmp_path):
    target = tmp_path / "m.parquet"
    with pytest.raises(manifest.ManifestError):
        manifest.write(corpus_rows().drop("split"), target, "corpus")
    assert not target.exists() and not list(tmp_path.iterdir())
    manifest.write(corpus_rows(), target, "corpus")
    assert manifest.read(target, "corpus").height == 1
