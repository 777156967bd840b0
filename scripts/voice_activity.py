"""Snakemake entry point: voice activity of one corpus (see destaflow.vad)."""

from destaflow.logs import log_to_file
from destaflow.vad import detect_voice_activity

log_to_file(snakemake.log[0])
settings = {**snakemake.params.settings, "threads": snakemake.threads}  # threads follow --cores without changing params
detect_voice_activity(snakemake.input.manifest, snakemake.output.table, snakemake.output.quarantine, settings)
