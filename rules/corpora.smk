# Corpora into `corpus`-stage manifests (one row per clip; schema in destaflow/manifest.py).


rule synthesize_demo:
    output:
        manifest="results/corpora/{corpus}.parquet",
        audio=directory("results/corpora/{corpus}"),
    params:
        settings=config["demo"],
    log:
        "logs/synthesize_demo/{corpus}.log",
    benchmark:
        "benchmarks/synthesize_demo/{corpus}.tsv"
    wildcard_constraints:
        corpus="|".join(corpora_with_reader("demo")) or "^$",
    priority: TRAINING_CHAIN
    threads: CHAIN_THREADS
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/corpora.yaml"
    script:
        "../scripts/synthesize_demo.py"


rule read_corpus:
    input:
        root=lambda wc: config["corpora"][wc.corpus]["root"],
    output:
        manifest="results/corpora/{corpus}.parquet",
        quarantine="results/quarantine/corpus/{corpus}.parquet",
    params:
        settings=lambda wc: config["corpora"][wc.corpus],
    log:
        "logs/read_corpus/{corpus}.log",
    benchmark:
        "benchmarks/read_corpus/{corpus}.tsv"
    wildcard_constraints:
        corpus="|".join(corpora_with_reader(*READERS)) or "^$",
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../envs/corpora.yaml"
    script:
        "../scripts/read_corpus.py"
