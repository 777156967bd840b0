import polars as pl

from destaflow.report import training_report


def test_curves_and_first_last_validation_loss(tmp_path):
    for stage, losses in (("captions", [3.0, 2.5]), ("finetuning", [1.2, 0.8])):
        folder = tmp_path / stage
        folder.mkdir()
        pl.DataFrame({"step": [1, 2, 3, 4], "epoch": [1, 1, 2, 2], "loss": [3.5, 3.1, 2.9, 2.4], "lr": [1e-4] * 4, "tokens": [10] * 4, "seconds": [1.0] * 4}).write_csv(folder / "log.csv")
        pl.DataFrame({"epoch": [1, 2], "step": [2, 4], "valid_loss": losses, "valid_tokens": [9, 9], "train_truncated": [0, 1], "valid_truncated": [0, 0]}).write_csv(folder / "valid.csv")
    pl.DataFrame({"epoch": [0, 0, 1, 1, 2, 2], "step": [0, 0, 2, 2, 4, 4], "attribute": ["gender", "pitch"] * 3, "n": [20] * 6,
                  "correct": [10, 5, 14, 7, 18, 8], "accuracy": [50.0, 25.0, 70.0, 35.0, 90.0, 40.0], "accuracy_lo": [30.0] * 6,
                  "accuracy_hi": [95.0] * 6, "majority": [50.0, 40.0] * 3}).write_csv(tmp_path / "captions" / "probe.csv")
    runs = {"captions": str(tmp_path / "captions"), "finetuning": str(tmp_path / "finetuning")}
    table = training_report(runs, str(tmp_path / "curves.svg"), str(tmp_path / "valid.csv"))
    assert "likelihood probe" in (tmp_path / "curves.svg").read_text()
    assert table.select("stage", "first_epoch_valid_loss", "last_epoch_valid_loss").rows() == [("captions", 3.0, 2.5), ("finetuning", 1.2, 0.8)]
    assert (tmp_path / "curves.svg").read_text().lstrip().startswith("<?xml")
    assert pl.read_csv(tmp_path / "valid.csv").height == 2


def test_deviations_list_each_differing_method_setting_and_nothing_else(repo_root, tmp_path):
    import yaml

    from destaflow.deviations import deviations, deviations_report

    paper = yaml.safe_load((repo_root / "config" / "paper.yaml").read_text())
    assert deviations(paper, paper).height == 0
    changed = yaml.safe_load((repo_root / "config" / "paper.yaml").read_text())
    changed["train"] |= {"lr": 5e-4, "micro_batch": 1}  # a method setting, and a scheduling one
    changed.setdefault("caption", {})["temperature"] = 0.7
    changed["corpora"].pop("iemocap")
    rows = {row["setting"]: (row["ours"], row["paper"]) for row in deviations(changed, paper).iter_rows(named=True)}
    assert rows.pop("train.lr") == ("0.0005", "0.0001") and rows.pop("caption.temperature") == ("0.7", "1.0")
    assert rows.pop("corpora")[0] == '["accentdb", "dailytalk", "prompttts", "vctk", "voxceleb1"]'
    assert rows == {}

    demo = yaml.safe_load((repo_root / "config.yaml").read_text())
    table = deviations_report(demo, str(repo_root / "config" / "paper.yaml"), str(tmp_path / "deviations.csv"))
    shown = dict(zip(table["setting"], table["ours"]))
    assert shown["models.llm"].startswith("package:") and shown["train.epochs"] == "2" and shown["evaluation.metric"] == "exclusive"
    assert "train.lr" not in shown and "caption.temperature" not in shown  # the demo keeps the paper's
    assert pl.read_csv(tmp_path / "deviations.csv").equals(table)
