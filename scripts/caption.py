"""Snakemake entry point: caption one shard of one corpus (see destaflow.captioning)."""

from destaflow.captioning import caption_shard
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
caption_shard(
    [snakemake.input.seeds],
    int(snakemake.wildcards.shard),
    snakemake.params.shards,
    snakemake.params.settings,
    snakemake.input.llm,
    snakemake.output.captions,
    snakemake.output.quarantine,
    dtype=snakemake.params.dtype,
)
