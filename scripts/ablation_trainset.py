"""Snakemake entry point: a training set with ablated targets (see destaflow.ablations)."""

from destaflow.ablations import build_ablation_trainset
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
inputs = {name: snakemake.input[name] for name in snakemake.input.keys()}
build_ablation_trainset(snakemake.wildcards.variant, inputs, snakemake.params.settings, snakemake.params.out_dir, snakemake.output.quarantine)
