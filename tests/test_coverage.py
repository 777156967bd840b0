"""The caption-coverage matcher on phrasings real captioning LLMs wrote (Qwen2.5-Coder, SmolLM2)."""

import pytest

from destaflow.coverage import covers, values_named


@pytest.mark.parametrize(
    "caption, attribute, value",
    [
        ("The pitch is low and the speaker sounds calm.", "pitch", "low"),
        ("- Pitch: High", "pitch", "high"),
        ("**Pitch:** High", "pitch", "high"),
        ("speaking at a slow pace with a pitch that is low.", "pitch", "low"),
        ("The pitch of the sound is low.", "pitch", "low"),
        ("a high-pitched voice", "pitch", "high"),
        ("The voice is speaking at a normal speaking speed.", "speaking_speed", "normal"),
        ("Her speaking speed is normal.", "speaking_speed", "normal"),
        ("He speaks quickly.", "speaking_speed", "fast"),
        ("spoken at a moderate pace", "speaking_speed", "normal"),
        ("You can hear a female speaking in West Midlands accent", "gender", "female"),
        ("a male speaker with a Caribbean accent", "gender", "male"),
        ("The volume is normal.", "volume", "normal"),
        ("a loud, clear voice", "volume", "loud"),
        ("Medium pitch throughout.", "pitch", "medium"),
    ],
)
def test_names_the_seed_value(caption, attribute, value):
    assert covers(caption, attribute, value)


@pytest.mark.parametrize(
    "caption, attribute, value",
    [
        ("The audio includes a male speaking with a female accent.", "gender", "female"),  # both genders named
        ("The speaker's voice is not loud.", "volume", "loud"),  # negated
        ("The volume is not loud.", "volume", "loud"),
        ("The pitch is not low.", "pitch", "low"),
        ("a pace that is neither fast nor slow", "speaking_speed", "fast"),
        ("a female voice with a low pitch, loud volume and slow speaking speed", "pitch", "high"),
        ("low pitch, loud volume", "volume", "quiet"),  # 'low' belongs to pitch, not volume
        ("The audio you described is a natural and human voice reciting a sentence.", "pitch", "low"),
        ("It is spoken by a male, loud enough to be heard, at a fast pace.", "volume", "quiet"),
    ],
)
def test_does_not_count_other_or_negated_values(caption, attribute, value):
    assert not covers(caption, attribute, value)


def test_a_clause_about_another_attribute_is_not_read_into_this_one():
    assert covers("The pitch is high and volume is low.", "pitch", "high")
    assert covers("The volume is normal and pitch is high.", "volume", "normal")


def test_values_named_lists_every_value_mentioned():
    assert values_named("the pitch is high, then low-pitched", "pitch") == {"high", "low"}
    assert values_named("a normal pitch, volume, speaking speed", "pitch") == {"normal"}


def test_nothing_to_check_without_a_value_or_vocabulary():
    assert covers("anything", "gender", None) is None
    assert covers("anything", "accent", "Scottish") is None
    assert covers("anything", "pitch", "very high") is None
