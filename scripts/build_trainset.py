"""Snakemake entry point: build the caption training set (see destaflow.trainset)."""

from destaflow.logs import log_to_file
from destaflow.trainset import build_trainset

log_to_file(snakemake.log[0])
build_trainset(list(snakemake.input.captions), list(snakemake.input.seeds), list(snakemake.input.transcripts), snakemake.params.settings, snakemake.params.out_dir)
