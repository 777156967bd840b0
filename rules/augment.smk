# The mixed noise & reverb corpus: clean clips of other corpora with true SNR / C50 / RT60 labels.


rule augment:
    input:
        expand("results/corpora/{corpus}.parquet", corpus=augment_sources()),
    output:
        manifest=f"results/corpora/{AUGMENTED}.parquet",
        audio=directory(f"results/corpora/{AUGMENTED}"),
        quarantine=f"results/quarantine/corpus/{AUGMENTED}.parquet",
    params:
        settings=augment_settings(),
    log:
        f"logs/augment/{AUGMENTED}.log",
    benchmark:
        f"benchmarks/augment/{AUGMENTED}.tsv"
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../envs/augment.yaml"
    script:
        "../scripts/augment.py"
