"""The life-long curriculum (lifelong.md §3-§8): window, memory modes, R, partners."""
from __future__ import annotations

import numpy as np
import pytest

from streams.curriculum import MEMORY, WINDOW, Curriculum, CurriculumSettings, window_indices
from streams.frame_timeline import FrameTimeline


def timeline(video_lengths=(300, 200, 500, 250, 750), chunk_videos=(2, 1, 2)) -> FrameTimeline:
    vo = np.concatenate([[0], np.cumsum(video_lengths)])
    co = np.concatenate([[0], vo[np.cumsum(chunk_videos)]])
    return FrameTimeline(tuple(f"v{i}" for i in range(len(video_lengths))), vo, co, fps=25.0)


def settings(**kw) -> CurriculumSettings:
    base = dict(window_frames=100, ratio="1:3", batch_pairs=16, pairs_per_epoch=16 * 20, seed=3)
    base.update(kw)
    return CurriculumSettings(**base)


def test_window_is_centred_and_sweeps_linearly_through_the_chunk():
    rng = np.random.default_rng(0)
    length, window, n = 1000, 100, 400
    idx, hi = window_indices(length, window, n, rng)
    centre = (np.arange(n) * length) // n
    assert np.all(np.abs(idx - centre) <= window // 2)
    assert np.all((idx >= 0) & (idx < length))
    assert np.all(idx >= np.maximum(0, centre - 50)) and np.all(idx < np.minimum(length, centre + 50))
    # clipped (not shifted) at the edges: early samples stay within [0, centre + 50)
    assert idx[:5].max() < 50 + centre[4]
    # the sweep is linear: mean index per tenth of the epoch rises by ~length / 10
    means = idx.reshape(10, -1).mean(1)
    np.testing.assert_allclose(np.diff(means), length / 10, atol=15)
    # a window longer than the chunk covers the chunk
    idx2, _ = window_indices(50, 1000, 200, rng)
    assert idx2.min() >= 0 and idx2.max() < 50


def test_batches_hold_exact_R_proportions_window_first():
    tl = timeline()
    for ratio, (n_w, n_m) in {"1:3": (4, 12), "1:1": (8, 8), "3:1": (12, 4)}.items():
        plan = Curriculum(tl, settings(ratio=ratio)).plan_epoch(1)
        assert plan.view1.shape == (20, 16)
        assert np.all(plan.source[:, :n_w] == WINDOW) and np.all(plan.source[:, n_w:] == MEMORY)
        assert (plan.source == WINDOW).sum() == 20 * n_w


def test_window_samples_stay_in_the_current_chunk():
    tl = timeline()
    for e in range(tl.n_chunks):
        plan = Curriculum(tl, settings()).plan_epoch(e)
        lo, hi = tl.chunk_range(e)
        w = plan.view1[plan.source == WINDOW]
        assert w.min() >= lo and w.max() < hi


def test_partners_within_minus4_plus5_frames_of_the_same_video():
    tl = timeline()
    plan = Curriculum(tl, settings(pairs_per_epoch=16 * 200)).plan_epoch(2)
    d = plan.view2 - plan.view1
    assert d.min() == -4 and d.max() == 5                     # the full range is used
    assert np.array_equal(tl.video_of(plan.view1), tl.video_of(plan.view2))
    assert abs((d == 0).mean() - 0.1) < 0.02                  # 1/10 away from the video ends


def test_memory_original_includes_the_unseen_rest_of_the_chunk():
    tl = timeline()
    plan = Curriculum(tl, settings(pairs_per_epoch=16 * 200)).plan_epoch(1)
    lo, hi = tl.chunk_range(1)
    m = plan.view1[plan.source == MEMORY]
    assert m.min() >= 0 and m.max() < hi
    assert (m < lo).any()                                     # replays chunk 0
    ahead = sum(int((plan.view1[t][plan.source[t] == MEMORY] >= lo + plan.window_hi[t]).sum())
                for t in range(plan.steps))
    assert ahead > 0                                          # non-causal: frames the window has not reached


def test_memory_causal_never_replays_frames_the_window_has_not_reached():
    tl = timeline()
    cur = Curriculum(tl, settings(memory_mode="causal", pairs_per_epoch=16 * 100))
    for e in range(tl.n_chunks):
        plan = cur.plan_epoch(e)
        base = tl.chunk_offsets[e]
        for t in range(plan.steps):
            mem = plan.view1[t][plan.source[t] == MEMORY]
            assert mem.max() < base + plan.window_hi[t]
            win = plan.view1[t][plan.source[t] == WINDOW]
            assert win.max() < base + plan.window_hi[t]


def test_memory_strict_uses_only_earlier_chunks_and_chunk0_at_epoch0():
    tl = timeline()
    cur = Curriculum(tl, settings(memory_mode="strict", pairs_per_epoch=16 * 100))
    m0 = cur.plan_epoch(0)
    assert m0.view1[m0.source == MEMORY].max() < tl.chunk_offsets[1]
    m2 = cur.plan_epoch(2)
    assert m2.view1[m2.source == MEMORY].max() < tl.chunk_offsets[2]
    k1 = Curriculum(tl, settings(memory_mode="strict", memory_chunks=1, pairs_per_epoch=16 * 100)).plan_epoch(2)
    mem = k1.view1[k1.source == MEMORY]
    assert mem.min() >= tl.chunk_offsets[1] and mem.max() < tl.chunk_offsets[2]


def test_memory_chunks_keeps_only_the_last_k_chunks():
    tl = timeline()
    plan = Curriculum(tl, settings(memory_chunks=2, pairs_per_epoch=16 * 100)).plan_epoch(2)
    mem = plan.view1[plan.source == MEMORY]
    assert mem.min() >= tl.chunk_offsets[1] and mem.max() < tl.chunk_offsets[3]


def test_reservoir_is_bounded_causal_and_reproducible():
    tl = timeline()
    s = settings(memory_mode="reservoir", reservoir_size=64, pairs_per_epoch=16 * 50)
    cur = Curriculum(tl, s)
    slots, seen = cur.reservoir_before(2)
    assert seen == tl.chunk_offsets[2]
    assert len(np.unique(slots)) == 64 and slots.max() < seen    # full, distinct, only frames seen
    # algorithm R keeps a uniform sample: the mean slot sits near the middle of what was seen
    assert abs(slots.mean() - seen / 2) < seen / 5
    plan = cur.plan_epoch(2)
    base = tl.chunk_offsets[2]
    for t in range(plan.steps):
        mem = plan.view1[t][plan.source[t] == MEMORY]
        assert mem.max() < base + plan.window_hi[t]
    again = Curriculum(tl, s).plan_epoch(2)                    # recomputed from the epoch index alone
    assert np.array_equal(plan.view1, again.view1) and np.array_equal(plan.view2, again.view2)
    # at epoch 0 the reservoir fills in frame order
    p0 = cur.plan_epoch(0)
    assert p0.view1[0][p0.source[0] == MEMORY].max() < p0.window_hi[0]


def test_plans_are_deterministic_per_seed_and_epoch():
    tl = timeline()
    a = Curriculum(tl, settings()).plan_epoch(1)
    b = Curriculum(tl, settings()).plan_epoch(1)
    c = Curriculum(tl, settings(seed=4)).plan_epoch(1)
    assert np.array_equal(a.view1, b.view1) and np.array_equal(a.view2, b.view2)
    assert not np.array_equal(a.view1, c.view1)


@pytest.mark.parametrize("kw, match", [
    (dict(window_frames=1), "window W"),
    (dict(window_frames=0), "window W"),
    (dict(ratio="1-3"), "malformed ratio"),
    (dict(ratio="1:2", batch_pairs=16), "does not split"),
    (dict(memory_mode="fifo"), "memory mode 'fifo'"),
    (dict(memory_mode="reservoir", memory_chunks=2), "reservoir"),
    (dict(partner_offsets=(1, 5)), "partner_offsets"),
    (dict(pairs_per_epoch=8), "smaller than one batch"),
])
def test_bad_settings_name_the_value(kw, match):
    with pytest.raises(ValueError, match=match):
        settings(**kw)
