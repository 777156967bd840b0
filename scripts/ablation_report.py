"""Snakemake entry point: Table III from the ablations' scores (see destaflow.evaluation.tables)."""

from destaflow.evaluation.tables import ablation_table
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
ablation_table(list(snakemake.input), snakemake.params.metric, snakemake.output[0])
