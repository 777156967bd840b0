"""The one prompt layout shared by captioning and training (DeSTA2's template, any chat backbone).

A conversation is [system?] + an `audio` turn per clip + a user turn. When captioning, the audio turn carries
the seed transcript; when training or chatting, it carries AUDIO_LOCATOR (where the connector's embeddings are
spliced in) followed by the Whisper transcription; in the cascades, the transcription alone. The backbone's
own chat template renders it, so the LLM sees the same context shape in every phase. Token ids and audio slots
are made from it in destaflow.conversation.
"""

from __future__ import annotations

from collections.abc import Sequence

AUDIO_LOCATOR = "<|audio_features|>"
CAPTION_PROMPT = "What can you hear from the audio?"
AUDIO_TURN_HEADER = "Audio clip:\n"
"""Opens the audio turn when the backbone's chat template has no `audio` role (Qwen2.5's drops unknown roles):
the turn becomes a user turn that still tells the LLM it is hearing a clip, as Llama 3's `audio` header does."""


def conversation(audio_texts: str | Sequence[str], user: str, system: str | None = None) -> list[dict[str, str]]:
    """[system?] + one audio turn per text (none for a text-only LLM) + the user turn."""
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "audio", "content": text} for text in ([audio_texts] if isinstance(audio_texts, str) else audio_texts)]
    messages.append({"role": "user", "content": user})
    return messages


def render(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """Render with the backbone's chat template; a template that drops unknown roles gets each audio turn as a
    user turn opened by AUDIO_TURN_HEADER."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    missing = [m for m in messages if m["content"] and m["content"] not in text]
    if not missing:
        return text
    fallback = [m if m["role"] in ("system", "user", "assistant") else {"role": "user", "content": AUDIO_TURN_HEADER + m["content"]}
                for m in messages]
    text = tokenizer.apply_chat_template(fallback, tokenize=False, add_generation_prompt=add_generation_prompt)
    if any(m["content"] and m["content"] not in text for m in fallback):
        raise ValueError("the backbone's chat template drops part of the conversation")
    return text


def caption_context(tokenizer, seed_transcript: str, prompt: str = CAPTION_PROMPT, system: str | None = None) -> str:
    """The captioning prompt: the seed transcript stands where the audio will be."""
    return render(tokenizer, conversation(seed_transcript, prompt, system))
