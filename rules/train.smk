# Adapter training: only the connector learns; the frozen encoder's taps come from the corpora's caches.


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
    priority: TRAINING_CHAIN
    log:
        "logs/train_adapter/train_adapter.log",
    benchmark:
        "benchmarks/train_adapter/train_adapter.tsv"
    threads: CHAIN_THREADS
    resources:
        mem_mb=16000,
        runtime=1440,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/train_adapter.py"
