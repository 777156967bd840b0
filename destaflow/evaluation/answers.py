"""Answers of each evaluated system to benchmark items, as one table per system.

Systems (Table I's rows):
    speech_lm   the trained speech LM (adapter folder): audio in, answer out
    asr_llm     cascade: the backbone Whisper's transcript in the audio turn, the text LLM answers
    specialist_llm  cascade: the seed transcript the attribute stage wrote from the audio (ASR, gender model,
                DSP; destaflow.evaluation.specialists) in the audio turn, the text LLM answers
    seed_llm    the text LLM reading each input's true seed transcript (exact labels; only benchmarks this workflow
                builds carry one): the ceiling of what any adapter can reach with this backbone
    text_llm    the text LLM with the instruction alone (no audio at all): the floor any audio use must beat

The cascades use the same chat template as training (destaflow.template), so the LLM sees the transcript
where the speech LM sees audio embeddings + transcript. Decoding is greedy everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import polars as pl
from tqdm import tqdm

from destaflow.audio import TARGET_RATE, AudioError
from destaflow.evaluation.dynamic_superb import Item, input_keys, model_inputs
from destaflow.runtime import chunks
from destaflow.template import conversation, render

log = logging.getLogger(__name__)

SYSTEMS = ("speech_lm", "openai", "asr_llm", "specialist_llm", "seed_llm", "text_llm")
SPEECH_MODELS = ("speech_lm", "openai")  # answer from the audio itself: the workflow's adapter, or a served model
ANSWER_SCHEMA = {
    "id": pl.String, "instance": pl.String, "dimension": pl.String, "instruction": pl.String, "label": pl.String,
    "options": pl.List(pl.String), "answer": pl.String, "transcript": pl.String, "error": pl.String,
    "system": pl.String, "two_audio": pl.String,
}


def answer_table(items: Sequence[Item], answers: Sequence[str | None], transcripts: Sequence[str | None],
                 errors: Sequence[str | None], system: str, two_audio: str) -> pl.DataFrame:
    rows = [
        {"id": item.id, "instance": item.instance, "dimension": item.dimension, "instruction": item.instruction,
         "label": item.label, "options": item.options, "answer": answer, "transcript": transcript, "error": error,
         "system": system, "two_audio": two_audio}
        for item, answer, transcript, error in zip(items, answers, transcripts, errors, strict=True)
    ]
    return pl.DataFrame(rows, schema=ANSWER_SCHEMA)


def decode_or_reason(item: Item, two_audio: str) -> tuple[list[np.ndarray] | None, str | None]:
    """The item's model inputs, or None and the reason when its audio cannot be decoded (it stays, unanswered)."""
    try:
        return model_inputs(item, two_audio), None
    except AudioError as error:
        log.warning("item %s: %s", item.id, error)
        return None, f"audio: {error}"


def grouped_by_audio(items: Sequence[Item], two_audio: str) -> list[int]:
    """Item indices with items on the same audio next to each other, so a batch encodes each clip once."""
    return sorted(range(len(items)), key=lambda i: input_keys(items[i], two_audio))


# ---- the speech LM ------------------------------------------------------------------------------------


def speech_model(adapter_dir: str | None, endpoint: dict | None = None, dtype: str = "auto"):
    """What answers from the audio: a served model (`endpoint`, kind openai) or the adapter loaded here, its
    backbones in `dtype` (destaflow.runtime.backbone_dtype), as in training and in the corpus pass that made the
    training cache's taps and transcripts."""
    if endpoint:
        from destaflow.evaluation.served import ServedModel

        return ServedModel(endpoint)
    from destaflow.inference import DestaModel
    from destaflow.runtime import backbone_dtype

    return DestaModel.from_pretrained(adapter_dir, dtype=backbone_dtype(dtype))


