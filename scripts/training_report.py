"""Snakemake entry point: training curves and the validation-loss table (see destaflow.report)."""

from destaflow.logs import log_to_file
from destaflow.report import training_report

log_to_file(snakemake.log[0])
training_report(dict(snakemake.input.items()), snakemake.output.figure, snakemake.output.table)
