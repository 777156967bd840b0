"""Snakemake entry point: the run's deviations from the paper's settings (see destaflow.deviations)."""

from destaflow.deviations import deviations_report
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
deviations_report(dict(snakemake.params.ours), snakemake.input.paper, snakemake.output[0])
