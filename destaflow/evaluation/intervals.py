"""Binomial confidence intervals: what every accuracy the workflow reports carries beside it."""

from __future__ import annotations

import math

Z_95 = 1.959964


def wilson(correct: int, n: int, z: float = Z_95) -> tuple[float | None, float | None]:
    """95 % Wilson score interval of `correct` of `n`, in percent; (None, None) for n = 0."""
    if n <= 0:
        return None, None
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)
