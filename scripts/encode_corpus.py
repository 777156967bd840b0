"""Snakemake entry point: one Whisper pass over a corpus, transcripts and encoder taps (see destaflow.training.cache)."""

from destaflow.logs import log_to_file
from destaflow.models.whisper_taps import tap_layers_for
from destaflow.training.cache import encode_corpus

log_to_file(snakemake.log[0])
encode_corpus(
    snakemake.input.clips,
    snakemake.input.whisper,
    tap_layers_for(snakemake.input.whisper, snakemake.params.tap_layers),
    snakemake.params.batch_size,
    snakemake.params.trim,
    snakemake.params.work_dir,
    snakemake.output.cache,
    snakemake.output.transcripts,
    snakemake.output.quarantine,
    dtype=snakemake.params.dtype,
)
