"""The scoring stage's entry points: answer a benchmark with one system, score the answers, build the tables."""

from __future__ import annotations

import logging
from contextlib import nullcontext

import polars as pl

from destaflow.atomic import atomic_path
from destaflow.evaluation import ifeval
from destaflow.evaluation.answers import SPEECH_MODELS, SYSTEMS, cascade_answers, cascade_prompt, llm_answers, speech_lm_answers, speech_lm_chat, speech_model
from destaflow.evaluation.dynamic_superb import Item, load_benchmark
from destaflow.evaluation.dynamic_superb_instances import INSTANCES
from destaflow.evaluation.air_bench import load_chat, score_chat
from destaflow.evaluation.judges import CHAIN_OF_THOUGHT, YES_NO, JudgeCache, build_judge
from destaflow.evaluation.scoring import score_items, summarise
from destaflow.evaluation.settings import AnswerSettings, BenchmarkSettings, ChatSettings, IfevalSettings, JudgeSettings

log = logging.getLogger(__name__)


def use_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def answer_benchmark(benchmark_dir: str, system: str, kind: str, out_path: str, settings: BenchmarkSettings | dict,
                     adapter_dir: str | None = None, whisper_dir: str | None = None, llm_dir: str | None = None,
                     llm_settings: dict | None = None, threads: int | None = None, seeds_path: str | None = None,
                     seed_settings: dict | None = None, endpoint: dict | None = None, dtype: str = "auto") -> pl.DataFrame:
    """Every (subsampled) item of the benchmark with the system's answer, or the reason it has none.

    `seeds_path` (specialist_llm): the seed manifest of the benchmark's inputs (destaflow.evaluation.specialists);
    `seed_settings` (seed_llm): how its true seed transcripts are written (destaflow.config.true_seed_settings);
    `endpoint` (openai): the served model's base_url, model and api_key_env (destaflow.evaluation.served);
    `dtype`: the backbones' (train.backbone_dtype).
    """
    use_threads(threads)
    settings = BenchmarkSettings.of(settings)
    items = load_benchmark(benchmark_dir, settings.instances, settings.max_per_instance, settings.seed)
    log.info("%d items from %s (max %s per instance, seed %d)", len(items), benchmark_dir, settings.max_per_instance, settings.seed)
    table = answer_items(items, system, kind, settings, adapter_dir, whisper_dir, llm_dir, llm_settings, seeds_path, seed_settings, endpoint, dtype)
    with atomic_path(out_path) as tmp:
        table.write_parquet(tmp)
    return table


def answer_items(items: list[Item], system: str, kind: str, settings: AnswerSettings | dict, adapter_dir: str | None, whisper_dir: str | None,
                 llm_dir: str | None, llm_settings: dict | None, seeds_path: str | None = None,
                 seed_settings: dict | None = None, endpoint: dict | None = None, dtype: str = "auto") -> pl.DataFrame:
    """One answer row per item (answer null and `error` set where it got none)."""
    if kind not in SYSTEMS:
        raise ValueError(f"unknown system kind {kind!r}; known: {', '.join(SYSTEMS)}")
    settings = AnswerSettings.of(settings)
    common = {"two_audio": settings.two_audio, "batch_size": settings.batch_size, "max_new_tokens": settings.max_new_tokens}
    if kind in SPEECH_MODELS:
        table = speech_lm_answers(speech_model(adapter_dir, endpoint if kind == "openai" else None, dtype), items, **common)
    else:
        seeds = dict(pl.read_parquet(seeds_path, columns=["id", "seed"]).iter_rows()) if seeds_path else None
        table = cascade_answers(kind, llm_dir, items, whisper_dir=whisper_dir, llm_settings=llm_settings, seeds=seeds,
                                seed_settings=seed_settings, dtype=dtype, **common)
    table = table.with_columns(pl.lit(system).alias("system"))
    if table.height != len(items):  # every item keeps a row, answered or not
        raise RuntimeError(f"lost items: {len(items)} in, {table.height} answer rows")
    unanswered = table.filter(pl.col("answer").is_null()).height
    log.info("%s: %d items, %d answered, %d without an answer (reason in `error`)", system, table.height, table.height - unanswered, unanswered)
    return table


