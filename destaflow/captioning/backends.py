"""Caption generators: the prepared LLM in-process, or an OpenAI-compatible server serving the same model.

Both receive prompts already rendered by the backbone's chat template (destaflow.template), so both see
exactly the same text. `generate` answers every prompt, in order, with a Generation, or with a
GenerationFailed for a prompt that got no answer (it goes to quarantine; the batch carries on).
"""

from __future__ import annotations

import logging
import os
import random
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from destaflow.decoding import Decoding, decode
from destaflow.captioning.settings import CaptionSettings

log = logging.getLogger(__name__)

END_OF_TURN_TOKENS = ("<|eot_id|>", "<|im_end|>")
RETRYABLE_STATUS = frozenset({408, 429})
MAX_BACKOFF_S = 60.0
SEED_RANGE = 2**31


@dataclass(frozen=True)
class Generation:
    text: str
    n_tokens: int
    hit_limit: bool


class GenerationFailed(Exception):
    """One prompt that got no answer; str() is the quarantine reason."""


Outcome = Generation | GenerationFailed


class Backend(Protocol):
    name: str

    def generate(self, prompts: list[str], sample_seed: int, share_keys: list | None = None) -> list[Outcome]: ...

    def close(self) -> None: ...


def build_backend(llm_dir: str, settings: CaptionSettings | dict[str, Any], dtype: str = "auto") -> Backend:
    """`dtype`: the in-process LLM's (destaflow.runtime.backbone_dtype); a server decides its own."""
    settings = CaptionSettings.of(settings)
    backends = {"transformers": TransformersBackend, "openai": OpenAICompatibleBackend}
    if settings.backend not in backends:
        raise ValueError(f"unknown caption backend {settings.backend!r}; known: {', '.join(backends)}")
    return backends[settings.backend](llm_dir, settings, dtype)


def load_tokenizer(llm_dir: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(llm_dir)


def stop_strings(tokenizer) -> list[str]:
    """The tokenizer's eos plus the end-of-turn markers its vocabulary knows (chat models end turns with those)."""
    vocabulary = tokenizer.get_vocab()
    candidates = [tokenizer.eos_token, *END_OF_TURN_TOKENS]
    return list(dict.fromkeys(token for token in candidates if token and token in vocabulary))


class TransformersBackend:
    """The prepared Hugging Face folder, batched with left padding (destaflow.decoding), in `dtype` (auto: CUDA +
    bf16 when available, else CPU fp32; a float32 batch gives what its prompts give one at a time, a bf16 one
    on CPU not always)."""

    name = "transformers"

    def __init__(self, llm_dir: str, settings: CaptionSettings, dtype: str = "auto") -> None:
        from transformers import AutoModelForCausalLM

        from destaflow.runtime import backbone_dtype, torch_device

        self.tokenizer = load_tokenizer(llm_dir)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = torch_device()
        model = AutoModelForCausalLM.from_pretrained(llm_dir, dtype=backbone_dtype(dtype, self.device), use_safetensors=True, trust_remote_code=False)
        self.model = model.to(self.device).eval()
        self.stop_ids = self.tokenizer.convert_tokens_to_ids(stop_strings(self.tokenizer))
        self.decoding = Decoding(settings.max_new_tokens, settings.temperature, settings.top_p, settings.repetition_penalty)

    def generate(self, prompts: list[str], sample_seed: int, share_keys: list | None = None) -> list[Outcome]:
        """Row i samples with seed `sample_seed + i`, as the OpenAI-compatible backend asks its server to; prompts
        with the same share key (about the same audio) compute their common prefix once."""
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        seeds = [(sample_seed + i) % SEED_RANGE for i in range(len(prompts))]
        new_tokens = decode(self.model, batch["input_ids"], batch["attention_mask"], self.decoding, seeds, self.stop_ids,
                            share_keys=share_keys)
        return [self._decode(row) for row in new_tokens]

    def _decode(self, tokens: list[int]) -> Generation:
        stop_at = next((i for i, token in enumerate(tokens) if token in self.stop_ids), None)
        if stop_at is None:
            return Generation(self.tokenizer.decode(tokens, skip_special_tokens=True), len(tokens), len(tokens) >= self.decoding.max_new_tokens)
        return Generation(self.tokenizer.decode(tokens[:stop_at], skip_special_tokens=True), stop_at + 1, False)

    def close(self) -> None:
        pass


class OpenAICompatibleBackend:
    """`{base_url}/completions` of a server (vLLM, llama.cpp) serving the same model; prompts rendered locally.

    Row i of a batch is sent with seed `sample_seed + i`, so repeated captions of one clip differ.
    """

    name = "openai"

    def __init__(self, llm_dir: str, settings: CaptionSettings, dtype: str = "auto") -> None:
        import httpx

        endpoint = settings.endpoint
        if not endpoint.base_url:
            raise ValueError("caption.endpoint.base_url must be set for the 'openai' caption backend")
        self.tokenizer = load_tokenizer(llm_dir)
        self.url = endpoint.base_url.rstrip("/") + "/completions"
        self.request_fields = completion_fields(settings, stop_strings(self.tokenizer))
        self.max_new_tokens = settings.max_new_tokens
        self.max_retries = endpoint.max_retries
        self.backoff_s = endpoint.backoff_s
        self.client = httpx.Client(timeout=endpoint.timeout_s, headers=auth_headers(endpoint.api_key_env))
        self.pool = ThreadPoolExecutor(max_workers=endpoint.concurrency, thread_name_prefix="caption-request")
        self.failures = 0

    def generate(self, prompts: list[str], sample_seed: int, share_keys: list | None = None) -> list[Outcome]:
        """share_keys: unused (a server caches shared prefixes itself)."""
        requests = [self.pool.submit(self._complete, prompt, (sample_seed + i) % SEED_RANGE) for i, prompt in enumerate(prompts)]
        return [self._outcome(request) for request in requests]

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()

    def _outcome(self, request: Future) -> Outcome:
        error = request.exception()
        if error is None:
            return request.result()
        if not isinstance(error, GenerationFailed):
            raise error
        self.failures += 1
        log.warning("caption request failed (%d so far): %s", self.failures, error)
        return error

    def _complete(self, prompt: str, seed: int) -> Generation:
        body = {**self.request_fields, "prompt": prompt, "seed": seed}
        try:
            response = post_with_retries(self.client, self.url, body, self.max_retries, self.backoff_s)
        except RequestFailed as error:
            raise GenerationFailed(str(error)) from None
        return parse_completion(response, self._count_tokens, self.max_new_tokens)

    def _count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])


