# The caption training set: every clip's Whisper transcript, joined with its captions, balanced, split.


rule transcribe:
    input:
        clips="results/attributes/{corpus}.parquet",
        whisper="resources/models/whisper",
    output:
        transcripts="results/transcripts/{corpus}.parquet",
        quarantine="results/quarantine/transcribe/{corpus}.parquet",
    params:
        batch_size=config["transcribe"]["batch_size"],
    log:
        "logs/transcribe/{corpus}.log",
    benchmark:
        "benchmarks/transcribe/{corpus}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=240,
    conda:
        "../envs/attributes.yaml"
    script:
        "../scripts/transcribe.py"


rule build_trainset:
    input:
        captions=[caption_shards(corpus) for corpus in CORPORA],
        seeds=expand("results/seeds/{corpus}.parquet", corpus=CORPORA),
        transcripts=expand("results/transcripts/{corpus}.parquet", corpus=CORPORA),
    output:
        splits=expand("results/trainset/{split}.parquet", split=["train", "valid", "test"]),
        hf=directory("results/trainset/hf"),
        summary="results/trainset/summary.csv",
    params:
        settings=config["trainset"],
        out_dir=lambda wildcards, output: os.path.dirname(output.summary),
    log:
        "logs/build_trainset/trainset.log",
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        "../envs/trainset.yaml"
    script:
        "../scripts/build_trainset.py"
