"""Five-point alignment, the effect computation and the human-vs-model score on hand-computed cases."""
import numpy as np
import pytest

import human_data
from lifelong.realtime.effects import align_five_points, mean_sem, run_effect
from lifelong.realtime.score import score_effects


def test_run_effect_subtracts_the_control_pair():
    d = np.zeros((19, 15))
    d[:, 3] = 1.0 + 0.1 * np.arange(19)     # exposed pair rises by 0.1 per evaluation
    d[:, 9] = 2.0 + 0.05 * np.arange(19)    # control rises by 0.05
    e = run_effect(d, 3, 9)
    np.testing.assert_allclose(e, 0.05 * np.arange(19))


def test_five_point_alignment_by_hand():
    e = np.arange(19, dtype=float) ** 2
    f = align_five_points(e)
    blocks = [(e[1 + 4 * b] + e[2 + 4 * b]) / 2 for b in range(5)]   # evals (1,2),(5,6),(9,10),(13,14),(17,18)
    np.testing.assert_allclose(f, np.array(blocks) - blocks[0])
    assert f[0] == 0
    assert f[1] == pytest.approx((25 + 36) / 2 - (1 + 4) / 2)
    # evaluation 0 (before training) cancels out
    e2 = e.copy()
    e2[0] = 100
    np.testing.assert_allclose(align_five_points(e2), f)
    with pytest.raises(ValueError, match="19 evaluations"):
        align_five_points(np.zeros(37))


def test_mean_and_sem_over_runs():
    curves = np.array([[0, 1.0], [0, 3.0]])
    m, s = mean_sem(curves)
    np.testing.assert_allclose(m, [0, 2.0])
    np.testing.assert_allclose(s, [0, 1.0 / np.sqrt(2)])        # std ddof 0 = 1


@pytest.fixture(scope="module")
def human():
    h = human_data.load("jia2021")
    conds = ("build", "break", "switch")
    mean = np.stack([h.effect_mean(c)[1:] for c in conds])
    boot = np.stack([h.effects[c][1:] for c in conds])
    return conds, mean, boot


def test_model_equal_to_human_mean_scores_one(human):
    conds, mean, boot = human
    s = score_effects(conds, mean, mean, boot)
    np.testing.assert_allclose(s.rmse, 0)
    np.testing.assert_allclose(s.score, 1)
    assert s.overall_score == 1 and s.overall_sign_agreement == 1


def test_no_learning_scores_zero(human):
    conds, mean, boot = human
    s = score_effects(conds, np.zeros_like(mean), mean, boot)
    np.testing.assert_allclose(s.rmse, s.null_rmse)
    np.testing.assert_allclose(s.score, 0)
    np.testing.assert_allclose(s.sign_agreement, 0)


def test_constant_offset_by_hand(human):
    conds, mean, boot = human
    delta = 0.4
    s = score_effects(conds, mean + delta, mean, boot)
    np.testing.assert_allclose(s.rmse, delta)
    ceiling = np.sqrt(((boot - mean[..., None]) ** 2).mean((1, 2)))
    null = np.sqrt((mean ** 2).mean(1))
    np.testing.assert_allclose(s.ceiling, ceiling)
    np.testing.assert_allclose(s.null_rmse, null)
    np.testing.assert_allclose(s.score, np.clip((null - delta) / (null - ceiling), 0, 1))
    # the ceiling is the human bootstrap spread (~0.2-0.3 d'), well below the effects themselves
    assert (s.ceiling > 0.15).all() and (s.ceiling < 0.35).all()
    assert (null > 0.45).all()
    # a model within the human noise scores 1
    within = score_effects(conds, mean + 0.5 * ceiling[:, None], mean, boot)
    np.testing.assert_allclose(within.score, 1)


def test_score_rejects_bad_shapes_and_nan(human):
    conds, mean, boot = human
    with pytest.raises(ValueError, match="shape mismatch"):
        score_effects(conds, mean[:2], mean, boot)
    bad = mean.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        score_effects(conds, bad, mean, boot)
