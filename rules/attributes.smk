# Attribute extraction: corpus labels first, then DSP and specialist models, then bins -> words.


rule extract_attributes:
    input:
        unpack(extractor_model_dirs),
        manifest="results/corpora/{corpus}.parquet",
    output:
        manifest="results/attributes/{corpus}.parquet",
        quarantine="results/quarantine/attributes/{corpus}.parquet",
    params:
        extractors=lambda wc: extractors_for(wc.corpus),
        models=lambda wc: extractor_model_dirs(wc),
        settings=config["attributes"],
        work_dir="results/runs/extract_attributes/{corpus}",
    priority: TRAINING_CHAIN
    log:
        "logs/extract_attributes/{corpus}.log",
    benchmark:
        "benchmarks/extract_attributes/{corpus}.tsv"
    threads: CHAIN_THREADS
    resources:
        mem_mb=8000,
        runtime=240,
    conda:
        "../envs/attributes.yaml"
    script:
        "../scripts/extract_attributes.py"


rule voice_activity:
    input:
        unpack(voice_activity_models),
        manifest="results/corpora/{corpus}.parquet",
    output:
        table="results/voice_activity/{corpus}.parquet",
        quarantine="results/quarantine/voice_activity/{corpus}.parquet",
    params:
        settings=lambda wc: config["attributes"]["vad"] | voice_activity_models(wc),
    log:
        "logs/voice_activity/{corpus}.log",
    benchmark:
        "benchmarks/voice_activity/{corpus}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    conda:
        "../envs/pyannote.yaml"
    script:
        "../scripts/voice_activity.py"


rule train_snr_estimator:
    input:
        manifests=expand("results/corpora/{corpus}.parquet", corpus=snr_estimator_sources()),
    output:
        directory("results/snr_estimator"),
    params:
        augment=augment_settings(),
        settings=config["attributes"]["snr_estimator"],
    log:
        "logs/train_snr_estimator/snr_estimator.log",
    benchmark:
        "benchmarks/train_snr_estimator/snr_estimator.tsv"
    threads: config["threads"]
    resources:
        mem_mb=16000,
        runtime=60,
    conda:
        "../envs/attributes.yaml"
    script:
        "../scripts/train_snr_estimator.py"


rule train_brouhaha:
    input:
        manifests=expand("results/corpora/{corpus}.parquet", corpus=brouhaha_sources()),
    output:
        directory("results/brouhaha"),
    params:
        augment=augment_settings(),
        settings=config["attributes"]["brouhaha"],
        work_dir="results/runs/train_brouhaha",
    log:
        "logs/train_brouhaha/brouhaha.log",
    benchmark:
        "benchmarks/train_brouhaha/brouhaha.tsv"
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=180,
    conda:
        "../envs/pyannote.yaml"
    script:
        "../scripts/train_brouhaha.py"


rule brouhaha:  # target: the brouhaha-style model and its held-out scores, also where no extractor list names it
    input:
        "results/brouhaha",
