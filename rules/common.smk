import os
import sys

sys.path.insert(0, workflow.basedir)
import destaflow.config as config_helpers
from destaflow import ablations
from destaflow.config import ConfigError, validate_config
from destaflow.corpora.registry import READERS
from destaflow.evaluation.demo_benchmark import PRIMARY_SYNTHESIZER, instance_name
from destaflow.models.prepare import ROLES

try:
    config.update(validate_config(config))
except ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None

# Set (not read) for every job, local or on a cluster node where this file is parsed again: scripts import
# the library from the checkout whatever environment runs them, and jobs never reach a model hub (model
# preparation lifts that for hub sources only).
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [workflow.basedir, os.getenv("PYTHONPATH")])))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def repo_file(path):
    """A relative path that is not under the working directory is taken from the checkout (shipped data)."""
    return path if os.path.isabs(path) or os.path.exists(path) else os.path.join(workflow.basedir, path)


config["demo"]["sentences"] = repo_file(config["demo"]["sentences"])

MODEL_ROLES = [role for role in ROLES if config["models"].get(role)]
# extractor -> model role it loads (whisper_asr falls back to the backbone Whisper)
EXTRACTOR_MODELS = {"whisper_asr": "asr", "gender_classifier": "gender", "emotion_classifier": "emotion"}

_missing = config_helpers.missing_folders(config)
if _missing:
    raise WorkflowError("folders the configuration names do not exist: " + "; ".join(_missing))


def model_dirs():
    return expand("resources/models/{role}", role=MODEL_ROLES)


def corpora_with_reader(*readers):
    return [name for name, corpus in config["corpora"].items() if corpus["reader"] in readers]


AUGMENT = config["augment"]
AUGMENTED = AUGMENT["name"]
# every corpus the workflow builds manifests for, the augmented one included
CORPORA = list(config["corpora"]) + ([AUGMENTED] if AUGMENT["enabled"] else [])


def augment_sources():
    return config_helpers.augment_sources(config)


def augment_settings():
    return config_helpers.augment_settings(config)


def snr_estimator_sources():
    return config_helpers.snr_estimator_sources(config)


def brouhaha_sources():
    return config_helpers.brouhaha_sources(config)


def voice_activity_models(wildcards):
    """The brouhaha-style model the voice-activity pass also runs, when the corpus's extractors name it."""
    return {"brouhaha": "results/brouhaha"} if "brouhaha" in extractors_for(wildcards.corpus) else {}


def corpus_manifests():
    return expand("results/corpora/{corpus}.parquet", corpus=CORPORA)


def extractors_for(corpus):
    if corpus.startswith(BENCHMARK_CLIPS):  # a benchmark's inputs, for the specialized-models cascade
        return config["evaluation"]["specialists"]
    return config["attributes"]["per_corpus"].get(corpus, config["attributes"]["extractors"])


def extractor_model_dirs(wildcards):
    """Prepared model folders the corpus's extractors load, by role."""
    roles = {"whisper"} | {EXTRACTOR_MODELS[e] for e in extractors_for(wildcards.corpus) if e in EXTRACTOR_MODELS}
    folders = {role: f"resources/models/{role}" for role in roles if role in MODEL_ROLES}
    if "learned_snr" in extractors_for(wildcards.corpus):
        folders["snr_estimator"] = "results/snr_estimator"  # trained by the workflow itself
    if {"voice_activity", "brouhaha"} & set(extractors_for(wildcards.corpus)):
        folders["voice_activity"] = f"results/voice_activity/{wildcards.corpus}.parquet"  # rule voice_activity
    return folders


def caption_shards(corpus):
    return expand("results/captions/{corpus}/shard-{shard}.parquet", corpus=corpus, shard=range(config["caption"]["shards"]))


def adapter_training_settings():
    """The loop's settings: the `train` section merged with `connector`."""
    train = config["train"]
    return {**train, "threads": train["threads"] or config["threads"], **config["connector"]}


def encoder_caches():
    """Every corpus's encoder taps, computed in the pass that transcribes it; training reads them as one."""
    return {"cache": expand("results/encoder_cache/{corpus}", corpus=CORPORA)} if config["train"]["cache"] else {}


def adapter_training_inputs(wildcards):
    return encoder_caches()


FINETUNE = config["finetune"]["enabled"]


def finetune_inputs(wildcards):
    inputs = encoder_caches()
    if config["finetune"]["init_from_captions"]:
        inputs["caption_adapter"] = "results/adapter"
    return inputs


def finetune_training_settings(input):
    from destaflow.finetune import finetune_settings

    caption_adapter = os.path.join(input.caption_adapter, "adapter") if "caption_adapter" in input.keys() else None
    return finetune_settings(adapter_training_settings(), config["finetune"], caption_adapter)


def training_runs(wildcards):
    """Training stage -> its published folder (log.csv, valid.csv)."""
    return {"captions": "results/adapter", **({"finetuning": "results/finetuned"} if FINETUNE else {})}


