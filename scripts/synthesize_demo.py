"""Snakemake entry point: synthesize the demo corpus (see destaflow.corpora.demo)."""

from destaflow.corpora.demo import synthesize_corpus
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
synthesize_corpus(snakemake.params.settings, snakemake.output.audio, snakemake.output.manifest, snakemake.threads)
