"""The simulated session follows the human protocol exactly (realtime.md §2)."""
import numpy as np
import pytest

from streams.face_pairs import control_candidates, face_pairs
from streams.session import SessionProtocol, build_session, exposure_pairs
from streams.stimulus_set import GRAY_ID
from tests.stim_fixture import tiny_stimulus_set

STIM = tiny_stimulus_set()


def test_protocol_constants():
    p = SessionProtocol()
    assert p.phase_frames == 6000
    assert p.total_frames == 54000
    assert p.total_seconds == pytest.approx(5400)
    assert p.switch_frame == 24000
    assert p.phases == "TETETETET"


def test_fifteen_pairs_in_experiment_order():
    pairs = face_pairs()
    assert len(pairs) == 15
    assert pairs[0] == (0, 1) and pairs[4] == (0, 5) and pairs[5] == (1, 2) and pairs[14] == (4, 5)
    for i, (a, b) in enumerate(pairs):
        cands = control_candidates(i)
        assert len(cands) == 6
        assert cands == sorted(cands)
        assert all(not {a, b} & set(pairs[c]) for c in cands)


@pytest.mark.parametrize("condition", ["build", "break", "switch"])
def test_phase_frame_counts_and_events(condition):
    s = build_session(STIM, 3, condition)
    f = s.frames
    assert f.shape == (54000,)
    # 4 exposure phases x 400 events, each: image1, image2, 13 gray frames
    assert len(s.exposure_onsets) == 1600
    for k, phase in enumerate("TETETETET"):
        block = f[k * 6000:(k + 1) * 6000]
        if phase == "E":
            ev = block.reshape(400, 15)
            assert (ev[:, :2] != GRAY_ID).all()
            assert (ev[:, 2:] == GRAY_ID).all()
        else:
            tr = block.reshape(200, 30)
            assert (tr[:, 0] != GRAY_ID).all()             # test image, 1 frame
            looks = tr[:, 1:25].reshape(200, 4, 6)
            assert (looks == looks[:, :, :1]).all()        # each look lasts 6 frames
            assert (looks[:, 0, 0] != looks[:, 1, 0]).all()  # looks alternate between the 2 choices
            assert (looks[:, 0, 0] == looks[:, 2, 0]).all()
            assert (tr[:, 25:] == GRAY_ID).all()            # 5 gray frames


def _event_pairs(s):
    return s.frames[s.exposure_onsets], s.frames[s.exposure_onsets + 1]


def test_build_and_break_exposure_pairs():
    a, b = face_pairs()[7]
    m, big = STIM.choice.tolist(), STIM.exposure_big.tolist()
    build = {tuple(int(x) for x in p) for p in exposure_pairs(STIM, a, b, "build")}
    assert build == {(m[a], big[a]), (big[a], m[a]), (big[b], m[b]), (m[b], big[b])}
    brk = {tuple(int(x) for x in p) for p in exposure_pairs(STIM, a, b, "break")}
    assert brk == {(m[a], big[b]), (m[b], big[a]), (big[a], m[b]), (big[b], m[a])}
    for cond, allowed in (("build", build), ("break", brk)):
        i1, i2 = _event_pairs(build_session(STIM, 7, cond))
        seen = set(zip(i1.tolist(), i2.tolist()))
        assert seen == allowed   # all 4 directed pairs occur


def test_switch_changes_at_40_minutes():
    a, b = face_pairs()[2]
    build = {tuple(int(x) for x in p) for p in exposure_pairs(STIM, a, b, "build")}
    brk = {tuple(int(x) for x in p) for p in exposure_pairs(STIM, a, b, "break")}
    s = build_session(STIM, 2, "switch")
    i1, i2 = _event_pairs(s)
    before = s.exposure_onsets <= 24000
    assert before.sum() == 800                       # E blocks 1-2 (10-20, 30-40 min)
    assert set(zip(i1[before].tolist(), i2[before].tolist())) <= build
    assert set(zip(i1[~before].tolist(), i2[~before].tolist())) <= brk
    assert s.exposure_onsets[before].max() < 24000 < s.exposure_onsets[~before].min()


def test_conditions_share_every_draw():
    sessions = [build_session(STIM, 5, c, seed=1) for c in ("build", "break", "switch")]
    expo = np.zeros(54000, bool)
    expo[sessions[0].exposure_onsets] = True
    expo[sessions[0].exposure_onsets + 1] = True
    for s in sessions[1:]:
        assert s.control_pair_index == sessions[0].control_pair_index
        np.testing.assert_array_equal(s.frames[~expo], sessions[0].frames[~expo])


def test_test_trials_use_their_own_pair_and_the_80_image_pool():
    s = build_session(STIM, 0, "build", seed=0)
    a, b = s.faces
    c, d = s.control_faces
    pool = set()
    for p, q in ((a, b), (c, d)):
        for table in (STIM.test_big, STIM.test_small):
            pool |= set(np.concatenate([table[p].numpy(), table[q].numpy()])[::2].tolist())
    assert len(pool) == 80
    trials = np.concatenate([s.frames[k * 6000:(k + 1) * 6000].reshape(200, 30) for k in (0, 2, 4, 6, 8)])
    assert set(trials[:, 0].tolist()) <= pool
    owner = {}
    for which, (p, q) in enumerate(((a, b), (c, d))):
        for table in (STIM.test_big, STIM.test_small):
            for i in (p, q):
                for img in table[i].tolist():
                    owner[img] = {int(STIM.choice[p]), int(STIM.choice[q])}
    for row in trials:
        assert {int(row[1]), int(row[7])} == owner[int(row[0])]


def test_control_pair_is_disjoint_and_seeded():
    for p in range(15):
        s1 = build_session(STIM, p, "build", seed=0)
        s2 = build_session(STIM, p, "build", seed=0)
        assert s1.control_pair_index == s2.control_pair_index
        assert not set(s1.faces) & set(s1.control_faces)
        assert s1.control_pair_index in control_candidates(p)


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown condition 'swap'"):
        build_session(STIM, 0, "swap")
    with pytest.raises(ValueError, match="pair index 15"):
        build_session(STIM, 15, "build")
    with pytest.raises(ValueError, match="exposure phase"):
        SessionProtocol(exposure_events=300)
