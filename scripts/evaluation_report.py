"""Snakemake entry point: dimension and instance tables with the paper's numbers (see destaflow.evaluation.tables)."""

from destaflow.evaluation.tables import evaluation_tables
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
evaluation_tables(list(snakemake.input), snakemake.params.metric, snakemake.output.dimensions, snakemake.output.instances, snakemake.output.figure)
