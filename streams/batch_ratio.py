"""The ratio R = stream : pretraining pairs in every batch (realtime.md §5, lifelong.md)."""
from __future__ import annotations

import re

_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")


def parse_ratio(ratio: str) -> tuple[float, float]:
    """Parse 'a:b' (e.g. '1:3') into (a, b); both non-negative and not both zero."""
    m = _RATIO.match(str(ratio))
    if not m:
        raise ValueError(f"malformed ratio R={ratio!r}: expected 'stream:pretraining' such as '1:3', '1:1' or '3:1'")
    a, b = float(m.group(1)), float(m.group(2))
    if a + b <= 0:
        raise ValueError(f"malformed ratio R={ratio!r}: both parts are zero")
    return a, b


def split_batch(batch_pairs: int, ratio: str) -> tuple[int, int]:
    """Split a batch of ``batch_pairs`` pairs into (stream, pretraining) counts exactly.

    The split must be exact: 64 pairs at '1:3' -> (16, 48). A batch that R does not divide
    into whole pairs is an error rather than a silent rounding.
    """
    if batch_pairs <= 0:
        raise ValueError(f"batch size must be a positive number of pairs, got {batch_pairs}")
    a, b = parse_ratio(ratio)
    stream = batch_pairs * a / (a + b)
    if abs(stream - round(stream)) > 1e-9:
        raise ValueError(
            f"ratio R={ratio!r} does not split a batch of {batch_pairs} pairs into whole pairs "
            f"({stream:g} stream pairs); choose a batch size divisible by {a + b:g}"
        )
    stream = int(round(stream))
    return stream, batch_pairs - stream
