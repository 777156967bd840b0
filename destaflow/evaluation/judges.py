"""LLM judges as plug-ins: an OpenAI-compatible chat endpoint, a local Hugging Face model, or none.

Every call is deterministic (temperature 0) and cached on disk, keyed by (judge model, prompt id, rendered
messages, parameters), so rescoring costs nothing and a killed run resumes where it stopped. Verdicts are
parsed strictly; a reply that does not parse is a counted failure, never a guess.

Prompts are versioned templates (`PROMPTS`): a score records the prompt id with the judge model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from destaflow.evaluation.settings import JudgeSettings
from destaflow.captioning.backends import RequestFailed, auth_headers, post_with_retries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prompt:
    id: str  # name@version; change the version whenever the text changes
    system: str | None
    user: str  # str.format template


# The verdict prompt DeSTA2's authors published with Speech-IFEval (judge: gpt-4o-2024-11-20).
YES_NO = Prompt(
    "desta-yes-no@1",
    "You will be given a question, a corresponding correct answer and a response from a model. \n"
    'Model\'s Response is a reply to the Question. Your task is to judge if "Model\'s Response" aligns with the '
    '"Ground Truth Answer" based on the "Question". \n'
    "Please strictly follow the guidelines below:\n"
    '- Answer with the format "Result: <YES or NO>" at the end.\n'
    '- Output "YES" if the response aligns with the ground truth answer; output "NO" if the response does not '
    "match the ground truth answer.",
    "Question: {question}\nGround Truth Answer: {label}\nModel's Response: {response}",
)

# AIR-Bench-Chat's official pairwise rating prompt (judge: gpt-4-0125-preview), one user message.
AIR_BENCH_CHAT = Prompt(
    "air-bench-chat@1",
    None,
    "You are a helpful and precise assistant for checking the quality of the answer.\n"
    "[Detailed Audio Description]\n{meta_info}\n"
    "[Question]\n{question}\n"
    "[The Start of Assistant 1s Answer]\n{answer_1}\n[The End of Assistant 1s Answer]\n"
    "[The Start of Assistant 2s Answer]\n{answer_2}\n[The End of Assistant 2s Answer]\n"
    "[System]\n"
    "We would like to request your feedback on the performance of two AI assistants in response to the user "
    "question and audio description displayed above. AI assistants are provided with detailed audio "
    "descriptions and questions.\n"
    "Please rate the helpfulness, relevance, accuracy, and comprehensiveness of their responses. Each "
    "assistant receives an overall score on a scale of 1 to 10, where a higher score indicates better overall "
    "performance. Please output a single line containing only two values indicating the scores for Assistant "
    "1 and 2, respectively. The two scores are separated by a space.",
)

# Speech-IFEval judges its chain-of-thought set with an LLM; its prompt is not among our references, so this
# wording is the project's own (a different judge prompt can move the rate: compare like with like).
CHAIN_OF_THOUGHT = Prompt(
    "cot-followed@1",
    "You check whether a model's response obeys an instruction to reason step by step.\n"
    "Read the instruction and the response, then decide:\n"
    "- YES if the response works through the question in explicit steps (several reasoning steps written out) "
    "and then states an answer.\n"
    "- NO if it gives only an answer, only restates the question, or stops before reaching an answer.\n"
    "Whether the answer is correct does not matter. End with the line \"Result: <YES or NO>\".",
    "Instruction: {question}\nModel's Response: {response}",
)

PROMPTS = {prompt.id: prompt for prompt in (YES_NO, AIR_BENCH_CHAT, CHAIN_OF_THOUGHT)}


def messages_for(prompt: Prompt, **fields: Any) -> list[dict[str, str]]:
    system = [{"role": "system", "content": prompt.system}] if prompt.system else []
    return system + [{"role": "user", "content": prompt.user.format(**fields)}]


# ---- parsing ------------------------------------------------------------------------------------------

_RESULT = re.compile(r"result\s*:\s*\**\s*(yes|no)\b", re.IGNORECASE)
_TWO_SCORES = re.compile(r"^\s*(\d+)\s+(\d+)\s*$")


def parse_yes_no(reply: str) -> bool | None:
    """The last `Result: YES|NO` of a reply; None when there is none."""
    found = _RESULT.findall(reply or "")
    return found[-1].lower() == "yes" if found else None


def parse_two_scores(reply: str) -> tuple[int, int] | None:
    """AIR-Bench's verdict: the first non-empty line must be exactly two integers from 1 to 10."""
    lines = [line for line in (reply or "").splitlines() if line.strip()]
    match = _TWO_SCORES.match(lines[0]) if lines else None
    if not match:
        return None
    scores = int(match.group(1)), int(match.group(2))
    return scores if all(1 <= s <= 10 for s in scores) else None


