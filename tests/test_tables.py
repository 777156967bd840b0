"""The table registry: declared columns are checked where a table is written and where it is read."""

from __future__ import annotations

import polars as pl
import pytest

from destaflow import tables


def test_a_table_missing_a_declared_column_is_refused_where_it_is_written(tmp_path):
    transcripts = pl.DataFrame({"id": ["a"], "transcription": ["hello"]})
    with pytest.raises(tables.TableError, match="missing transcription_source"):
        tables.write(transcripts, tmp_path / "t.parquet", "transcripts")
    assert not (tmp_path / "t.parquet").exists()


def test_a_column_of_the_wrong_type_is_refused_and_named():
    index = pl.DataFrame({"id": ["a"], "shard": ["s"], "key": ["0"], "frames": ["12"]})
    with pytest.raises(tables.TableError, match="frames is String, not Int64"):
        tables.check(index, "encoder_index")


def test_extra_columns_and_all_null_columns_pass_and_round_trip(tmp_path):
    table = pl.DataFrame([tables.quarantine_row("a", None, "caption", "x")], schema=tables.QUARANTINE)
    tables.write(table.with_columns(note=pl.lit("kept")), tmp_path / "q.parquet", "quarantine")
    read = tables.read(tmp_path / "q.parquet", "quarantine")
    assert read["note"].to_list() == ["kept"] and read["audio_path"].to_list() == [None]


def test_reading_a_subset_checks_only_the_declared_columns_asked_for(tmp_path):
    pl.DataFrame({"id": ["a"], "input": ["q"]}).write_parquet(tmp_path / "e.parquet")
    assert tables.read(tmp_path / "e.parquet", "examples", columns=["id", "input"]).height == 1
    with pytest.raises(tables.TableError, match="does not hold the examples table"):
        tables.read(tmp_path / "e.parquet", "examples")


def test_every_quarantine_reason_is_one_line_of_at_most_300_characters():
    row = tables.quarantine_row("a", "/x.wav", "attributes", ValueError("first line " + "y" * 400 + "\nsecond line"))
    assert "\n" not in row["reason"] and len(row["reason"]) == tables.REASON_CHARS
    assert tables.quarantine_row("a", None, "s", RuntimeError())["reason"] == "RuntimeError"
