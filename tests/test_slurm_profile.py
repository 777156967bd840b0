"""The paper configuration plans the right jobs and SLURM resources (dry run; no sbatch needed)."""

import re

import pytest
import yaml

from workflow import ROOT, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.slow  # runs Snakemake (dry runs of the paper configuration)


NO_WEIGHTS_LOADED = {"all", "ablations", "build_trainset", "build_instruction_set", "ablation_trainset", "training_report", "performance_report",
                     "import_release"}  # fmt: skip
"""Rules that name a backbone or adapter folder but load no weights: targets, the tokenizer only (lengths, chat
template), the training logs beside an adapter, or the backbones' names (a release's import)."""


def local_rules() -> set[str]:
    names = set()
    for smk in (ROOT / "rules").glob("*.smk"):
        for block in re.findall(r"^localrules:\n((?:\s+\w+,?\n)+)", smk.read_text(), re.MULTILINE):
            names |= set(re.findall(r"\w+", block))
    return names


@pytest.fixture
def paper_config_on_empty_corpora(tmp_path):
    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    for name, corpus in config["corpora"].items():
        corpus["root"] = str((tmp_path / "corpora" / name).resolve())
        (tmp_path / "corpora" / name).mkdir(parents=True)
        if corpus.get("audio_root"):
            corpus["audio_root"] = corpus["root"] + "/audio"
    config["augment"]["noise_dir"] = str(tmp_path / "corpora" / "musan")
    (tmp_path / "corpora" / "musan").mkdir()
    config["evaluation"]["benchmarks"]["dynamic_superb"]["path"] = str(tmp_path / "DynamicSuperb")
    (tmp_path / "DynamicSuperb").mkdir()
    config["evaluation"]["ifeval"]["sets"]["speech_ifeval"]["path"] = str(tmp_path / "Speech-IFEval")
    (tmp_path / "Speech-IFEval").mkdir()
    config["evaluation"]["chat"]["sets"]["air_bench"]["path"] = str(tmp_path / "AIR-Bench")
    (tmp_path / "AIR-Bench").mkdir()
    config["evaluation"]["judge"] = {"kind": "openai", "base_url": "http://judge.local/v1", "model": "gpt-4o"}
    return write_config(tmp_path / "paper.yaml", config)


def test_paper_config_plans_every_stage_with_slurm_resources(tmp_path, paper_config_on_empty_corpora):
    result = snakemake(
        tmp_path,
        "-n",
        "--executor", "slurm",
        "-j", "8",
        "--workflow-profile", str(ROOT / "profiles" / "slurm"),
        "--configfile", str(paper_config_on_empty_corpora),
    )
    jobs = planned_jobs(result.stdout)
    assert len(jobs["prepare_model"]) == 5  # backbones + ASR, gender and emotion models
    assert "prepare_model" in local_rules(), "model preparation must run on the login node"
    assert len(jobs["read_corpus"]) == 6
    for job in jobs["read_corpus"]:
        assert job["slurm_partition"] == "<partition>" and job["slurm_account"] == "<account>"
        assert job["mem_mb"] == "16000" and job["runtime"] == "240"
    assert len(jobs["augment"]) == 1
    assert len(jobs["extract_attributes"]) == 8  # six corpora + the augmented one + the benchmark's inputs
    for job in jobs["extract_attributes"]:
        assert job["gpu"] == "1" and job["cpus_per_gpu"] == "8" and job["mem_mb"] == "64000" and job["runtime"] == "720"
    assert len(jobs["seed_transcripts"]) == 8
    assert len(jobs["encode_corpus"]) == 7  # six corpora + the augmented one
    for rule in ("caption", "encode_corpus"):
        assert all(job["gpu"] == "1" for job in jobs[rule]), rule
    (training,) = jobs["train_adapter"]
    assert training["gpu"] == "2" and training["cpus_per_gpu"] == "8" and training["runtime"] == "2880"
    (finetuning,) = jobs["finetune_adapter"]
    assert finetuning["gpu"] == "2" and finetuning["runtime"] == "720"
    assert "synthesize_demo" not in jobs, "the demo corpus must not leak into the paper configuration"
    # the six systems and the authors' release (desta2_release: imported on the login node, scored as desta2)
    assert len(jobs["import_release"]) == 1 and "import_release" in local_rules()
    assert len(jobs["answer_benchmark"]) == 6 and all(job["gpu"] == "1" for job in jobs["answer_benchmark"])
    assert len(jobs["answer_chat"]) == 5 and all(job["gpu"] == "1" for job in jobs["answer_chat"])  # not the specialist cascade
    assert len(jobs["score_chat"]) == 5 and "build_chat_demo" not in jobs
    assert "build_demo_benchmark" not in jobs and len(jobs["evaluation_report"]) == 1
    assert len(jobs["answer_ifeval"]) == 8 and len(jobs["ifeval_report"]) == 2  # (3 speech LMs + text LLM) x 2 sets


def test_every_job_that_loads_a_backbone_asks_for_a_gpu(tmp_path, paper_config_on_empty_corpora):
    """Under the paper configuration a job reading the LLM or Whisper weights (or an adapter, which loads both)
    runs them: on CPU that is hours for an 8B model, so each must ask SLURM for a GPU and the memory to load it."""
    result = snakemake(tmp_path, "all", "ablations", "-n", "--executor", "slurm", "-j", "8", "--workflow-profile",
                       str(ROOT / "profiles" / "slurm"), "--configfile", str(paper_config_on_empty_corpora))  # fmt: skip
    backbone = re.compile(r"resources/(models/(llm|whisper)|releases/\w+)\b|results/(adapter|finetuned|ablations/\w+/adapter)\b")
    loading = {rule: runs for rule, runs in planned_jobs(result.stdout, with_inputs=True).items()
               if rule not in NO_WEIGHTS_LOADED and any(backbone.search(job["input"]) for job in runs)}  # fmt: skip
    assert {"caption", "train_adapter", "answer_benchmark", "answer_ifeval", "ablation_caption", "train_ablation"} <= set(loading)
    for rule, runs in loading.items():
        for job in runs:
            assert int(job.get("gpu", 0)) >= 1 and int(job["mem_mb"]) >= 32000, (rule, job)


def test_missing_corpus_root_is_reported_before_any_job(tmp_path):
    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    config["corpora"]["vctk"]["root"] = str(tmp_path / "nowhere")
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path / "c.yaml", config)), check=False)
    assert result.returncode != 0
    assert f"corpora.vctk.root: {tmp_path / 'nowhere'}" in result.stdout + result.stderr