# ---- scoring -------------------------------------------------------------------------------------------

EVALUATION = config["evaluation"]
EVALUATION_THREADS = EVALUATION["threads"] or config["threads"]
# The chain from attributes to the trained adapters is the demo's longest path: among jobs ready together, its jobs
# go first, and the answering jobs follow (the other way round the chain started 5 minutes late). The benchmark's
# clips, their attributes and seeds go with it, so that every job left after it answers on one core.
TRAINING_CHAIN = 10
# Every chain job holds all the job's cores, the light ones (seeds, the training and benchmark sets) too: Snakemake
# reserves no cores for a waiting job, so a one-core chain job let one-core answering jobs take the core it freed,
# and the next chain job (two cores) waited for both to finish (in one demo run captioning 98 s, training 41 s).
CHAIN_THREADS = config["threads"]
SYSTEM_KINDS = {"desta2": "speech_lm", "desta2_finetuned": "speech_lm", "asr_llm": "asr_llm", "specialist_llm": "specialist_llm", "seed_llm": "seed_llm", "text_llm": "text_llm"}
# models served elsewhere (evaluation.systems entries of kind openai): name -> endpoint
SERVED = {entry["name"]: entry for entry in EVALUATION["systems"] if isinstance(entry, dict) and entry["kind"] == "openai"}
SYSTEM_KINDS.update({name: "openai" for name in SERVED})
# the authors' released adapters (kind release): name -> entry; imported by rule import_release, answered as desta2
RELEASES = {entry["name"]: entry for entry in EVALUATION["systems"] if isinstance(entry, dict) and entry["kind"] == "release"}
SYSTEM_KINDS.update({name: "speech_lm" for name in RELEASES})
EVALUATED_SYSTEMS = [s if isinstance(s, str) else s["name"] for s in EVALUATION["systems"] if s != "desta2_finetuned" or FINETUNE]


def benchmark_systems(benchmark):
    """The systems that answer a benchmark: seed_llm only where the workflow built it (true seeds exist)."""
    built = not EVALUATION["benchmarks"][benchmark]["path"]
    return [s for s in EVALUATED_SYSTEMS if s != "seed_llm" or built]

ABLATIONS = config["ablations"]["variants"]
ABLATION_SYSTEMS = [f"ablation_{variant}" for variant in ABLATIONS]  # scored only for the `ablations` target
CAPTIONED_ABLATIONS = [variant for variant in ABLATIONS if ablations.needs_captions(variant)]


def ablation_caption_settings(variant):
    return ablations.caption_settings(variant, config["caption"])


def ablation_trainset_inputs(wildcards):
    """seed_target rewrites the caption training set; the other variants have captions of their own."""
    if not ablations.needs_captions(wildcards.variant):
        return {"trainset": "results/trainset/train.parquet", "valid_trainset": "results/trainset/valid.parquet"}
    shards = expand("results/ablations/{variant}/captions/{corpus}/shard-{shard}.parquet", variant=wildcards.variant, corpus=CORPORA, shard=range(config["caption"]["shards"]))
    return {"captions": shards, "seeds": expand("results/seeds/{corpus}.parquet", corpus=CORPORA), "transcripts": expand("results/transcripts/{corpus}.parquet", corpus=CORPORA)}
SYSTEM_KINDS.update({system: "speech_lm" for system in ABLATION_SYSTEMS})


BENCHMARK_CLIPS = "benchmark-"  # corpus-name prefix of a benchmark's inputs described by the attribute stage


def benchmark_dir(wildcards):
    path = EVALUATION["benchmarks"][wildcards.benchmark]["path"]
    return path or f"results/benchmarks/{wildcards.benchmark}"


def benchmark_settings(name):
    keys = ("two_audio", "seed", "batch_size", "max_new_tokens")
    return {**{key: EVALUATION[key] for key in keys}, **EVALUATION["benchmarks"][name]}


def system_inputs(wildcards):
    """What a system answers with: the adapter folder for the speech LM, the backbones for the cascades."""
    adapters = {"desta2": "results/adapter", "desta2_finetuned": "results/finetuned"}
    adapters |= {f"ablation_{variant}": f"results/ablations/{variant}/adapter" for variant in ABLATIONS}
    adapters |= {name: f"resources/releases/{name}" for name in RELEASES}
    backbones = {"whisper": "resources/models/whisper", "llm": "resources/models/llm"}
    if wildcards.system in adapters:
        return {"adapter": adapters[wildcards.system], **backbones}
    if wildcards.system == "specialist_llm":
        return {"seeds": f"results/seeds/{BENCHMARK_CLIPS}{wildcards.benchmark}.parquet", **backbones}
    if wildcards.system in SERVED:
        return {}  # its server holds the model
    return backbones


