"""Snakemake entry point: read one corpus in its distributed layout into a manifest (see destaflow.corpora)."""

from destaflow.corpora.registry import write_corpus
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
write_corpus(snakemake.wildcards.corpus, snakemake.params.settings, snakemake.output.manifest, snakemake.output.quarantine)
