"""Snakemake entry point: attribute extraction for one corpus (see destaflow.attributes)."""

from destaflow.attributes.stage import run_stage
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
run_stage(
    snakemake.input.manifest,
    snakemake.params.extractors,
    snakemake.params.settings,
    snakemake.params.models,
    snakemake.output.manifest,
    snakemake.output.quarantine,
    work_dir=snakemake.params.work_dir,
)
