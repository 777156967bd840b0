"""Snakemake entry point: the report's first table (see destaflow.evaluation.tables.headline_table)."""

from destaflow.evaluation.tables import headline_table
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
headline_table(list(snakemake.input.scores), snakemake.params.metric, snakemake.params.instances,
               snakemake.input.get("retention"), snakemake.output[0])