def speech_lm_answers(model, items: Sequence[Item], two_audio: str, batch_size: int, max_new_tokens: int) -> pl.DataFrame:
    """`model`: anything with DestaModel's batch_chat (speech_model's); a None answer keeps its item, unanswered."""
    answers: list[str | None] = [None] * len(items)
    errors: list[str | None] = [None] * len(items)
    with tqdm(total=len(items), desc="speech LM answers", unit="item") as progress:
        for group in chunks(grouped_by_audio(items, two_audio), batch_size):
            conversations, answerable = [], []
            for i in group:
                audios, errors[i] = decode_or_reason(items[i], two_audio)
                if audios is not None:
                    answerable.append(i)
                    conversations.append([{"role": "audio", "content": (a, TARGET_RATE)} for a in audios] + [{"role": "user", "content": items[i].instruction}])
            if conversations:
                for i, answer in zip(answerable, model.batch_chat(conversations, batch_size=len(conversations), max_new_tokens=max_new_tokens)):
                    answers[i] = answer
                    errors[i] = None if answer is not None else "no answer from the served model (reason in the log)"
            progress.update(len(group))
    return answer_table(items, answers, [None] * len(items), errors, "speech_lm", two_audio)


def speech_lm_chat(model, audio_paths: Sequence[str], instructions: Sequence[str], batch_size: int,
                   max_new_tokens: int) -> list[str | None]:
    """One answer per (audio file, instruction), as speech_lm_answers gives them; None where the file cannot be read."""
    items = [Item(id=str(i), instance="", dimension="", instruction=instruction, label="", options=None, audios=[{"path": path}])
             for i, (path, instruction) in enumerate(zip(audio_paths, instructions, strict=True))]
    return speech_lm_answers(model, items, "native", batch_size, max_new_tokens)["answer"].to_list()


# ---- cascades -----------------------------------------------------------------------------------------


def transcripts_of(items: Sequence[Item], two_audio: str, whisper_dir: str, batch_size: int) -> tuple[list[list[str] | None], list[str | None]]:
    """Whisper transcripts of every item's inputs (each distinct audio transcribed once), or the decoding error."""
    from destaflow.asr import load_whisper, transcribe

    processor, model = load_whisper(whisper_dir)
    texts: dict[str, str] = {}
    transcripts: list[list[str] | None] = [None] * len(items)
    errors: list[str | None] = [None] * len(items)
    with tqdm(total=len(items), desc="cascade transcripts", unit="item") as progress:
        for group in chunks(grouped_by_audio(items, two_audio), batch_size):
            pending: dict[str, np.ndarray] = {}
            for i in group:
                audios, errors[i] = decode_or_reason(items[i], two_audio)
                if audios is not None:
                    pending.update((k, a) for k, a in zip(input_keys(items[i], two_audio), audios) if k not in texts)
            texts.update(zip(pending, transcribe(list(pending.values()), processor, model, batch_size)))
            for i in group:
                if errors[i] is None:
                    transcripts[i] = [texts[k] for k in input_keys(items[i], two_audio)]
            progress.update(len(group))
    return transcripts, errors


def cascade_prompt(tokenizer, instruction: str, transcripts: list[str] | None) -> str:
    """The training template with each audio turn carrying text only; no audio turn for the text-only LLM."""
    return render(tokenizer, conversation([text or "(no speech recognised)" for text in transcripts or []], instruction))


def llm_answers(llm_dir: str, prompts: Sequence[str], batch_size: int, max_new_tokens: int, llm_settings: dict | None = None,
                share_keys: Sequence | None = None, dtype: str = "auto") -> list[str | None]:
    """Greedy answers of the text LLM (in-process, or the caption stage's OpenAI-compatible endpoint settings);
    prompts with the same share key (about the same audio, next to each other) read their common prefix once."""
    from destaflow.captioning.backends import GenerationFailed, build_backend
    from destaflow.captioning.settings import CaptionSettings

    backend = build_backend(llm_dir, CaptionSettings.of(llm_settings).greedy(max_new_tokens), dtype)
    keys = list(share_keys) if share_keys is not None else [None] * len(prompts)
    answers: list[str | None] = []
    try:
        for group in tqdm(list(chunks(list(range(len(prompts))), batch_size)), desc="text LLM answers", unit="batch"):
            outcomes = backend.generate([prompts[i] for i in group], 0, share_keys=None if share_keys is None else [keys[i] for i in group])
            answers += [None if isinstance(o, GenerationFailed) else o.text.strip() for o in outcomes]
    finally:
        backend.close()
    return answers


