# Seed transcripts: each clip written as text in the paper's format.


rule seed_transcripts:
    input:
        "results/attributes/{corpus}.parquet",
    output:
        "results/seeds/{corpus}.parquet",
    params:
        attributes=lambda wc: config["seed"]["per_corpus"].get(wc.corpus, config["seed"]["attributes"]),
        style=config["seed"]["style"],
    priority: TRAINING_CHAIN
    threads: CHAIN_THREADS
    log:
        "logs/seed_transcripts/{corpus}.log",
    conda:
        "../envs/seeds.yaml"
    script:
        "../scripts/seed_transcripts.py"
