# Backbones into Hugging Face folders, and the authors' released adapters onto them. Local rules: on a cluster
# they run on the login node, which has network access for `hub:` sources; every other job runs with
# HF_HUB_OFFLINE=1.


localrules:
    prepare_model,
    import_release,


rule prepare_model:
    output:
        directory("resources/models/{role}"),
    params:
        source=lambda wc: config["models"][wc.role],
    log:
        "logs/prepare_model/{role}.log",
    benchmark:
        "benchmarks/prepare_model/{role}.tsv"
    wildcard_constraints:
        role="|".join(MODEL_ROLES) or "^$",
    conda:
        "../envs/models.yaml"
    script:
        "../scripts/prepare_model.py"


rule import_release:
    input:
        whisper="resources/models/whisper",
        llm="resources/models/llm",
    output:
        directory("resources/releases/{release}"),
    params:
        source=lambda wc: RELEASES[wc.release]["source"],
        taps=lambda wc: RELEASES[wc.release]["taps"],
    log:
        "logs/import_release/{release}.log",
    benchmark:
        "benchmarks/import_release/{release}.tsv"
    wildcard_constraints:
        release="|".join(RELEASES) or "^$",
    conda:
        "../envs/evaluate.yaml"  # loads the connector as the scoring jobs do
    script:
        "../scripts/import_release.py"
