"""Snakemake entry point: the demo's constrained instructions (see destaflow.evaluation.ifeval)."""

from destaflow.evaluation.ifeval import build_demo_set
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
build_demo_set(list(snakemake.input.seeds), snakemake.output[0], snakemake.params.seed, snakemake.params.per_speaker)
