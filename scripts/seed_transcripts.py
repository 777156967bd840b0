"""Snakemake entry point: write every clip of one corpus as a seed transcript (see destaflow.seed)."""

from destaflow import manifest
from destaflow.logs import log_to_file
from destaflow.seed import add_seeds

log_to_file(snakemake.log[0])
table = manifest.read(snakemake.input[0], "attributes")
manifest.write(add_seeds(table, snakemake.params.attributes, snakemake.params.style), snakemake.output[0], "seed")
