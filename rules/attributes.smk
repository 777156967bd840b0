# Attribute extraction: corpus labels first, then DSP and specialist models, then bins -> words.


rule extract_attributes:
    input:
        manifest="results/corpora/{corpus}.parquet",
        whisper="resources/models/whisper",
    output:
        manifest="results/attributes/{corpus}.parquet",
        quarantine="results/quarantine/attributes/{corpus}.parquet",
    params:
        extractors=lambda wc: config["attributes"]["per_corpus"].get(wc.corpus, config["attributes"]["extractors"]),
        settings=config["attributes"],
    log:
        "logs/extract_attributes/{corpus}.log",
    benchmark:
        "benchmarks/extract_attributes/{corpus}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=240,
    conda:
        "../envs/attributes.yaml"
    script:
        "../scripts/extract_attributes.py"
