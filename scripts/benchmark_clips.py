"""Snakemake entry point: a benchmark's distinct inputs as a label-free corpus (see destaflow.evaluation.specialists)."""

from destaflow.evaluation.specialists import export_benchmark_clips
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
export_benchmark_clips(
    snakemake.input.benchmark,
    snakemake.params.settings,
    snakemake.params.corpus,
    snakemake.output.manifest,
    snakemake.output.audio,
    snakemake.output.quarantine,
)
