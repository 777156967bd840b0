"""Snakemake entry point: the judge's pairwise scores of one system's open answers (see destaflow.evaluation.stage)."""

from destaflow.evaluation.stage import score_chat_answers
from destaflow.logs import log_to_file

log_to_file(snakemake.log[0])
score_chat_answers(snakemake.input[0], snakemake.output.scored, snakemake.output.summary, snakemake.params.judge, snakemake.params.cache, snakemake.params.dataset)
