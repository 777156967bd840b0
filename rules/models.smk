# Backbones into Hugging Face folders. A local rule: on a cluster it runs on the login node, which has
# network access for `hub:` sources; every other job then runs with HF_HUB_OFFLINE=1.


localrules:
    prepare_model,


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
