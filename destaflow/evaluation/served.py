"""A model served elsewhere behind OpenAI's chat-completions API (a vLLM-served audio model, `destaflow serve`)
as a system of the scoring stage: `evaluation.systems` entries of kind `openai`.

ServedModel answers the same conversations as DestaModel.batch_chat: each audio turn goes as a 16 kHz wav
`input_audio` part of the user message that follows it; requests run `batch_size` at a time, so a batching
server answers them together. Decoding is greedy (temperature 0) unless asked otherwise. A request the server
refuses or fails leaves that conversation unanswered (None) with the reason logged; an endpoint that cannot be
reached, refuses the key or does not know the model, or a batch with no answer at all, fails the job instead
(an empty answer table would score as 0 % and never be rerun).
"""

from __future__ import annotations

import base64
import io
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import openai
import soundfile as sf

from destaflow.audio import TARGET_RATE

log = logging.getLogger(__name__)


def wav_part(samples: np.ndarray, rate: int = TARGET_RATE) -> dict:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="FLOAT")
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(buffer.getvalue()).decode(), "format": "wav"}}


def openai_messages(conversation: list[dict]) -> list[dict]:
    """The model's messages (audio turns hold (samples, rate) or an array at 16 kHz) -> OpenAI's."""
    messages, pending = [], []
    for message in conversation:
        if message["role"] == "audio":
            content = message["content"]
            pending.append(wav_part(*content) if isinstance(content, tuple) else wav_part(content))
        elif message["role"] == "user":
            messages.append({"role": "user", "content": [*pending, {"type": "text", "text": message["content"]}]})
            pending = []
        else:
            messages.append({"role": message["role"], "content": message["content"]})
    if pending:
        raise ValueError("audio after the last user message")
    return messages


class ServedModel:
    def __init__(self, endpoint: dict[str, Any]) -> None:
        key_env = endpoint.get("api_key_env")
        api_key = os.environ.get(key_env) if key_env else "unused"  # the client needs some key; servers without auth ignore it
        if key_env and not api_key:
            raise ValueError(f"the served system's API key variable {key_env} is not set")
        self.model, self.base_url = endpoint["model"], endpoint["base_url"]
        self.client = openai.OpenAI(base_url=endpoint["base_url"], api_key=api_key, timeout=endpoint.get("timeout_s", 600), max_retries=3)

    def answer(self, conversation: list[dict], options: dict) -> str | None:
        try:
            response = self.client.chat.completions.create(model=self.model, messages=openai_messages(conversation), **options)
        except (openai.APIConnectionError, openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as error:
            raise ServedError(f"{self.base_url} ({self.model}): {type(error).__name__}: {str(error).splitlines()[0][:300]}") from None
        except Exception as error:  # noqa: BLE001 - a refused request leaves this item unanswered, with the reason logged
            log.warning("no answer from %s: %s", self.model, str(error).splitlines()[0][:300])
            return None
        return response.choices[0].message.content or ""

    def batch_chat(self, conversations: list[list[dict]], batch_size: int = 8, max_new_tokens: int = 128, do_sample: bool = False,
                   temperature: float = 0.6, top_p: float = 0.9) -> list[str | None]:  # fmt: skip
        options = {"max_tokens": max_new_tokens, "temperature": temperature if do_sample else 0}
        if do_sample:
            options["top_p"] = top_p
        with ThreadPoolExecutor(max(1, batch_size)) as pool:
            answers = list(pool.map(lambda conversation: self.answer(conversation, options), conversations))
        if answers and all(answer is None for answer in answers):
            raise ServedError(f"{self.base_url} ({self.model}) answered none of {len(answers)} requests (reasons in the log)")
        return answers


class ServedError(RuntimeError):
    """The served model cannot be reached or used at all: the job fails rather than record empty answers."""
