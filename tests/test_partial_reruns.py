"""Partial reruns on a tiny demo: one stage exactly, and a changed parameter reruns only its downstream (the
plan Snakemake makes for it; the first run executed every stage for real)."""

import copy

import pytest

from conftest import require_espeak
from workflow import jobs_run, snakemake, tiny_demo_config, write_config

pytestmark = pytest.mark.slow  # runs the real workflow


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, prepared_models):
    require_espeak()
    workdir = tmp_path_factory.mktemp("rerun")
    config = tiny_demo_config(prepared_models)
    write_config(workdir / "tiny.yaml", config)
    first = snakemake(workdir, "--cores", "2", "--configfile", "tiny.yaml")
    stages = {"prepare_model", "synthesize_demo", "augment", "train_snr_estimator", "voice_activity", "extract_attributes", "seed_transcripts", "caption", "encode_corpus",
              "build_trainset", "train_adapter", "build_instruction_set", "finetune_adapter", "training_report", "performance_report", "settings_report",
              "build_demo_benchmark", "benchmark_clips", "answer_benchmark", "score_benchmark", "evaluation_report",
              "build_ifeval_demo", "answer_ifeval", "ifeval_report", "build_chat_demo"}
    assert stages <= set(jobs_run(first.stderr + first.stdout))
    return workdir, config


def run(workdir, *args):
    """Targets come first: --configfile would take them as more config files."""
    result = snakemake(workdir, *args, "--cores", "2", "--configfile", "tiny.yaml")
    return jobs_run(result.stdout + result.stderr)


def test_up_to_date_run_does_nothing(finished_run):
    workdir, _ = finished_run
    assert run(workdir) == {}


def test_forcerun_until_reruns_exactly_that_stage(finished_run):
    workdir, _ = finished_run
    seeds = workdir / "results" / "seeds" / "demo.parquet"
    before = seeds.stat().st_mtime_ns
    # explicit targets: `--until extract_attributes` would also reach the benchmark inputs' attribute job, whose
    # upstream (the demo benchmark) is downstream of the corpora's, which trips snakemake (issue 823)
    targets = ["results/attributes/demo.parquet", "results/attributes/augmented.parquet"]
    assert run(workdir, *targets, "--forcerun", "extract_attributes") == {"extract_attributes": 2}
    assert seeds.stat().st_mtime_ns == before


def planned(workdir, config):
    """The jobs a run under `config` would take, from Snakemake's dry run (the same job table a real run prints)."""
    write_config(workdir / "planned.yaml", config)
    result = snakemake(workdir, "-n", "--cores", "2", "--configfile", "planned.yaml")
    return jobs_run(result.stdout + result.stderr)


def test_changed_parameter_reruns_its_stage_and_downstream_only(finished_run):
    workdir, config = finished_run
    training = {"build_trainset": 1, "train_adapter": 1, "finetune_adapter": 1, "training_report": 1, "performance_report": 1}
    # the speech LMs (trained on captions), the specialized-models cascade (reads seeds) and seed_llm (writes the
    # benchmark's true labels as seeds) are rescored; the benchmark itself is not rebuilt
    scores = {"answer_benchmark": 4, "score_benchmark": 4, "evaluation_report": 1, "headline_report": 1, "answer_ifeval": 3, "build_ifeval_demo": 1, "ifeval_report": 1, "build_chat_demo": 1}
    quoted = copy.deepcopy(config) | {"seed": {"style": "quoted"}}
    assert planned(workdir, quoted) == {"seed_transcripts": 3, "caption": 2, **training, **scores, "settings_report": 1, "all": 1}

    more_clips = copy.deepcopy(config)
    more_clips["demo"]["clips_per_voice"] = 3
    downstream = {"augment": 1, "train_snr_estimator": 1, "voice_activity": 2, "extract_attributes": 3, "seed_transcripts": 3, "caption": 2, "encode_corpus": 2,
                  "build_instruction_set": 1, **training, **scores, "build_demo_benchmark": 1, "benchmark_clips": 1, "answer_benchmark": 6, "score_benchmark": 6}  # fmt: skip
    assert planned(workdir, more_clips) == {"synthesize_demo": 1, **downstream, "settings_report": 1, "all": 1}


def test_ablations_target_trains_and_scores_each_variant_next_to_desta2(finished_run):
    workdir, config = finished_run
    # open QA needs room for a whole pair (8 tokens here); its parsing and quarantine are unit-tested
    config["ablations"] = {"variants": ["seed_target", "desta_caption"]}
    write_config(workdir / "tiny.yaml", config)
    ran = run(workdir, "ablations")
    assert ran == {"ablation_caption": 2, "ablation_trainset": 2, "train_ablation": 2, "answer_benchmark": 2, "score_benchmark": 2,
                   "ablation_report": 1, "ablations": 1}
    import polars as pl

    table = pl.read_csv(workdir / "results" / "report" / "demo_ablations.csv")
    ours = table.filter(pl.col("source").str.starts_with("ours"))["system"].to_list()
    assert ours == ["desta2", "ablation_seed_target", "ablation_desta_caption"]
    ablation = workdir / "results" / "ablations"
    trainset = pl.read_parquet(ablation / "seed_target" / "trainset" / "train.parquet")
    assert (trainset["target"] == trainset["seed"]).all() and trainset["id"].is_unique().all()
    captioned = pl.read_parquet(ablation / "desta_caption" / "trainset" / "train.parquet")
    assert captioned["gen_params"].str.contains("third-person").all() and (captioned["target"] != captioned["seed"]).all()
