"""Snakemake entry point: one Whisper pass over a corpus, transcripts and encoder taps (see destaflow.training.cache)."""

from destaflow.logs import log_to_file
from destaflow.models.whisper_taps import tap_layers_for
from destaflow.training.cache import build_encoder_cache

log_to_file(snakemake.log[0])
build_encoder_cache(
    [snakemake.input.clips],
    snakemake.input.whisper,
    tap_layers_for(snakemake.input.whisper, snakemake.params.tap_layers),
    snakemake.output.cache,
    snakemake.params.batch_size,
    trim=snakemake.params.trim,
    transcripts_path=snakemake.output.transcripts,
    quarantine_path=snakemake.output.quarantine,
)
