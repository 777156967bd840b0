"""Snakemake entry point: the demo's open-question set in AIR-Bench-Chat's format (see destaflow.evaluation.chat_demo)."""

from destaflow.evaluation.chat_demo import build_chat_demo
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
build_chat_demo(list(snakemake.input.seeds), snakemake.output[0], snakemake.params.seed, snakemake.params.per_speaker)
