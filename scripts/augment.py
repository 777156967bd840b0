"""Snakemake entry point: build the noise/reverb corpus (see destaflow.augmentation)."""

from destaflow.augmentation import augment_corpus
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
augment_corpus(list(snakemake.input), snakemake.params.settings, snakemake.output.audio, snakemake.output.manifest, snakemake.output.quarantine)
