"""Nearest-template 2-AFC d' read-out (realtime.md §6).

For a face pair (A, B): the embeddings of the two medium choice images are the templates
r_A, r_B. Each test image of A or B is scored against both templates by a dot product and
"chooses" the larger one; a tie counts as an error. The 2x2 confusion matrix CF[chosen, true]
gives, with A as the signal, H = CF[A, A] / n_A and F = CF[A, B] / n_B. Rates of 0 and 1 become
1/(2n) and 1 - 1/(2n); d' = Phi^-1(H) - Phi^-1(F), and a NaN d' becomes 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


def dprime_from_confusion(cf: torch.Tensor) -> torch.Tensor:
    """d' from confusion matrices CF[..., chosen, true] with the 1/(2n) correction."""
    cf = cf.double()
    n_a = cf[..., 0, 0] + cf[..., 1, 0]
    n_b = cf[..., 0, 1] + cf[..., 1, 1]
    hit = cf[..., 0, 0] / n_a
    fa = cf[..., 0, 1] / n_b
    hit = _correct_rate(hit, n_a)
    fa = _correct_rate(fa, n_b)
    d = torch.special.ndtri(hit) - torch.special.ndtri(fa)
    return torch.nan_to_num(d, nan=0.0)


def _correct_rate(rate: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    low = 1.0 / (2.0 * n)
    rate = torch.where(rate == 0, low, rate)
    return torch.where(rate == 1, 1.0 - low, rate)


@dataclass(frozen=True)
class PairReadout:
    """Read-out of all face pairs at one size; leading dimension = pair."""

    dprime: torch.Tensor           # [P]
    confusion: torch.Tensor        # [P, 2, 2] CF[chosen, true], A = first face of the pair
    margin_correct: torch.Tensor   # [P] mean (score_true - score_other) over correct trials
    margin_wrong: torch.Tensor     # [P] same over wrong trials (NaN if none)


def pair_readout(templates: torch.Tensor, tests: torch.Tensor, pairs: list[tuple[int, int]]) -> PairReadout:
    """2-AFC read-out of every pair.

    templates: [n_id, D] embeddings of the choice images.
    tests:     [n_id, n_test, D] embeddings of the test images of one size.
    """
    templates = templates.double()
    tests = tests.double()
    scores = torch.einsum("ikd,jd->ikj", tests, templates)          # [n_id, n_test, n_id]
    a = torch.tensor([p[0] for p in pairs])
    b = torch.tensor([p[1] for p in pairs])
    s_a_on_a = scores[a, :, a]          # A images vs template A     [P, n]
    s_b_on_a = scores[a, :, b]          # A images vs template B
    s_a_on_b = scores[b, :, a]          # B images vs template A
    s_b_on_b = scores[b, :, b]
    a_correct = s_a_on_a > s_b_on_a     # tie -> error
    b_correct = s_b_on_b > s_a_on_b
    n_a = a_correct.sum(1)
    n_b = b_correct.sum(1)
    n = a_correct.shape[1]
    cf = torch.stack(
        [torch.stack([n_a, n - n_b], -1), torch.stack([n - n_a, n_b], -1)], -2
    ).to(torch.int64)                   # [P, chosen, true]
    margins = torch.cat([s_a_on_a - s_b_on_a, s_b_on_b - s_a_on_b], 1)
    correct = torch.cat([a_correct, b_correct], 1)
    nan = torch.tensor(float("nan"), dtype=margins.dtype)
    m_ok = torch.where(correct, margins, nan).nanmean(1)
    m_bad = torch.where(~correct, margins, nan).nanmean(1)
    return PairReadout(dprime_from_confusion(cf), cf, m_ok, m_bad)