# ---- judges -------------------------------------------------------------------------------------------


class JudgeFailed(Exception):
    """A judge call that got no reply (after retries)."""


class Judge(Protocol):
    model: str  # recorded beside every score

    def reply(self, messages: list[dict[str, str]]) -> str: ...


class OpenAIChatJudge:
    """`{base_url}/chat/completions` of any OpenAI-compatible server (vLLM, llama.cpp, a hosted API)."""

    def __init__(self, base_url: str, model: str, timeout_s: float = 120, max_retries: int = 4, backoff_s: float = 1.0,
                 api_key_env: str | None = None, max_tokens: int = 512) -> None:
        import httpx

        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.max_retries, self.backoff_s, self.max_tokens = model, max_retries, backoff_s, max_tokens
        self.client = httpx.Client(timeout=timeout_s, headers=auth_headers(api_key_env))

    def reply(self, messages: list[dict[str, str]]) -> str:
        body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.max_tokens}
        try:
            response = post_with_retries(self.client, self.url, body, self.max_retries, self.backoff_s)
        except RequestFailed as error:
            raise JudgeFailed(str(error)) from None
        try:
            return str(response.json()["choices"][0]["message"]["content"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise JudgeFailed(f"malformed chat response: {response.text[:200]}") from None


class LocalModelJudge:
    """A local Hugging Face chat model folder, greedy decoding."""

    def __init__(self, model_dir: str, max_tokens: int = 256) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model = str(model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
        self.llm = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, use_safetensors=True, trust_remote_code=False).eval()
        if torch.cuda.is_available():
            self.llm = self.llm.to("cuda")
        self.max_tokens = max_tokens

    def reply(self, messages: list[dict[str, str]]) -> str:
        import torch

        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        ids = {k: v.to(self.llm.device) for k, v in ids.items()}
        with torch.inference_mode():
            out = self.llm.generate(**ids, do_sample=False, max_new_tokens=self.max_tokens, pad_token_id=self.tokenizer.eos_token_id)
        return self.tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)


def build_judge(settings: JudgeSettings | dict[str, Any] | None) -> Judge | None:
    """From the config's `evaluation.judge` section: kind none | openai | local."""
    settings = JudgeSettings.of(settings)
    if settings.kind == "none":
        return None
    if settings.kind == "openai":
        if not settings.base_url or not settings.model:
            raise ValueError("evaluation.judge: kind 'openai' needs base_url and model")
        return OpenAIChatJudge(settings.base_url, settings.model, settings.timeout_s, settings.max_retries, settings.backoff_s, settings.api_key_env)
    if settings.kind == "local":
        if not settings.model:
            raise ValueError("evaluation.judge: kind 'local' needs model (a local model folder)")
        return LocalModelJudge(settings.model)
    raise ValueError(f"evaluation.judge.kind must be none, openai or local, not {settings.kind!r}")


# ---- cache --------------------------------------------------------------------------------------------


class JudgeCache:
    """Replies on disk (SQLite, one committed row per call: a killed run keeps every reply it got). The workflow
    gives each scoring job a file of its own (SQLite's locks are unreliable on a cluster's network file system);
    should two processes share one anyway, a writer waits up to `timeout_s` for the other's lock."""

    def __init__(self, path: str | Path, timeout_s: float = 120.0) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=timeout_s)
        self.db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, judge TEXT, prompt_id TEXT, reply TEXT)")

    @staticmethod
    def key(judge_model: str, prompt_id: str, messages: list[dict[str, str]]) -> str:
        payload = json.dumps([judge_model, prompt_id, messages, {"temperature": 0}], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        row = self.db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, judge_model: str, prompt_id: str, reply: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?)", (key, judge_model, prompt_id, reply))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> JudgeCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class Verdicts:
    """Judge replies for many prompts: the reply, or None for a failed call (with the failure counted)."""

    calls: int = 0
    cached: int = 0
    failures: int = 0


def ask(judge: Judge, cache: JudgeCache, prompt: Prompt, counts: Verdicts, **fields: Any) -> str | None:
    """The judge's reply to one rendered prompt, from the cache when asked before; None when the call failed."""
    messages = messages_for(prompt, **fields)
    key = JudgeCache.key(judge.model, prompt.id, messages)
    counts.calls += 1
    reply = cache.get(key)
    if reply is not None:
        counts.cached += 1
        return reply
    try:
        reply = judge.reply(messages)
    except JudgeFailed as error:
        counts.failures += 1
        log.warning("judge call failed (%d so far): %s", counts.failures, error)
        return None
    cache.put(key, judge.model, prompt.id, reply)
    return reply
