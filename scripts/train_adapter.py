"""Snakemake entry point: train the connector, one process per GPU the job holds (see destaflow.training)."""

from destaflow.logs import log_to_file
from destaflow.training.launch import train_stage

log_to_file(snakemake.log[0])
train_stage(
    snakemake.params.settings,
    snakemake.input.whisper,
    snakemake.input.llm,
    snakemake.input.train,
    snakemake.input.valid,
    snakemake.input.get("cache"),
    snakemake.params.run_dir,
    snakemake.output[0],
    num_processes=max(1, int(snakemake.resources.get("gpu", 0))),
)
