"""Snakemake entry point: a training set with ablated targets (see destaflow.ablations)."""

from destaflow.ablations import ablation_trainset
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
ablation_trainset(snakemake.wildcards.variant, snakemake.input[0], snakemake.output[0])
