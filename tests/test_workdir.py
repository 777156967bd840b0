"""The one rule for work folders: kept for the same stamp, emptied for another; a model folder's stamp follows
its configs and its weights' sizes."""

from destaflow.workdir import STAMP_FILE, open_work_dir, stamp


def test_a_work_folder_survives_its_own_stamp_only(tmp_path):
    work = open_work_dir(tmp_path / "work", "a")
    (work / "part-000001.parquet").write_text("progress")
    assert (open_work_dir(work, "a") / "part-000001.parquet").exists()
    assert list(p.name for p in open_work_dir(work, "b").iterdir()) == [STAMP_FILE]
    (work / STAMP_FILE).unlink()
    (work / "part-000001.parquet").write_text("progress of unknown inputs")
    assert not (open_work_dir(work, "b") / "part-000001.parquet").exists()


def test_the_stamp_follows_settings_tables_and_models(tmp_path):
    table, model = tmp_path / "seed.parquet", tmp_path / "llm"
    table.write_text("seeds")
    model.mkdir()
    (model / "config.json").write_text('{"layers": 2}')
    (model / "model.safetensors").write_bytes(b"\0" * (2 << 20))
    first = stamp({"prompt": "What can you hear?"}, [table, model])
    assert stamp({"prompt": "What can you hear?"}, [table, model]) == first
    assert stamp({"prompt": "Describe it."}, [table, model]) != first
    table.write_text("other seeds")
    assert stamp({"prompt": "What can you hear?"}, [table, model]) != first
    table.write_text("seeds")
    (model / "config.json").write_text('{"layers": 3}')
    assert stamp({"prompt": "What can you hear?"}, [table, model]) != first
    (model / "config.json").write_text('{"layers": 2}')
    (model / "model.safetensors").write_bytes(b"\0" * (3 << 20))
    assert stamp({"prompt": "What can you hear?"}, [table, model]) != first
