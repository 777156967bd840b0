"""Caption coverage: does a caption mention the attribute values its seed transcript carried?

A caption covers an attribute when it names the seed's value (or a synonym) for it; naming another value
of the same attribute, or nothing, does not count. Used by bench/ to choose the captioning LLM.
"""

from __future__ import annotations

import re

# attribute -> seed value -> words that count as naming it in a caption
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "gender": {
        "female": ("female", "woman", "women", "girl", "lady", "she", "her"),
        "male": ("male", "man", "men", "boy", "gentleman", "he", "his", "him"),
    },
    "speaking_speed": {
        "slow": ("slow", "slowly", "leisurely", "unhurried", "deliberate"),
        "normal": ("normal pace", "moderate pace", "normal speed", "moderate speed", "average pace", "steady pace", "normal rate", "moderate rate"),
        "fast": ("fast", "quick", "quickly", "rapid", "rapidly", "hurried"),
    },
    "pitch": {
        "low": ("low pitch", "low-pitched", "deep", "low voice", "lower pitch", "low tone"),
        "normal": ("normal pitch", "medium pitch", "moderate pitch", "average pitch", "medium-pitched"),
        "medium": ("normal pitch", "medium pitch", "moderate pitch", "average pitch", "medium-pitched"),
        "high": ("high pitch", "high-pitched", "higher pitch", "high voice", "squeaky", "shrill"),
    },
    "volume": {
        "quiet": ("quiet", "quietly", "soft", "softly", "low volume", "faint"),
        "normal": ("normal volume", "moderate volume", "normal loudness", "average volume"),
        "loud": ("loud", "loudly", "high volume"),
    },
}


def names(text: str, words: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(re.search(rf"\b{re.escape(word)}\b", lowered) for word in words)


def covers(caption: str, attribute: str, value: str | None) -> bool | None:
    """True/False whether `caption` names `value`; None when the seed had no value or no synonyms are known."""
    if value is None:
        return None
    synonyms = SYNONYMS.get(attribute, {}).get(value.lower())
    if synonyms is None:
        return None
    return names(caption, synonyms)
