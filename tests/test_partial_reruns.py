"""Partial reruns on a tiny demo: one stage exactly, and a changed parameter reruns only its downstream."""

import pytest

from conftest import require_espeak
from workflow import jobs_run, snakemake, tiny_demo_config, write_config


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, prepared_models):
    require_espeak()
    workdir = tmp_path_factory.mktemp("rerun")
    config = tiny_demo_config(prepared_models)
    write_config(workdir / "tiny.yaml", config)
    first = snakemake(workdir, "--cores", "2", "--configfile", "tiny.yaml")
    stages = {"prepare_model", "synthesize_demo", "augment", "train_snr_estimator", "extract_attributes", "seed_transcripts", "caption", "transcribe",
              "build_trainset", "encoder_cache", "train_adapter", "build_instruction_set", "finetune_adapter", "training_report",
              "build_demo_benchmark", "answer_benchmark", "score_benchmark", "evaluation_report"}
    assert stages <= set(jobs_run(first.stderr + first.stdout))
    return workdir, config


def run(workdir, *args):
    result = snakemake(workdir, "--cores", "2", "--configfile", "tiny.yaml", *args)
    return jobs_run(result.stdout + result.stderr)


def test_up_to_date_run_does_nothing(finished_run):
    workdir, _ = finished_run
    assert run(workdir) == {}


def test_forcerun_until_reruns_exactly_that_stage(finished_run):
    workdir, _ = finished_run
    seeds = workdir / "results" / "seeds" / "demo.parquet"
    before = seeds.stat().st_mtime_ns
    assert run(workdir, "--forcerun", "extract_attributes", "--until", "extract_attributes") == {"extract_attributes": 2}
    assert seeds.stat().st_mtime_ns == before


def test_changed_parameter_reruns_its_stage_and_downstream_only(finished_run):
    workdir, config = finished_run
    config["seed"] = {"style": "quoted"}
    write_config(workdir / "tiny.yaml", config)
    training = {"build_trainset": 1, "encoder_cache": 1, "train_adapter": 1, "finetune_adapter": 1, "training_report": 1}
    speech_lm_scores = {"answer_benchmark": 2, "score_benchmark": 2, "evaluation_report": 1}  # the cascades do not use captions
    assert run(workdir) == {"seed_transcripts": 2, "caption": 2, **training, **speech_lm_scores, "all": 1}

    config["demo"]["clips_per_voice"] = 3
    write_config(workdir / "tiny.yaml", config)
    downstream = {"augment": 1, "train_snr_estimator": 1, "extract_attributes": 2, "seed_transcripts": 2, "caption": 2, "transcribe": 2, "build_instruction_set": 1, **training,
                  "build_demo_benchmark": 1, "answer_benchmark": 4, "score_benchmark": 4, "evaluation_report": 1}
    assert run(workdir) == {"synthesize_demo": 1, **downstream, "all": 1}
