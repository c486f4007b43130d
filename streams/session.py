"""The simulated human session as a compact frame -> image-id index (realtime.md §2).

A session is 9 phases (T E T E T E T E T) of 10 minutes on a 0.1 s frame grid: 54,000 frames,
each an integer id into a :class:`~streams.stimulus_set.StimulusSet` image store (id 0 = gray).
No video is ever materialised.

Random draws (control pair, test images, first choice image of each trial, directed exposure
pair of each event) come from one generator seeded by (seed, pair index) and do not depend on
the condition, so the build, break and switch sessions of one pair differ only in which images
fill the exposure frames — as in the original.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .face_pairs import control_candidates, face_pairs
from .stimulus_set import GRAY_ID, StimulusSet

CONDITIONS = ("build", "break", "switch")


@dataclass(frozen=True)
class SessionProtocol:
    """Constants of the human session; defaults are the paper's (realtime.md §2, §11)."""

    phases: str = "TETETETET"
    phase_minutes: float = 10.0
    frame_seconds: float = 0.1
    exposure_events: int = 400          # per exposure phase
    exposure_event_frames: int = 15     # image1, image2, then 13 gray frames
    test_trials: int = 200              # per test phase
    test_trial_frames: int = 30         # test image, looks, gray
    looks: int = 4                      # alternating looks at the two choice images
    look_frames: int = 6
    switch_minute: float = 40.0         # switch: build exposures up to here, break after

    def __post_init__(self) -> None:
        if set(self.phases) - {"T", "E"} or not self.phases:
            raise ValueError(f"session phases must be a string of 'T' and 'E', got {self.phases!r}")
        pf = self.phase_frames
        if self.exposure_events * self.exposure_event_frames != pf:
            raise ValueError(
                f"exposure phase: {self.exposure_events} events x {self.exposure_event_frames} frames "
                f"!= {pf} frames per phase"
            )
        if self.exposure_event_frames < 2:
            raise ValueError("an exposure event needs at least 2 frames (image1, image2)")
        if self.test_trials * self.test_trial_frames != pf:
            raise ValueError(
                f"test phase: {self.test_trials} trials x {self.test_trial_frames} frames != {pf} frames per phase"
            )
        if 1 + self.looks * self.look_frames > self.test_trial_frames:
            raise ValueError("test trial too short for the test frame plus its looks")

    @property
    def phase_frames(self) -> int:
        return int(round(self.phase_minutes * 60 / self.frame_seconds))

    @property
    def total_frames(self) -> int:
        return self.phase_frames * len(self.phases)

    @property
    def total_seconds(self) -> float:
        return self.total_frames * self.frame_seconds

    @property
    def switch_frame(self) -> int:
        return int(round(self.switch_minute * 60 / self.frame_seconds))


def exposure_pairs(stim: StimulusSet, a: int, b: int, condition: str) -> np.ndarray:
    """The 4 directed exposure pairs (image1, image2) of a condition, as image ids (realtime.md §1.3).

    ``condition`` is 'build' or 'break' (switch uses both, split at the switch time).
    """
    m = stim.choice.numpy()
    big = stim.exposure_big.numpy()
    if condition == "build":
        pairs = [(m[a], big[a]), (big[a], m[a]), (big[b], m[b]), (m[b], big[b])]
    elif condition == "break":
        pairs = [(m[a], big[b]), (m[b], big[a]), (big[a], m[b]), (big[b], m[a])]
    else:
        raise ValueError(f"exposure pairs exist for 'build' and 'break', got {condition!r}")
    return np.asarray(pairs, dtype=np.int64)


@dataclass(frozen=True)
class Session:
    """One simulated session: the frame index and what was drawn to build it."""

    frames: np.ndarray              # int64 [total_frames] image ids
    condition: str
    pair_index: int
    faces: tuple[int, int]          # identity indices (A, B)
    control_pair_index: int
    control_faces: tuple[int, int]
    exposure_onsets: np.ndarray     # frame index of image1 of every exposure event
    protocol: SessionProtocol

    @property
    def frame_seconds(self) -> float:
        return self.protocol.frame_seconds


def build_session(
    stim: StimulusSet,
    pair_index: int,
    condition: str,
    protocol: SessionProtocol | None = None,
    seed: int = 0,
) -> Session:
    """Simulate the session of one exposed face pair under one condition."""
    protocol = protocol or SessionProtocol()
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; expected one of {', '.join(CONDITIONS)}")
    pairs = face_pairs(stim.n_identities)
    if not 0 <= pair_index < len(pairs):
        raise ValueError(f"pair index {pair_index} out of range 0..{len(pairs) - 1}")
    if stim.n_test < 2:
        raise ValueError(f"the session needs at least 2 test images per identity and size, got {stim.n_test}")
    rng = np.random.default_rng([seed, pair_index])

    # control pair: first draw, among the disjoint pairs in sorted order
    candidates = control_candidates(pair_index, stim.n_identities)
    control = candidates[int(rng.integers(len(candidates)))]
    a, b = pairs[pair_index]
    c, d = pairs[control]

    # test-trial pool: every second item of each pair's [big A, big B] and [small A, small B]
    # lists, for the exposed and the control pair (80 images at 20 per identity and size)
    pool, pool_pair = [], []
    for which, (p, q) in enumerate(((a, b), (c, d))):
        for table in (stim.test_big, stim.test_small):
            items = np.concatenate([table[p].numpy(), table[q].numpy()])[::2]
            pool.append(items)
            pool_pair.append(np.full(len(items), which))
    pool = np.concatenate(pool)
    pool_pair = np.concatenate(pool_pair)
    choice_of = np.array([[stim.choice[a], stim.choice[b]], [stim.choice[c], stim.choice[d]]], dtype=np.int64)

    pf = protocol.phase_frames
    frames = np.full(protocol.total_frames, GRAY_ID, dtype=np.int64)
    onsets = []
    build_pairs = exposure_pairs(stim, a, b, "build")
    break_pairs = exposure_pairs(stim, a, b, "break")
    for k, phase in enumerate(protocol.phases):
        start = k * pf
        if phase == "T":
            n, tf = protocol.test_trials, protocol.test_trial_frames
            pick = rng.integers(len(pool), size=n)
            first = rng.integers(2, size=n)
            trial_starts = start + np.arange(n) * tf
            frames[trial_starts] = pool[pick]
            choices = choice_of[pool_pair[pick]]                      # [n, 2]
            for look in range(protocol.looks):
                img = choices[np.arange(n), (first + look) % 2]
                for f in range(protocol.look_frames):
                    frames[trial_starts + 1 + look * protocol.look_frames + f] = img
        else:
            n, ef = protocol.exposure_events, protocol.exposure_event_frames
            which = rng.integers(4, size=n)
            ev_starts = start + np.arange(n) * ef
            if condition == "build":
                chosen = build_pairs[which]
            elif condition == "break":
                chosen = break_pairs[which]
            else:
                use_build = ev_starts <= protocol.switch_frame
                chosen = np.where(use_build[:, None], build_pairs[which], break_pairs[which])
            frames[ev_starts] = chosen[:, 0]
            frames[ev_starts + 1] = chosen[:, 1]
            onsets.append(ev_starts)
    return Session(
        frames=frames,
        condition=condition,
        pair_index=pair_index,
        faces=(a, b),
        control_pair_index=control,
        control_faces=(c, d),
        exposure_onsets=np.concatenate(onsets) if onsets else np.zeros(0, dtype=np.int64),
        protocol=protocol,
    )
