"""Snakemake entry point: the open-question scores of every system in one table (see destaflow.evaluation.stage)."""

from destaflow.evaluation.stage import chat_report
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
chat_report(list(snakemake.input), snakemake.output[0])
