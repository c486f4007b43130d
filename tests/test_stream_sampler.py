"""Learning window W, positive-pair jitter, pretraining stand-ins and the exact R batch split."""
import numpy as np
import pytest

from streams.batch_ratio import parse_ratio, split_batch
from streams.stream_sampler import PRETRAIN, SESSION, plan_stream, pretraining_order, step_time

FRAMES = np.arange(54000)          # identity map: image id == frame index


def _plan(W=20.0, steps=1350, n=64, seed=0, jitter=0.2):
    return plan_stream(FRAMES, 0.1, steps, n, 1000, W, jitter, seed=seed)


def test_training_clock_four_seconds_per_step():
    assert step_time(1, 1350, 5400) == pytest.approx(4.0)
    assert step_time(1349, 1350, 5400) == pytest.approx(5396.0)
    assert step_time(75, 1350, 5400) == pytest.approx(300.0)    # evaluation every 5 min


@pytest.mark.parametrize("W", [20.0, 0.5])
def test_window_bounds_and_jitter(W):
    p = _plan(W=W)
    t = step_time(np.arange(1350), 1350, 5400)[:, None]
    assert ((p.tau <= t) & (p.tau >= t - W * 60)).all()
    sess = p.source == SESSION
    # view 1 is the frame at tau, view 2 within +-0.2 s (2 frames) of it
    f1 = np.floor(np.clip(p.tau, 0, None) * 10 + 1e-9).astype(int)
    assert (p.view1[sess] == f1[sess]).all()
    assert (np.abs(p.view2[sess] - p.view1[sess]) <= 2).all()
    assert (np.abs(p.view2[sess] - p.view1[sess]) == 2).any()
    # before the session: a pretraining image for both views
    pre = p.source == PRETRAIN
    assert (pre == (p.tau < 0)).all()
    assert (p.view1[pre] == p.view2[pre]).all() and (p.view1[pre] < 1000).all()
    assert pre[0].all()                                   # step 0: t = 0, all before the session


def test_pretraining_share_matches_the_spec():
    """W = 20 min: 87 %, 62 %, 36 %, 14 %, 0 % pretraining share per 5-min span (realtime.md §4)."""
    p = _plan(W=20.0, n=256)
    minutes = step_time(np.arange(1350), 1350, 5400) / 60
    share = [(p.source[(minutes >= a) & (minutes < a + 5)] == PRETRAIN).mean() for a in (0, 5, 10, 15, 20)]
    np.testing.assert_allclose(share, [0.87, 0.62, 0.36, 0.14, 0.0], atol=0.02)


def test_plan_is_seeded():
    a, b, c = _plan(seed=3), _plan(seed=3), _plan(seed=4)
    np.testing.assert_array_equal(a.view1, b.view1)
    assert not np.array_equal(a.view1, c.view1)


@pytest.mark.parametrize("bad", [0, -1.0, None])
def test_window_must_be_positive(bad):
    with pytest.raises(ValueError, match="learning window W must be > 0"):
        _plan(W=bad)


@pytest.mark.parametrize(
    "pairs,ratio,expected",
    [(64, "1:3", (16, 48)), (64, "1:1", (32, 32)), (64, "3:1", (48, 16)), (256, "1:3", (64, 192)), (8, "1:0", (8, 0))],
)
def test_exact_batch_split(pairs, ratio, expected):
    assert split_batch(pairs, ratio) == expected


@pytest.mark.parametrize("ratio", ["1/3", "a:b", "1:3:1", "", "-1:3", "0:0"])
def test_malformed_ratio(ratio):
    with pytest.raises(ValueError, match="ratio"):
        split_batch(64, ratio)


def test_ratio_that_does_not_divide_the_batch():
    with pytest.raises(ValueError, match="does not split a batch of 10"):
        split_batch(10, "1:3")
    assert parse_ratio(" 3 : 1 ") == (3.0, 1.0)


def test_pretraining_order_restarts_identically_and_covers_epochs():
    a = pretraining_order(100, 30, 10, seed=0)
    b = pretraining_order(100, 30, 10, seed=0)
    np.testing.assert_array_equal(a, b)
    flat = a.reshape(-1)
    for e in range(3):                               # every epoch is a permutation
        assert sorted(flat[e * 100:(e + 1) * 100]) == list(range(100))
