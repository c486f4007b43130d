"""d' against hand-computed values, including the 1/(2n) correction and NaN -> 0."""
import math

import numpy as np
import pytest
import torch

from lifelong.realtime.dprime import dprime_from_confusion, pair_readout

PHI_075 = 0.6744897501960817
PHI_0975 = 1.959963984540054


def cf(hits_a, n_a, false_a, n_b):
    """CF[chosen, true] with A chosen for hits_a of n_a A images and false_a of n_b B images."""
    return torch.tensor([[hits_a, false_a], [n_a - hits_a, n_b - false_a]])


def test_plain_dprime():
    assert dprime_from_confusion(cf(15, 20, 5, 20)).item() == pytest.approx(2 * PHI_075)
    assert dprime_from_confusion(cf(10, 20, 10, 20)).item() == pytest.approx(0.0)


def test_correction_at_ceiling_and_floor():
    # H = 1 -> 1 - 1/40, F = 0 -> 1/40: the ceiling 2 * 1.96 = 3.92 at n = 20
    assert dprime_from_confusion(cf(20, 20, 0, 20)).item() == pytest.approx(2 * PHI_0975)
    assert dprime_from_confusion(cf(0, 20, 20, 20)).item() == pytest.approx(-2 * PHI_0975)
    # H = 0.75, F = 0 -> 1/40
    assert dprime_from_confusion(cf(15, 20, 0, 20)).item() == pytest.approx(PHI_075 + PHI_0975)


def test_nan_becomes_zero():
    assert dprime_from_confusion(cf(0, 0, 5, 20)).item() == 0.0


def test_nearest_template_readout_with_ties_as_errors():
    templates = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    # identity 0: 3 clearly A, 1 tie (error); identity 1: 2 clearly B, 2 closer to A (errors)
    tests = torch.zeros(3, 4, 2)
    tests[0] = torch.tensor([[1.0, 0.1], [0.9, 0.0], [2.0, 1.0], [1.0, 1.0]])
    tests[1] = torch.tensor([[0.0, 1.0], [0.1, 0.9], [1.0, 0.2], [0.6, 0.5]])
    r = pair_readout(templates, tests, [(0, 1)])
    assert r.confusion[0].tolist() == [[3, 2], [1, 2]]
    h = 3 / 4                       # F = 2/4 -> Phi^-1(0.5) = 0
    expected = torch.special.ndtri(torch.tensor(h, dtype=torch.float64)) - 0.0
    assert r.dprime[0].item() == pytest.approx(float(expected))
    # margins: A images 0.9, 0.9, 1.0, 0.0(tie, wrong); B images 1.0, 0.8, -0.8, -0.1
    assert r.margin_correct[0].item() == pytest.approx(np.mean([0.9, 0.9, 1.0, 1.0, 0.8]))
    assert r.margin_wrong[0].item() == pytest.approx(np.mean([0.0, -0.8, -0.1]))


def test_readout_covers_every_pair_symmetrically():
    g = torch.Generator().manual_seed(0)
    templates = torch.randn(6, 8, generator=g)
    tests = templates[:, None] + 0.8 * torch.randn(6, 20, 8, generator=g)
    pairs = [(a, b) for a in range(6) for b in range(a + 1, 6)]
    r = pair_readout(templates, tests, pairs)
    swapped = pair_readout(templates, tests, [(b, a) for a, b in pairs])
    torch.testing.assert_close(r.dprime, swapped.dprime)     # d' is symmetric in A/B
    assert r.confusion.sum((1, 2)).tolist() == [40] * 15
    assert math.isfinite(r.dprime.sum().item())
