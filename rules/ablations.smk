# Training-target ablations (paper Table III), outside the default DAG: `snakemake --cores 2 ablations`
# trains an adapter per variant on the caption set's clips with other targets (captioned again with the
# variant's prompt where it needs one), scores it like DeSTA2 and builds the table next to DeSTA2.


rule ablation_caption:
    input:
        seeds="results/seeds/{corpus}.parquet",
        llm="resources/models/llm",
    output:
        captions="results/ablations/{variant}/captions/{corpus}/shard-{shard}.parquet",
        quarantine="results/quarantine/ablation_caption/{variant}/{corpus}/shard-{shard}.parquet",
    wildcard_constraints:
        variant="|".join(CAPTIONED_ABLATIONS) or "^$",
        shard=r"\d+",
    params:
        settings=lambda wildcards: ablation_caption_settings(wildcards.variant),
        shards=config["caption"]["shards"],
        dtype=config["train"]["backbone_dtype"],
    log:
        "logs/ablation_caption/{variant}/{corpus}/shard-{shard}.log",
    benchmark:
        "benchmarks/ablation_caption/{variant}/{corpus}/shard-{shard}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=720,
    conda:
        "../envs/caption.yaml"
    script:
        "../scripts/caption.py"


rule ablation_trainset:
    input:
        unpack(ablation_trainset_inputs),
    output:
        train="results/ablations/{variant}/trainset/train.parquet",
        valid="results/ablations/{variant}/trainset/valid.parquet",
        quarantine="results/quarantine/ablation_trainset/{variant}.parquet",
    wildcard_constraints:
        variant="|".join(ABLATIONS),
    params:
        settings=config["trainset"],
        out_dir=lambda wildcards, output: os.path.dirname(output.train),
    log:
        "logs/ablation_trainset/{variant}.log",
    conda:
        "../envs/trainset.yaml"
    script:
        "../scripts/ablation_trainset.py"


rule train_ablation:
    input:
        unpack(adapter_training_inputs),
        train="results/ablations/{variant}/trainset/train.parquet",
        valid="results/ablations/{variant}/trainset/valid.parquet",
        whisper="resources/models/whisper",
        llm="resources/models/llm",
    output:
        directory("results/ablations/{variant}/adapter"),
    wildcard_constraints:
        variant="|".join(ABLATIONS),
    params:
        settings=adapter_training_settings(),
        run_dir="results/runs/ablation-{variant}",
    log:
        "logs/train_ablation/{variant}.log",
    benchmark:
        "benchmarks/train_ablation/{variant}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=16000,
        runtime=1440,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/train_adapter.py"


rule ablation_report:
    input:
        lambda wildcards: expand("results/evaluation/{benchmark}/{system}/scores.csv", benchmark=wildcards.benchmark, system=["desta2", *ABLATION_SYSTEMS]),
    output:
        report("results/report/{benchmark}_ablations.csv", caption="../report/ablations.rst", category="Scores", subcategory="{benchmark}"),
    params:
        metric=config["evaluation"]["metric"],
    log:
        "logs/ablation_report/{benchmark}.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/ablation_report.py"


rule ablations:
    input:
        expand("results/report/{benchmark}_ablations.csv", benchmark=list(config["evaluation"]["benchmarks"])),
