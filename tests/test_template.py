"""The one prompt layout: backbones with and without an `audio` role in their chat template."""

import pytest

from destaflow.template import AUDIO_LOCATOR, AUDIO_TURN_HEADER, caption_context, conversation, render

# A ChatML template that renders any role (SmolLM2's), and one that keeps only the roles it knows (Qwen2.5's).
ANY_ROLE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
KNOWN_ROLES = (
    "{% for m in messages %}{% if m['role'] in ['system', 'user', 'assistant'] %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tokenizer_with(template: str):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")), unk_token="<unk>")
    tokenizer.chat_template = template
    return tokenizer


def test_an_audio_role_renders_as_its_own_turn():
    text = render(tokenizer_with(ANY_ROLE), conversation(AUDIO_LOCATOR + "hello world", "What can you hear from the audio?"))
    assert f"<|im_start|>audio\n{AUDIO_LOCATOR}hello world<|im_end|>" in text
    assert AUDIO_TURN_HEADER not in text


def test_a_template_without_audio_role_gets_a_framed_user_turn():
    tokenizer = tokenizer_with(KNOWN_ROLES)
    text = render(tokenizer, conversation(AUDIO_LOCATOR + "hello world", "What can you hear from the audio?", system="Focus on the audio."))
    assert text == (
        "<|im_start|>system\nFocus on the audio.<|im_end|>\n"
        f"<|im_start|>user\n{AUDIO_TURN_HEADER}{AUDIO_LOCATOR}hello world<|im_end|>\n"
        "<|im_start|>user\nWhat can you hear from the audio?<|im_end|>\n<|im_start|>assistant\n"
    )
    # captioning frames the seed transcript the same way: the two phases see one context shape
    seed = "[00:00:00-00:00:02] hello world (Gender: Female, Duration: 2s)"
    assert caption_context(tokenizer, seed) == text.replace("Focus on the audio.", "").replace(
        "<|im_start|>system\n<|im_end|>\n", ""
    ).replace(AUDIO_LOCATOR + "hello world", seed)


def test_a_template_that_drops_a_user_turn_is_refused():
    drops_user = KNOWN_ROLES.replace("'system', 'user', 'assistant'", "'system', 'assistant'")
    with pytest.raises(ValueError, match="drops part of the conversation"):
        render(tokenizer_with(drops_user), conversation("hello", "What can you hear?"))