def seeds_of(items: Sequence[Item], two_audio: str, seeds: dict[str, str]) -> tuple[list[list[str] | None], list[str | None]]:
    """Each item's seed transcripts by input key; an input the attribute stage quarantined has none."""
    transcripts: list[list[str] | None] = []
    errors: list[str | None] = []
    for item in items:
        keys = input_keys(item, two_audio)
        missing = [k for k in keys if k not in seeds]
        transcripts.append(None if missing else [seeds[k] for k in keys])
        errors.append(f"no seed transcript for {len(missing)} input(s) (unreadable or quarantined)" if missing else None)
    return transcripts, errors


def true_seeds_of(items: Sequence[Item], two_audio: str, settings: dict | None) -> tuple[list[list[str] | None], list[str | None]]:
    """Each item's true seed transcripts, one per model input: a concatenated pair's two describe its one audio."""
    from destaflow.evaluation.demo_benchmark import true_seed

    if not any(item.truths for item in items):
        raise ValueError("seed_llm answers from what each input truly is, which only the benchmarks this workflow "
                         "builds record (the demo benchmark); leave it out of evaluation.systems for others")
    if settings is None:
        raise ValueError("seed_llm needs the seed settings ({attributes, style, bins}) to write its seed transcripts")
    transcripts: list[list[str] | None] = []
    for item in items:
        seeds = [true_seed(truth, settings) for truth in item.truths] if item.truths else None
        if seeds and len(input_keys(item, two_audio)) != len(seeds):
            seeds = [" ".join(seeds)]
        transcripts.append(seeds)
    return transcripts, [None if item.truths else "no true labels for this item" for item in items]


def cascade_answers(system: str, llm_dir: str, items: Sequence[Item], two_audio: str, batch_size: int, max_new_tokens: int,
                    whisper_dir: str | None = None, llm_settings: dict | None = None, seeds: dict[str, str] | None = None,
                    seed_settings: dict | None = None, dtype: str = "auto") -> pl.DataFrame:
    """`seeds` (specialist_llm): seed transcript by input key; `seed_settings` (seed_llm): how the true seed
    transcripts are written (destaflow.evaluation.demo_benchmark.true_seed); `dtype`: the LLM's."""
    from destaflow.captioning.backends import load_tokenizer

    if system not in ("asr_llm", "specialist_llm", "seed_llm", "text_llm"):
        raise ValueError(f"unknown cascade system {system!r}")
    if system == "asr_llm":
        transcripts, errors = transcripts_of(items, two_audio, whisper_dir, batch_size)
    elif system == "specialist_llm":
        transcripts, errors = seeds_of(items, two_audio, seeds or {})
    elif system == "seed_llm":
        transcripts, errors = true_seeds_of(items, two_audio, seed_settings)
    else:  # the text LLM never hears the audio, so no item is lost to an unreadable clip
        transcripts, errors = [[] for _ in items], [None] * len(items)
    tokenizer = load_tokenizer(llm_dir)
    answerable = [i for i in grouped_by_audio(items, two_audio) if transcripts[i] is not None]
    prompts = [cascade_prompt(tokenizer, items[i].instruction, transcripts[i]) for i in answerable]
    # the text-only LLM's prompts carry nothing of the audio: no prefix to share beyond the system turn
    keys = None if system == "text_llm" else [tuple(input_keys(items[i], two_audio)) for i in answerable]
    answers: list[str | None] = [None] * len(items)
    for i, answer in zip(answerable, llm_answers(llm_dir, prompts, batch_size, max_new_tokens, llm_settings, keys, dtype)):
        answers[i] = answer
        if answer is None:
            errors[i] = "llm: generation failed"
    shown = [" | ".join(t) if t else None for t in transcripts]
    return answer_table(items, answers, shown, errors, system, two_audio)
