"""Property tests for the small pure functions every clip goes through."""

import re

from hypothesis import given
from hypothesis import strategies as st

from destaflow import binning, seed
from destaflow.corpora.base import map_label

words = st.text(alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters=" -'"), min_size=1, max_size=20)
attribute_values = st.one_of(st.none(), words.filter(lambda w: w.strip()))
SEED_PATTERN = re.compile(r"^\[(\d\d:\d\d:\d\d)-(\d\d:\d\d:\d\d)\](?: (.+))? \((.*)\)$")


@st.composite
def clip_rows(draw):
    row = {name: draw(attribute_values) for name in seed.DISPLAY_NAMES}
    row["duration"] = draw(st.floats(min_value=0.0, max_value=36_000.0, allow_nan=False))
    row["text"] = draw(st.one_of(st.none(), st.text(max_size=60)))
    return row


@given(clip_rows(), st.lists(st.sampled_from(list(seed.DISPLAY_NAMES)), unique=True))
def test_seed_has_the_paper_shape(row, attributes):
    text = seed.format_seed(row, attributes)
    assert "\n" not in text
    match = SEED_PATTERN.match(text)
    assert match, text
    start, end, spoken, parts = match.groups()
    assert start == "00:00:00"
    hours, minutes, seconds = map(int, end.split(":"))
    assert hours * 3600 + minutes * 60 + seconds == seed.whole_seconds(row["duration"])
    assert parts.endswith(f"Duration: {seed.whole_seconds(row['duration'])}s")
    expected_names = [seed.DISPLAY_NAMES[a] for a in attributes if row.get(a) is not None and str(row[a]).strip()]
    shown = [p.split(": ")[0] for p in parts.split(", ")[:-1]]
    assert shown == expected_names
    assert (spoken or "") == " ".join((row["text"] or "").split())


@given(st.floats(min_value=0, max_value=1e5, allow_nan=False))
def test_duration_rounds_half_up_and_is_at_least_one_second(duration):
    shown = seed.whole_seconds(duration)
    assert shown >= 1
    assert abs(shown - duration) <= 0.5 or duration < 0.5


@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=8, unique=True),
    st.floats(min_value=-2e6, max_value=2e6, allow_nan=False),
)
def test_bins_are_total_and_monotonic(edges, value):
    edges = sorted(edges)
    names = [f"w{i}" for i in range(len(edges) + 1)]
    word = binning.to_word(value, edges, names)
    index = names.index(word)
    if index > 0:
        assert value >= edges[index - 1]
    if index < len(edges):
        assert value < edges[index]
    assert binning.to_word(None, edges, names) is None
    assert binning.to_word(float("nan"), edges, names) is None


@given(st.one_of(st.none(), st.text(max_size=30)), st.dictionaries(st.text(min_size=1, max_size=5), words, max_size=4))
def test_label_map_is_exact_then_lowercase_passthrough(raw, mapping):
    result = map_label(raw, mapping)
    if raw is None or not raw.strip():
        assert result is None
    elif raw.strip() in mapping:
        assert result == mapping[raw.strip()]
    else:
        assert result == raw.strip().lower()
