# LLM captioning: the backbone LLM reads each seed transcript with the one prompt; its answer is the target.


rule caption:
    input:
        seeds="results/seeds/{corpus}.parquet",
        llm="resources/models/llm",
    output:
        captions="results/captions/{corpus}/shard-{shard}.parquet",
        quarantine="results/quarantine/caption/{corpus}/shard-{shard}.parquet",
    params:
        settings=config["caption"],
        shards=config["caption"]["shards"],
        dtype=config["train"]["backbone_dtype"],
    priority: TRAINING_CHAIN
    log:
        "logs/caption/{corpus}/shard-{shard}.log",
    benchmark:
        "benchmarks/caption/{corpus}/shard-{shard}.tsv"
    wildcard_constraints:
        shard=r"\d+",
    threads: CHAIN_THREADS
    resources:
        mem_mb=8000,
        runtime=720,
    conda:
        "../envs/caption.yaml"
    script:
        "../scripts/caption.py"
