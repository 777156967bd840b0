"""Rule-based scoring of free-form answers against a benchmark label.

Three rules, strictest first:
    exact        the official Dynamic-SUPERB phase-1 metric: case-insensitive equality after trimming
    contains     DeSTA's rule: after Whisper's basic text normalisation, the label's words occur
                 contiguously in the answer
    exclusive    contains, and no other option of the instruction occurs: an answer naming several
                 options (or none) is wrong

Labels are normalised the way the benchmark's quirks need (booleans, `no_emotion`, numeric strings).
"""

from __future__ import annotations

import re
from functools import lru_cache

RULES = ("exact", "contains", "exclusive")

# Label spellings that differ from how an answer would say them.
LABEL_ALIASES = {"no_emotion": "no emotion", "true": "yes", "false": "no"}

# Where an instruction starts listing its options: Dynamic-SUPERB's "The answer could be a, b, or c.", "Options:
# yes/no", and Speech-IFEval's 'Choose the answer from "Man" or "Woman"' and "Please answer with the following
# four emotion categories: neutral, happy, sad, and angry." The list ends at a sentence's end or a line break.
_OPTIONS_START = re.compile(
    r"(?:the answer (?:could|can|should|must|would) be|options?(?: are)?:|(?:choose|select|pick) (?:the answer |one )?from:?"
    r"|(?P<following>answer with (?:one of )?the following(?: [\w-]+)*?:))\s+",
    re.IGNORECASE,
)
_QUOTED_LIST = re.compile(r'(?:"[^"]+"(?:\s*,\s*(?:or\s+|and\s+)?|\s+(?:or|and)\s+)?)+')  # may hold commas and periods
_QUOTED = re.compile(r'"([^"]+)"')
_LIST_END = re.compile(r"\s*(?:[.?!](?:\s|$)|\n|$)")
_PLAIN_LIST = re.compile(r"(.+?)(?:\.\s|\.$|\n|$)")
_SEPARATORS = re.compile(r"\s*(?:,\s*(?:or|and)\s+|,\s*|\s+or\s+|/)\s*")  # "rock and roll" stays one option
_SEPARATORS_WITH_AND = re.compile(r"\s*(?:,\s*(?:or|and)\s+|,\s*|\s+(?:or|and)\s+|/)\s*")  # "... categories: a, b and c"


@lru_cache(maxsize=1)
def _normaliser():
    from transformers.models.whisper.english_normalizer import BasicTextNormalizer

    return BasicTextNormalizer()


def words(text: str) -> list[str]:
    """Whisper's basic normalisation (lowercase, no punctuation or symbols), split into words."""
    return _normaliser()(str(text)).split()


def normalise_label(label) -> str:
    text = str(label).strip().lower()
    return LABEL_ALIASES.get(text, text.replace("_", " "))


def contains_words(answer_words: list[str], phrase: str) -> bool:
    needle = words(phrase)
    if not needle:
        return False
    return any(answer_words[i : i + len(needle)] == needle for i in range(len(answer_words) - len(needle) + 1))


def parse_options(instruction: str) -> list[str] | None:
    """The options an instruction lists ("The answer could be clean or noisy.", 'Choose the answer from "Man" or
    "Woman"'), or None if it lists none. The first place that lists two or more counts."""
    for start in _OPTIONS_START.finditer(instruction):
        rest = instruction[start.end():]
        quoted = _QUOTED_LIST.match(rest)
        if quoted and _LIST_END.match(rest, quoted.end()):  # a wholly quoted list
            options = [part.strip() for part in _QUOTED.findall(quoted.group(0))]
        else:
            listed = _PLAIN_LIST.match(rest).group(1).strip().strip(".").strip()
            separators = _SEPARATORS_WITH_AND if start.group("following") else _SEPARATORS
            options = [part.strip().strip("'\"") for part in separators.split(listed)]
        options = [option for option in options if option]
        if len(options) >= 2:
            return options
    return None


def exact(answer: str, label) -> bool:
    return str(answer).strip().lower() == str(label).strip().lower()


def contains(answer: str, label) -> bool:
    return contains_words(words(answer), normalise_label(label))


def named_options(answer: str, options: list[str]) -> list[str]:
    """The options an answer names; an option inside a longer named one ("fast" in "very fast") is not counted."""
    answer_words = words(answer)
    named = [o for o in dict.fromkeys(normalise_label(o) for o in options) if contains_words(answer_words, o)]
    return [o for o in named if not any(other != o and contains_words(words(other), o) for other in named)]


def exclusive(answer: str, label, options: list[str] | None) -> bool:
    """The label named, and no other option; without options this is `contains`."""
    if not options:
        return contains(answer, label)
    return named_options(answer, [*options, str(label)]) == [normalise_label(label)]


def score(rule: str, answer: str, label, options: list[str] | None) -> bool:
    if rule == "exact":
        return exact(answer, label)
    if rule == "contains":
        return contains(answer, label)
    if rule == "exclusive":
        return exclusive(answer, label, options)
    raise ValueError(f"unknown scoring rule {rule!r}; known: {', '.join(RULES)}")
