"""Snakemake entry point: instruction-following retention table (see destaflow.evaluation.stage)."""

from destaflow.evaluation.stage import ifeval_report
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
ifeval_report(dict(snakemake.input.items()), snakemake.params.reference, snakemake.output[0], snakemake.params.judge,
              snakemake.params.cache)
