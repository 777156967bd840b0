"""Snakemake entry point: the demo benchmark in Dynamic-SUPERB's format (see destaflow.evaluation.demo_benchmark)."""

from destaflow.evaluation.demo_benchmark import build_demo_benchmark
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
build_demo_benchmark(list(snakemake.input.manifests), snakemake.output[0], snakemake.params.tasks, snakemake.params.seed, snakemake.params.room,
                     per_speaker=snakemake.params.per_speaker,
                     second_synthesizer_tasks=snakemake.params.second_synthesizer_tasks)
