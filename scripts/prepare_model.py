"""Snakemake entry point: put one backbone into resources/models/<role>/ (see destaflow.models.prepare)."""

from destaflow.logs import log_to_file
from destaflow.models.prepare import prepare_model

log_to_file(snakemake.log[0])
prepare_model(snakemake.wildcards.role, snakemake.params.source, snakemake.output[0])
