# The frozen Whisper's one pass over each corpus (transcripts for the LLM, encoder taps for the connector),
# then the caption training set: transcripts joined with the captions, balanced, split.


rule encode_corpus:
    input:
        clips="results/attributes/{corpus}.parquet",
        whisper="resources/models/whisper",
    output:
        transcripts="results/transcripts/{corpus}.parquet",
        cache=directory("results/encoder_cache/{corpus}"),
        quarantine="results/quarantine/encode_corpus/{corpus}.parquet",
    params:
        tap_layers=config["connector"]["tap_layers"],
        batch_size=config["transcribe"]["batch_size"],
        trim=config["train"]["trim"],
        dtype=config["train"]["backbone_dtype"],
        work_dir="results/runs/encode_corpus/{corpus}",
    priority: TRAINING_CHAIN
    log:
        "logs/encode_corpus/{corpus}.log",
    benchmark:
        "benchmarks/encode_corpus/{corpus}.tsv"
    threads: CHAIN_THREADS
    resources:
        mem_mb=8000,
        runtime=480,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/encode_corpus.py"


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
    priority: TRAINING_CHAIN
    threads: CHAIN_THREADS
    log:
        "logs/build_trainset/trainset.log",
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        "../envs/trainset.yaml"
    script:
        "../scripts/build_trainset.py"