class RequestFailed(Exception):
    """A request to an OpenAI-compatible server that got no successful response; str() says why."""


def post_with_retries(client, url: str, body: dict, max_retries: int, backoff_s: float):
    """The successful response to a JSON POST, retrying timeouts, dropped connections, 408, 429 and 5xx with
    backoff; RequestFailed on another status or when the retries run out."""
    import httpx

    attempts = max_retries + 1
    for attempt in range(attempts):
        try:
            response = client.post(url, json=body)
        except httpx.TransportError as error:  # refused or dropped connections and every kind of timeout
            problem = f"{type(error).__name__}: {error}".strip(": ")
        else:
            if response.is_success:
                return response
            if response.status_code not in RETRYABLE_STATUS and response.status_code < 500:
                raise RequestFailed(f"HTTP {response.status_code}: {response.text[:200]}")
            problem = f"HTTP {response.status_code}"
        if attempt + 1 < attempts:
            time.sleep(backoff_delay(backoff_s, attempt))
    raise RequestFailed(f"{problem} (after {attempts} attempts)")


def completion_fields(settings: CaptionSettings, stop: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "max_tokens": settings.max_new_tokens,
        "stop": stop,
    }
    if settings.endpoint.model:
        fields["model"] = settings.endpoint.model
    if settings.repetition_penalty != 1:
        fields["repetition_penalty"] = settings.repetition_penalty
    return fields


def auth_headers(api_key_env: str | None) -> dict[str, str]:
    key = os.environ.get(api_key_env) if api_key_env else None
    return {"Authorization": f"Bearer {key}"} if key else {}


def backoff_delay(base_s: float, attempt: int) -> float:
    """Exponential backoff with jitter, so that many workers retrying at once spread out."""
    return min(MAX_BACKOFF_S, base_s * 2**attempt) * random.uniform(0.5, 1.0)


def parse_completion(response, count_tokens: Callable[[str], int], max_new_tokens: int) -> Generation:
    try:
        payload = response.json()
        choice = payload["choices"][0]
        text = choice["text"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise GenerationFailed(f"malformed completion response ({type(error).__name__}): {response.text[:200]}") from None
    n_tokens = (payload.get("usage") or {}).get("completion_tokens")
    if n_tokens is None:
        n_tokens = count_tokens(text)
    finish_reason = choice.get("finish_reason")
    hit_limit = finish_reason == "length" if finish_reason else n_tokens >= max_new_tokens
    return Generation(text, n_tokens, hit_limit)
