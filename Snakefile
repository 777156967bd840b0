# destaflow: a DeSTA2-style speech-language-model workflow. Stages live in rules/, logic in destaflow/.
from snakemake.utils import min_version

min_version("9.0")


# config.yaml (the demo) is the default; a --configfile given on the command line replaces it instead of
# being merged into it, so the paper configuration never inherits the demo corpus.
if not workflow.overwrite_configfiles:

    configfile: workflow.source_path("config.yaml")


include: "rules/common.smk"
include: "rules/models.smk"
include: "rules/corpora.smk"
include: "rules/augment.smk"
include: "rules/attributes.smk"
include: "rules/seeds.smk"
include: "rules/caption.smk"
include: "rules/trainset.smk"
include: "rules/train.smk"
include: "rules/finetune.smk"
include: "rules/report.smk"
include: "rules/evaluate.smk"
include: "rules/ablations.smk"


rule all:
    input:
        final_outputs(),
        "results/report/performance.csv",
    default_target: True
