"""Snakemake entry point: the heavy jobs' benchmark records as one table (see destaflow.performance)."""

from destaflow.logs import log_to_file
from destaflow.performance import performance_table

log_to_file(snakemake.log[0])
performance_table(snakemake.params.records, snakemake.output[0])