def score_benchmark(answers_path: str, scored_path: str, summary_path: str, judge_settings: JudgeSettings | dict, cache_path: str,
                    dataset: str, max_per_instance: int | None) -> pl.DataFrame:
    answers = pl.read_parquet(answers_path)
    judge = build_judge(judge_settings)
    with JudgeCache(cache_path) if judge is not None else nullcontext() as cache:
        scored, counts = score_items(answers, judge, cache)
    if judge is not None:
        log.info("judge %s: %d calls, %d from cache, %d failed", judge.model, counts.calls, counts.cached, counts.failures)
    revisions = {i: INSTANCES[i].revision for i in answers["instance"].unique() if i in INSTANCES}
    provenance = {"judge_model": judge.model if judge else None, "prompt_id": YES_NO.id, "dataset": dataset,
                  "revision": None, "max_per_instance": max_per_instance}
    summary = summarise(scored, provenance).with_columns(
        pl.col("instance").replace_strict(revisions, default=None, return_dtype=pl.String).alias("revision")
    )
    with atomic_path(scored_path) as tmp:
        scored.write_parquet(tmp)
    with atomic_path(summary_path) as tmp:
        summary.write_csv(tmp)
    return summary


# ---- instruction-following retention (Speech-IFEval protocol) ------------------------------------------


def ifeval_items(path: str) -> pl.DataFrame:
    """The demo set (a parquet the workflow builds) or a local Speech-IFEval copy (a folder)."""
    return pl.read_parquet(path) if path.endswith(".parquet") else ifeval.load_speech_ifeval(path)


def answer_ifeval(items_path: str, system: str, kind: str, out_path: str, settings: IfevalSettings | dict, adapter_dir: str | None = None,
                  llm_dir: str | None = None, llm_settings: dict | None = None, threads: int | None = None,
                  endpoint: dict | None = None, dtype: str = "auto") -> pl.DataFrame:
    """The speech LM answers from the audio; the text reference (kind text_llm) from the seed transcript."""
    use_threads(threads)
    items = ifeval_items(items_path)
    settings = IfevalSettings.of(settings)
    batch, max_new = settings.batch_size, settings.max_new_tokens
    if kind in SPEECH_MODELS:
        responses = speech_lm_chat(speech_model(adapter_dir, endpoint if kind == "openai" else None, dtype), items["audio_filepath"].to_list(), items["instruction"].to_list(), batch, max_new)
    elif kind == "text_llm":
        from destaflow.captioning.backends import load_tokenizer

        tokenizer = load_tokenizer(llm_dir)
        prompts = [cascade_prompt(tokenizer, r["instruction"], [r["textual_audio"]]) for r in items.iter_rows(named=True)]
        responses = llm_answers(llm_dir, prompts, batch, max_new, llm_settings, dtype=dtype)
    else:
        raise ValueError(f"instruction following is measured for speech_lm, openai and text_llm, not {kind!r}")
    scored = ifeval.score(items.with_columns(pl.Series("response", responses, dtype=pl.String), pl.lit(system).alias("system")))
    log.info("%s follows %d of %d constrained instructions (%d could not be checked here)", system,
             scored["follows"].sum(), scored.height, scored["follows"].null_count())
    with atomic_path(out_path) as tmp:
        scored.write_parquet(tmp)
    return scored


