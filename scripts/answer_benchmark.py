"""Snakemake entry point: one system's answers to one benchmark (see destaflow.evaluation.stage)."""

from destaflow.evaluation.stage import answer_benchmark
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
adapter = snakemake.input.get("adapter")
answer_benchmark(
    snakemake.input.benchmark,
    snakemake.wildcards.system,
    snakemake.params.kind,
    snakemake.output[0],
    snakemake.params.settings,
    adapter_dir=f"{adapter}/adapter" if adapter else None,
    whisper_dir=snakemake.input.get("whisper"),
    llm_dir=snakemake.input.get("llm"),
    llm_settings=snakemake.params.llm_settings,
    threads=snakemake.threads,
    endpoint=snakemake.params.endpoint,
    dtype=snakemake.params.dtype,
    seeds_path=snakemake.input.get("seeds"),
    seed_settings=snakemake.params.seed_settings,
)
