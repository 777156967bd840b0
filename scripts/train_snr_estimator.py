"""Snakemake entry point: train the learned SNR estimator (see destaflow.attributes.snr_model)."""

from destaflow.attributes.snr_model import train_snr_estimator
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
# threads follow --cores without changing params
train_snr_estimator(list(snakemake.input.manifests), snakemake.params.augment, snakemake.params.settings, snakemake.output[0], snakemake.threads)
