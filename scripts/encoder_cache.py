"""Snakemake entry point: cache the frozen Whisper encoder's tapped states (see destaflow.training.cache)."""

from destaflow.logs import log_to_file
from destaflow.models.whisper_taps import tap_layers_for
from destaflow.training.cache import build_encoder_cache

log_to_file(snakemake.log[0])
build_encoder_cache(
    list(snakemake.input.splits),
    snakemake.input.whisper,
    tap_layers_for(snakemake.input.whisper, snakemake.params.tap_layers),
    snakemake.output[0],
    snakemake.params.batch_size,
    trim=snakemake.params.trim,
)
