"""Caption coverage: does a caption name the attribute values its seed transcript carried?

A caption covers an attribute when it names the seed's value and no other value of that attribute
("a male speaking with a female accent" covers neither gender). A value is named by a word that means it on
its own ("slowly", "she", "high-pitched") or by a qualifier tied to one of the attribute's nouns: before it
("low pitch", "normal speaking speed"), after a verb ("the pitch is low", "a pitch that is quite high") or
after a colon ("Pitch: Low"). Negated mentions ("not loud") name nothing. Used by bench/ to choose the
captioning LLM; the matcher is deliberately literal, so its misses undercount rather than flatter.
"""

from __future__ import annotations

import re
from functools import cache

# attribute -> value -> words or phrases that name the value without any noun
STANDALONE: dict[str, dict[str, tuple[str, ...]]] = {
    "gender": {
        "female": ("female", "woman", "women", "girl", "lady", "she", "her"),
        "male": ("male", "man", "men", "boy", "gentleman", "he", "his", "him"),
    },
    "speaking_speed": {
        "slow": ("slow", "slowly", "leisurely", "unhurried"),
        "normal": ("normal pace", "moderate pace", "average pace", "steady pace"),
        "fast": ("fast", "quick", "quickly", "rapid", "rapidly", "hurried"),
    },
    "pitch": {
        "low": ("deep voice", "low-pitched", "deep-voiced"),
        "normal": (),
        "high": ("high-pitched", "squeaky", "shrill"),
    },
    "volume": {
        "quiet": ("quiet", "quietly", "softly", "faint", "whispering"),
        "normal": (),
        "loud": ("loud", "loudly"),
    },
}

# attribute -> value -> qualifiers that name the value when tied to one of the attribute's nouns (CUES)
QUALIFIERS: dict[str, dict[str, tuple[str, ...]]] = {
    "speaking_speed": {
        "slow": ("slow", "slower", "leisurely"),
        "normal": ("normal", "moderate", "average", "steady", "regular", "medium"),
        "fast": ("fast", "faster", "quick", "rapid", "brisk"),
    },
    "pitch": {
        "low": ("low", "lower", "deep"),
        "normal": ("normal", "medium", "moderate", "average", "mid"),
        "high": ("high", "higher"),
    },
    "volume": {
        "quiet": ("quiet", "soft", "low"),
        "normal": ("normal", "moderate", "medium", "average"),
        "loud": ("loud", "high"),
    },
}
CUES: dict[str, tuple[str, ...]] = {
    "speaking_speed": ("speed", "pace", "rate", "tempo"),
    "pitch": ("pitch", "pitched", "tone"),
    "volume": ("volume", "loudness"),
}
ALIASES = {"medium": "normal"}  # seed values that mean the same thing
LINKING_VERBS = r"(?:is|was|are|were|being|sounds|seems|remains)"
NEGATIONS = r"(?:not|no|nor|never|neither)"
NEGATION_BEFORE = re.compile(rf"\b{NEGATIONS}\s+(?:\w+\s+)?$")
# a word inside a match: never a negation, nor a conjunction that starts another clause ("pitch is high and volume is low")
GAP_WORD = rf"(?!{NEGATIONS}\b|and\b|but\b|while\b|or\b)\w+"


def _alternatives(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


@cache
def _patterns(attribute: str, value: str) -> tuple[re.Pattern, ...]:
    patterns = []
    standalone = STANDALONE.get(attribute, {}).get(value, ())
    if standalone:
        patterns.append(re.compile(rf"\b(?:{_alternatives(standalone)})\b"))
    qualifiers = QUALIFIERS.get(attribute, {}).get(value, ())
    if qualifiers:
        q, c = _alternatives(qualifiers), _alternatives(CUES[attribute])
        patterns += [
            re.compile(rf"\b(?:{q})(?:[ -]+\w+)?[ -]+(?:{c})\b"),  # low pitch, normal speaking speed, low-pitched
            re.compile(rf"\b(?:{c})\b(?: {GAP_WORD}){{0,4}}? {LINKING_VERBS} (?:{GAP_WORD} ){{0,2}}?(?:{q})\b"),  # pitch that is quite low
            re.compile(rf"\b(?:{c})\W*:\W*(?:{q})\b"),  # Pitch: Low, **Pitch:** Low
        ]
    return tuple(patterns)


def _names(text: str, attribute: str, value: str) -> bool:
    for pattern in _patterns(attribute, value):
        for match in pattern.finditer(text):
            if not NEGATION_BEFORE.search(text[max(0, match.start() - 20) : match.start()]):
                return True
    return False


def values_named(caption: str, attribute: str) -> set[str]:
    """Every value of `attribute` the caption names."""
    text = re.sub(r"\s+", " ", caption.lower())
    values = set(STANDALONE.get(attribute, {})) | set(QUALIFIERS.get(attribute, {}))
    return {value for value in values if _names(text, attribute, value)}


def covers(caption: str, attribute: str, value: str | None) -> bool | None:
    """True when `caption` names `value` and no other value of `attribute`; None when there is nothing to check."""
    if value is None:
        return None
    value = ALIASES.get(value.lower(), value.lower())
    if value not in STANDALONE.get(attribute, {}) and value not in QUALIFIERS.get(attribute, {}):
        return None
    return values_named(caption, attribute) == {value}