# the speech LMs whose instruction following is compared with their text LLM's ("text_llm", given the seed)
IFEVAL_SYSTEMS = [s for s in EVALUATED_SYSTEMS if SYSTEM_KINDS[s] in ("speech_lm", "openai")] + ["text_llm"]


def ifeval_items(wildcards):
    path = EVALUATION["ifeval"]["sets"][wildcards.ifeval_set]["path"]
    return path or f"results/ifeval/{wildcards.ifeval_set}/items.parquet"


CHAT = EVALUATION["chat"]
JUDGED = EVALUATION["judge"]["kind"] != "none"
# open questions: every evaluated system but the specialized-models cascade (its inputs are Dynamic-SUPERB's)
CHAT_SYSTEMS = [s for s in EVALUATED_SYSTEMS if s not in ("specialist_llm", "seed_llm")]


def chat_dir(wildcards):
    return CHAT["sets"][wildcards.chat_set]["path"] or f"results/benchmarks/chat_{wildcards.chat_set}"


def chat_settings(name):
    return {**{key: CHAT[key] for key in ("seed", "max_new_tokens")}, "batch_size": EVALUATION["batch_size"], **CHAT["sets"][name]}


def headline_instances():
    """Test voices -> headline task -> demo benchmark instance (a second synthesizer's voices have their own)."""
    demo = EVALUATION["demo_benchmark"]
    tasks = [task for task in demo["headline"] if task in demo["tasks"]]
    groups = {PRIMARY_SYNTHESIZER: {task: instance_name(task) for task in tasks}}
    second = [task for task in tasks if task in demo["second_synthesizer_tasks"]]
    if config["demo"]["festival"]["voices"] and corpora_with_reader("demo") and second:
        groups["festival"] = {task: instance_name(task, "festival") for task in second}
    return groups if tasks else {}


HEADLINE = "demo" in EVALUATION["benchmarks"] and not EVALUATION["benchmarks"]["demo"]["path"] and bool(headline_instances())


def headline_inputs(wildcards):
    scores = expand("results/evaluation/{benchmark}/{system}/scores.csv", benchmark=wildcards.benchmark, system=benchmark_systems(wildcards.benchmark))
    ifeval_sets = list(EVALUATION["ifeval"]["sets"])
    return {"scores": scores, **({"retention": f"results/report/ifeval_{ifeval_sets[0]}.csv"} if ifeval_sets else {})}


def evaluation_targets():
    if not EVALUATION["enabled"]:
        return []
    targets = expand("results/report/{benchmark}_dimensions.csv", benchmark=list(EVALUATION["benchmarks"]))
    targets += ["results/report/demo_headline.csv"] if HEADLINE else []
    targets += expand("results/report/ifeval_{ifeval_set}.csv", ifeval_set=list(EVALUATION["ifeval"]["sets"]))
    if JUDGED:  # open answers mean nothing without a judge; the demo set is built either way
        return targets + expand("results/report/chat_{chat_set}.csv", chat_set=list(CHAT["sets"]))
    return targets + (["results/benchmarks/chat_demo"] if "demo" in CHAT["sets"] and not CHAT["sets"]["demo"]["path"] else [])


def final_outputs():
    """What the default target builds (the performance table comes after all of it)."""
    outputs = model_dirs() + corpus_manifests() + ["results/trainset/summary.csv", "results/adapter"]
    outputs += ["results/finetuned"] if FINETUNE else []
    return outputs + ["results/report/validation_loss.csv", "results/report/deviations.csv"] + evaluation_targets()


def heavy_job_benchmarks():
    """Snakemake `benchmark:` records of the default DAG's heavy jobs, summarised in the report."""
    files = expand("benchmarks/extract_attributes/{corpus}.tsv", corpus=CORPORA)
    files += expand("benchmarks/encode_corpus/{corpus}.tsv", corpus=CORPORA)
    files += expand("benchmarks/caption/{corpus}/shard-{shard}.tsv", corpus=CORPORA, shard=range(config["caption"]["shards"]))
    files.append("benchmarks/train_adapter/train_adapter.tsv")
    files += ["benchmarks/finetune_adapter/finetune_adapter.tsv"] if FINETUNE else []
    if EVALUATION["enabled"]:
        if "specialist_llm" in EVALUATED_SYSTEMS:
            files += expand("benchmarks/extract_attributes/{prefix}{benchmark}.tsv", prefix=BENCHMARK_CLIPS, benchmark=list(EVALUATION["benchmarks"]))
        files += [f"benchmarks/answer_benchmark/{b}-{s}.tsv" for b in EVALUATION["benchmarks"] for s in benchmark_systems(b)]
        files += expand("benchmarks/answer_ifeval/{ifeval_set}-{system}.tsv", ifeval_set=list(EVALUATION["ifeval"]["sets"]), system=IFEVAL_SYSTEMS)
        if JUDGED:
            files += expand("benchmarks/answer_chat/{chat_set}-{system}.tsv", chat_set=list(CHAT["sets"]), system=CHAT_SYSTEMS)
    return files
