"""The 15 face pairs of the real-time benchmark and their control-pair draw (realtime.md §1.2, §1.5)."""
from __future__ import annotations

import itertools

#: number of identities in the real-time benchmark
N_IDENTITIES = 6


def face_pairs(n_identities: int = N_IDENTITIES) -> list[tuple[int, int]]:
    """All unordered identity pairs in the experiment order of the original (exp 0 = faces 1,2 ... 14 = 5,6)."""
    return list(itertools.combinations(range(n_identities), 2))


def control_candidates(pair_index: int, n_identities: int = N_IDENTITIES) -> list[int]:
    """Indices of the pairs disjoint from ``pair_index``, in sorted (pair-index) order.

    The original listed candidates in filesystem directory order (realtime.md §9 item 2), which
    differs between machines; sorted order is this harness's deterministic replacement.
    """
    pairs = face_pairs(n_identities)
    a, b = pairs[pair_index]
    return [i for i, (c, d) in enumerate(pairs) if not {a, b} & {c, d}]
