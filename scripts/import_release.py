"""Snakemake entry point: the authors' released adapter onto the prepared backbones (see destaflow.models.desta_release)."""

from destaflow.logs import log_to_file
from destaflow.models.desta_release import prepare_release

log_to_file(snakemake.log[0])
prepare_release(snakemake.params.source, snakemake.output[0], snakemake.input.whisper, snakemake.input.llm, snakemake.params.taps)
