"""Training-target ablations: the caption set's clips with other targets."""

import polars as pl
import pytest

from destaflow.ablations import ablation_trainset


def test_seed_target_keeps_one_row_per_clip_with_its_seed_as_target(tmp_path):
    rows = [{"id": clip, "caption_index": k, "input": "What can you hear from the audio?", "target": f"caption {k} of {clip}",
             "seed": f"[00:00:00-00:00:02] text of {clip}", "llm": "smol", "gen_params": "{}"} for clip in ("a", "b") for k in range(3)]
    source = tmp_path / "train.parquet"
    pl.DataFrame(rows).write_parquet(source)
    table = ablation_trainset("seed_target", str(source), str(tmp_path / "out.parquet"))
    assert table["id"].to_list() == ["a", "b"]
    assert table["target"].to_list() == ["[00:00:00-00:00:02] text of a", "[00:00:00-00:00:02] text of b"]
    assert table["llm"].is_null().all() and pl.read_parquet(tmp_path / "out.parquet").equals(table)
    with pytest.raises(ValueError, match="unknown ablation"):
        ablation_trainset("open_qa_9", str(source), str(tmp_path / "x.parquet"))
