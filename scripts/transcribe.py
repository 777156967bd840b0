"""Snakemake entry point: the backbone Whisper's transcript of every clip of one corpus (see destaflow.transcribe)."""

from destaflow.logs import log_to_file
from destaflow.transcribe import transcribe_corpus

log_to_file(snakemake.log[0])
transcribe_corpus(snakemake.input.clips, snakemake.input.whisper, snakemake.params.batch_size, snakemake.output.transcripts, snakemake.output.quarantine)