def ifeval_report(answer_paths: dict[str, str], reference: str, out_path: str, judge_settings: JudgeSettings | dict | None = None,
                  cache_path: str | None = None) -> pl.DataFrame:
    """One row per speech system: its following rate, the text reference's, their ratio and the forgetting delta.
    Chain-of-thought items are judged here when a judge is configured (and stay unchecked otherwise)."""
    answers = {system: pl.read_parquet(path) for system, path in answer_paths.items()}
    cot = any((table["metric"] == ifeval.COT_METRIC).any() for table in answers.values())
    judge = build_judge(judge_settings) if cot else None
    if judge is not None:
        with JudgeCache(cache_path) as cache:
            for system, table in answers.items():
                answers[system], counts = ifeval.judge_chain_of_thought(table, judge, cache)
                log.info("%s chain-of-thought judged by %s: %d calls, %d from cache, %d failed", system, judge.model,
                         counts.calls, counts.cached, counts.failures)
    elif cot:
        log.warning("chain-of-thought items stay unchecked: no judge configured (evaluation.judge.kind is none)")
    text = answers[reference]
    rows = [{"system": system, "reference": reference, **ifeval.retention(table, text),
             "judge_model": judge.model if judge else None, "cot_prompt_id": CHAIN_OF_THOUGHT.id if judge else None}
            for system, table in answers.items() if system != reference]
    table = pl.DataFrame(rows)
    with atomic_path(out_path) as tmp:
        table.write_csv(tmp, float_precision=4)
    log.info("instruction-following retention:\n%s", table)
    return table


# ---- open questions (AIR-Bench-Chat format), judged pairwise against the reference answer ------------------


def chat_as_items(rows: pl.DataFrame) -> list[Item]:
    return [Item(id=r["uniq_id"], instance=f"{r['task_name']}_{r['dataset_name']}", dimension="chat", instruction=r["question"],
                 label=r["answer_gt"], options=None, audios=[{"path": r["audio_path"]}]) for r in rows.iter_rows(named=True)]


def answer_chat(chat_dir: str, system: str, kind: str, out_path: str, settings: ChatSettings | dict, adapter_dir: str | None = None,
                whisper_dir: str | None = None, llm_dir: str | None = None, llm_settings: dict | None = None,
                threads: int | None = None, endpoint: dict | None = None, dtype: str = "auto") -> pl.DataFrame:
    """The meta rows with each system's free answer in `response` (null, with `error`, where it has none)."""
    use_threads(threads)
    if kind == "specialist_llm":
        raise ValueError("the specialized-models cascade answers Dynamic-SUPERB-format benchmarks only")
    settings = ChatSettings.of(settings)
    rows = load_chat(chat_dir, settings.subset, settings.max_items, settings.seed)
    if rows["uniq_id"].is_duplicated().any():
        raise ValueError(f"{chat_dir}: uniq_id is not unique")
    table = answer_items(chat_as_items(rows), system, kind, settings.answering(), adapter_dir, whisper_dir, llm_dir, llm_settings,
                         endpoint=endpoint, dtype=dtype)
    answers = rows.join(table.select(pl.col("id").alias("uniq_id"), pl.col("answer").alias("response"), "transcript", "error", "system"),
                        on="uniq_id", how="left", maintain_order="left")
    with atomic_path(out_path) as tmp:
        answers.write_parquet(tmp)
    return answers


def score_chat_answers(answers_path: str, scored_path: str, summary_path: str, judge_settings: JudgeSettings | dict, cache_path: str, dataset: str) -> dict:
    judge = build_judge(judge_settings)
    if judge is None:
        raise ValueError("open questions are scored by a judge only: set evaluation.judge.kind to openai or local")
    answers = pl.read_parquet(answers_path)
    with JudgeCache(cache_path) as cache:
        scored, summary = score_chat(answers, judge, cache)
    summary = {"system": answers["system"][0] if answers.height else None, **summary, "dataset": dataset}
    log.info("%s", summary)
    with atomic_path(scored_path) as tmp:
        scored.write_parquet(tmp)
    with atomic_path(summary_path) as tmp:
        pl.DataFrame([summary]).write_csv(tmp)
    return summary


def chat_report(summary_paths: list[str], out_path: str) -> pl.DataFrame:
    table = pl.concat([pl.read_csv(path) for path in summary_paths], how="diagonal_relaxed")
    with atomic_path(out_path) as tmp:
        table.write_csv(tmp, float_precision=3)
    return table
