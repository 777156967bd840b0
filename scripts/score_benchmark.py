"""Snakemake entry point: rule (and judge) scores of one system's answers (see destaflow.evaluation.stage)."""

from destaflow.evaluation.stage import score_benchmark
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
score_benchmark(
    snakemake.input[0],
    snakemake.output.scored,
    snakemake.output.summary,
    snakemake.params.judge,
    snakemake.params.cache,
    dataset=snakemake.wildcards.benchmark,
    max_per_instance=snakemake.params.max_per_instance,
)
