"""From d' trajectories to the five-point effect curves compared with humans (realtime.md §7).

Per run i (exposed pair p, control pair c) over evaluations j:
    E_i[j] = (d'_j(p) - d'_0(p)) - (d'_j(c) - d'_0(c))
Five-point alignment with the human test points (0, 400, ..., 1600 exposures), for 19
evaluations at minutes 0, 5, ..., 90:
    F_i[b] = mean(E_i[1+4b], E_i[2+4b]) - mean(E_i[1], E_i[2]),   b = 0..4
i.e. the middle and end of each 10-minute test phase, minus the first test phase. The model
curve is the mean over runs and its error bar the SEM = std / sqrt(n) (ddof 0).
"""
from __future__ import annotations

import numpy as np

N_EVALUATIONS = 19
N_TEST_POINTS = 5


def run_effect(dprime_big: np.ndarray, exposed: int, control: int) -> np.ndarray:
    """E[j] for one run; ``dprime_big`` is [n_eval, n_pairs]."""
    d = np.asarray(dprime_big, dtype=np.float64)
    return (d[:, exposed] - d[0, exposed]) - (d[:, control] - d[0, control])


def align_five_points(effect: np.ndarray) -> np.ndarray:
    """F[b] from E[j] (19 evaluations) -> 5 test points; F[0] = 0 by construction."""
    e = np.asarray(effect, dtype=np.float64)
    if e.shape[-1] != N_EVALUATIONS:
        raise ValueError(f"five-point alignment needs {N_EVALUATIONS} evaluations, got {e.shape[-1]}")
    blocks = np.stack([(e[..., 1 + 4 * b] + e[..., 2 + 4 * b]) / 2.0 for b in range(N_TEST_POINTS)], -1)
    return blocks - blocks[..., :1]


def mean_sem(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SEM (numpy std, ddof 0, / sqrt(n)) over the first axis."""
    c = np.asarray(curves, dtype=np.float64)
    return c.mean(0), c.std(0) / np.sqrt(c.shape[0])
