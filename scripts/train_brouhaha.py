"""Snakemake entry point: train the brouhaha-style model (see destaflow.brouhaha)."""

from destaflow.brouhaha import train_brouhaha
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
settings = {**snakemake.params.settings, "threads": snakemake.threads}  # threads follow --cores without changing params
train_brouhaha(list(snakemake.input.manifests), snakemake.params.augment, settings, snakemake.output[0], snakemake.params.work_dir)
