# Adapter training: the frozen Whisper encoder's taps cached once, then only the connector is trained.


rule encoder_cache:
    input:
        splits=cache_inputs(),
        whisper="resources/models/whisper",
    output:
        directory("results/encoder_cache"),
    params:
        tap_layers=config["connector"]["tap_layers"],
        batch_size=config["train"]["cache_batch_size"],
        trim=config["train"]["trim"],
    log:
        "logs/encoder_cache/encoder_cache.log",
    benchmark:
        "benchmarks/encoder_cache/encoder_cache.tsv"
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=240,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/encoder_cache.py"


rule train_adapter:
    input:
        unpack(adapter_training_inputs),
        train="results/trainset/train.parquet",
        valid="results/trainset/valid.parquet",
        whisper="resources/models/whisper",
        llm="resources/models/llm",
    output:
        directory("results/adapter"),
    params:
        settings=adapter_training_settings(),
        run_dir="results/runs/adapter",
    log:
        "logs/train_adapter/train_adapter.log",
    benchmark:
        "benchmarks/train_adapter/train_adapter.tsv"
    threads: config["threads"]
    resources:
        mem_mb=16000,
        runtime=1440,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/train_adapter.py"
