"""Snakemake entry point: the in-domain instruction set for finetuning (see destaflow.finetune)."""

from destaflow.finetune import build_instruction_set
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
build_instruction_set(
    list(snakemake.input.manifests),
    list(snakemake.input.transcripts),
    snakemake.params.tasks,
    snakemake.params.seed,
    snakemake.params.out_dir,
    balance=snakemake.params.balance,
    max_per_task=snakemake.params.max_per_task,
)
