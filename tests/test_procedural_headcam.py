"""The procedural head-cam stream and its object read-out set (streams.procedural_headcam)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from streams.frame_source import FrameSource, InMemoryFrames
from streams.frame_timeline import DAYS_PER_MONTH, chunks_by_frames
from streams.labelled_images import LabelledImages
from streams.procedural_headcam import (
    CATEGORY_NAMES,
    HeadcamFrames,
    make_headcam_stream,
    make_object_eval_set,
    render_sprites,
    category_prototypes,
    sample_instances,
)

# a small stream: 4 days x 300 frames at 16 px, 6 episodes a day
SMALL = dict(n_days=4, frames_per_day=300, image_size=16, seed=0, n_chunks=3, n_scenes=5, scenes_per_day=2,
             objects_per_day=2, episode_frames=50, n_categories=6)


@pytest.fixture(scope="module")
def small() -> HeadcamFrames:
    return make_headcam_stream(**SMALL)


def _stream(**kw) -> HeadcamFrames:
    return make_headcam_stream(**{**SMALL, **kw})


def _mad(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute pixel difference per pair."""
    return (a.float() - b.float()).abs().mean(dim=(1, 2, 3))


# ============================================================================================== stream
def test_shapes_dtype_and_frame_source(small):
    assert isinstance(small, InMemoryFrames) and isinstance(small, FrameSource)
    assert small.images.dtype == torch.uint8
    assert tuple(small.images.shape) == (4 * 300, 3, 16, 16)
    assert small.image_size == 16 and len(small) == 1200
    got = small.get(torch.tensor([5, 0, 1199]))
    assert torch.equal(got, small.images[[5, 0, 1199]])
    m = small.meta
    for name in ("day", "episode", "scene", "category", "instance"):
        assert getattr(m, name).shape == (1200,), name
    assert m.class_names == CATEGORY_NAMES[:6]
    # not a blank stream: frames use a good part of the grey range
    assert small.images.float().std() > 20


def test_timeline_days_chunks_ages(small):
    tl = small.timeline
    assert tl.n_videos == 4 and tl.video_names == ("day_0001", "day_0002", "day_0003", "day_0004")
    assert np.array_equal(tl.video_lengths(), [300] * 4)
    assert tl.n_chunks == 3 and np.array_equal(tl.chunk_offsets, chunks_by_frames(tl.video_offsets, 3))
    assert tl.fps == 25.0
    ages = tl.video_age_days
    assert np.all(np.diff(ages) > 0)
    assert ages[0] == pytest.approx(6.0 * DAYS_PER_MONTH) and ages[-1] == pytest.approx(30.0 * DAYS_PER_MONTH)
    assert tl.age_months_after(-1) == pytest.approx(6.0)
    assert np.array_equal(small.meta.day, np.repeat(np.arange(4), 300))
    one = make_headcam_stream(n_days=1, frames_per_day=60, image_size=16, n_chunks=2, objects_per_day=1,
                              episode_frames=30, age_months=(9.0, 12.0), fps=30.0)
    assert one.timeline.n_videos == 1 and one.timeline.n_chunks == 2 and one.timeline.fps == 30.0
    assert one.timeline.video_age_days[0] == pytest.approx(9.0 * DAYS_PER_MONTH)


def test_deterministic_and_seed_dependent(small):
    again = make_headcam_stream(**SMALL)
    assert torch.equal(small.images, again.images)
    assert np.array_equal(small.meta.instance, again.meta.instance)
    assert np.array_equal(small.meta.scene, again.meta.scene)
    other = _stream(seed=1)
    assert not torch.equal(small.images, other.images)
    assert _mad(small.images[:50], other.images[:50]).mean() > 10


def test_temporal_contiguity(small):
    x = small.images
    n = len(x)
    same_day = small.meta.day[:-1] == small.meta.day[1:]
    consecutive = _mad(x[:-1], x[1:])[torch.from_numpy(same_day)].mean()
    gen = torch.Generator().manual_seed(0)
    i = torch.randint(0, n, (400,), generator=gen)
    j = torch.randint(0, n, (400,), generator=gen)
    far = torch.from_numpy(np.abs(i.numpy() - j.numpy()) > 200)
    far_diff = _mad(x[i], x[j])[far].mean()
    across = _mad(x[:300], x[300:600]).mean()  # day 1 vs day 2, frame by frame
    assert consecutive < 0.3 * far_diff, (consecutive, far_diff)
    assert consecutive < 0.3 * across, (consecutive, across)


def test_episodes_objects_enter_and_leave(small):
    m = small.meta
    ep_len = m.episode_length
    assert ep_len.sum() == 1200 and len(ep_len) == 4 * 6
    assert abs(ep_len.mean() - 50) < 1 and ep_len.min() >= 0.6 * 50 and ep_len.max() <= 1.4 * 50
    # every episode: the object is visible for one contiguous stretch of about 80 % of it, then gone
    for e in range(len(ep_len)):
        lo, hi = m.episode_start[e], m.episode_start[e] + ep_len[e]
        vis = m.instance[lo:hi] >= 0
        assert vis.sum() == m.episode_visible_length[e]
        assert 0.6 <= vis.mean() <= 0.95, (e, vis.mean())
        on = np.flatnonzero(vis)
        assert np.all(np.diff(on) == 1)                       # one run
        assert np.all(m.instance[lo:hi][vis] == m.episode_instance[e])
        assert np.all(m.category[lo:hi][vis] == m.instances.category[m.episode_instance[e]].item())
    # objects enter and leave: both transitions occur in every day
    inst = m.instance
    enter = (inst[:-1] < 0) & (inst[1:] >= 0)
    leave = (inst[:-1] >= 0) & (inst[1:] < 0)
    for d in range(4):
        day = slice(d * 300, (d + 1) * 300 - 1)
        assert enter[day].sum() >= 3 and leave[day].sum() >= 3
    assert np.all(m.category[inst < 0] == -1)


def test_metadata_marks_exactly_the_frames_with_an_object(small):
    # the same stream without objects shares scenes, camera and noise: frames differ exactly where the
    # metadata says an object is in view
    empty = _stream(objects_per_day=0)
    assert np.all(empty.meta.instance == -1)
    diff = _mad(small.images, empty.images).numpy()
    has = small.meta.instance >= 0
    assert np.all(diff[~has] == 0)
    assert np.mean(diff[has] > 0.5) > 0.97, np.mean(diff[has] > 0.5)
    # the object is a sizeable part of the frame while it is held (mid-episode)
    mid = has.copy()
    for e in range(len(small.meta.episode_length)):
        s, n = small.meta.episode_visible_start[e], small.meta.episode_visible_length[e]
        mid[s : s + n // 4] = False
        mid[s + 3 * n // 4 : s + n] = False
    changed = (small.images.float() - empty.images.float()).abs().amax(dim=1) > 8
    frac = changed.float().mean(dim=(1, 2)).numpy()
    assert 0.05 < frac[mid].mean() < 0.6, frac[mid].mean()


def test_diversity_knobs():
    one_scene = _stream(n_scenes=1)
    assert np.all(one_scene.meta.scene == 0)
    many = _stream(n_scenes=5, scenes_per_day=3)
    for d in range(4):
        assert len(np.unique(many.meta.scene[many.meta.day == d])) == 3
    for k in (1, 3):
        s = _stream(objects_per_day=k)
        for d in range(4):
            seen = s.meta.instance[(s.meta.day == d) & (s.meta.instance >= 0)]
            assert len(np.unique(seen)) == k, (k, d)
    # a single instance per category: every sighting of a category is the same object
    s = _stream(instances_per_category=1)
    assert len(s.meta.instances) == 6


def test_motion_knob():
    def background_change(frames: HeadcamFrames) -> float:
        m = frames.meta
        ok = (m.instance[:-1] < 0) & (m.instance[1:] < 0) & (m.episode[:-1] == m.episode[1:])
        return float(_mad(frames.images[:-1], frames.images[1:])[torch.from_numpy(ok)].mean())

    still = background_change(_stream(motion=0.0))
    moving = background_change(_stream(motion=1.0))
    fast = background_change(_stream(motion=3.0))
    assert still < 2.5  # sensor noise only
    assert moving > 2 * still and fast > 1.3 * moving, (still, moving, fast)


def test_drift_knob():
    # one episode (and one scene) a day over 120 days
    kw = dict(n_days=120, frames_per_day=25, image_size=16, episode_frames=25, n_scenes=10, scenes_per_day=1,
              objects_per_day=1, n_categories=6, n_chunks=1)

    def halves_distance(values: np.ndarray, k: int) -> float:
        """Total-variation distance between the histograms of the first and the second half."""
        h = len(values) // 2
        p = np.bincount(values[:h], minlength=k) / h
        q = np.bincount(values[h:], minlength=k) / (len(values) - h)
        return 0.5 * float(np.abs(p - q).sum())

    def distances(drift: float) -> np.ndarray:
        out = []
        for seed in range(3):
            m = make_headcam_stream(seed=seed, drift=drift, **kw).meta
            cats = m.instances.category[m.episode_instance].numpy()
            out.append((halves_distance(m.episode_scene, 10), halves_distance(cats, 6)))
        return np.mean(out, axis=0)

    drifting, stationary = distances(1.0), distances(0.0)
    assert np.all(drifting > stationary + 0.1) and np.all(drifting > 1.5 * stationary), (drifting, stationary)
    # the light drifts across days unless switched off
    lit = make_headcam_stream(seed=0, light_drift=1.0, **kw).meta.day_light
    flat = make_headcam_stream(seed=0, light_drift=0.0, **kw).meta.day_light
    assert np.allclose(flat, 1.0) and lit.std(axis=0).min() > 0.03


# ============================================================================================== eval set
@pytest.fixture(scope="module")
def eval_set():
    return make_object_eval_set(n_categories=6, train_per_class=12, test_per_class=5, image_size=16, seed=0)


def test_eval_set_shapes_balance_determinism(eval_set):
    assert isinstance(eval_set, LabelledImages)
    assert eval_set.class_names == ("star5", "ring", "cross", "crescent", "triangle", "square")
    assert tuple(eval_set.train_images.shape) == (72, 3, 16, 16) and eval_set.train_images.dtype == torch.uint8
    assert tuple(eval_set.test_images.shape) == (30, 3, 16, 16)
    assert np.array_equal(np.bincount(eval_set.train_labels), [12] * 6)
    assert np.array_equal(np.bincount(eval_set.test_labels), [5] * 6)
    assert torch.equal(eval_set.train_instances.category, torch.from_numpy(eval_set.train_labels))
    again = make_object_eval_set(n_categories=6, train_per_class=12, test_per_class=5, image_size=16, seed=0)
    assert torch.equal(again.train_images, eval_set.train_images)
    assert torch.equal(again.test_images, eval_set.test_images)
    other = make_object_eval_set(n_categories=6, train_per_class=12, test_per_class=5, image_size=16, seed=1)
    assert not torch.equal(other.train_images, eval_set.train_images)


def test_eval_instances_are_held_out(small, eval_set):
    pool = small.meta.instances.param_matrix()
    tr, te = eval_set.train_instances.param_matrix(), eval_set.test_instances.param_matrix()
    assert torch.cdist(tr, pool).min() > 1e-3
    assert torch.cdist(te, pool).min() > 1e-3
    assert torch.cdist(te, tr).min() > 1e-3
    assert len(torch.unique(tr, dim=0)) == len(tr)
    stream_frames = {bytes(f.numpy().tobytes()) for f in small.images}
    for img in torch.cat([eval_set.train_images, eval_set.test_images]):
        assert bytes(img.numpy().tobytes()) not in stream_frames


def _rotation_invariant_features(alpha: torch.Tensor) -> torch.Tensor:
    """|FFT over angle| of the silhouette sampled on a polar grid about the sprite centre."""
    n = alpha.shape[0]
    radii = torch.linspace(0.1, 0.95, 10)
    angles = torch.arange(48) * (2 * math.pi / 48)
    gx = radii[:, None] * torch.cos(angles)[None]
    gy = radii[:, None] * torch.sin(angles)[None]
    grid = torch.stack([gx, gy], -1).expand(n, -1, -1, -1)
    polar = F.grid_sample(alpha, grid, align_corners=False)[:, 0]  # [n, radii, angles]
    return torch.fft.rfft(polar, dim=-1).abs()[..., :12].reshape(n, -1)


def _nearest_mean_accuracy(ftr: torch.Tensor, ytr: torch.Tensor, fte: torch.Tensor, yte: torch.Tensor) -> float:
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
    ftr, fte = (ftr - mu) / sd, (fte - mu) / sd
    means = torch.stack([ftr[ytr == c].mean(0) for c in range(int(ytr.max()) + 1)])
    return float((torch.cdist(fte, means).argmin(1) == yte).float().mean())


def _shape_and_colour_accuracy(typicality: float) -> tuple[float, float]:
    """Nearest-class-mean accuracy (chance 0.1) from rotation-invariant silhouette features and from the
    object's colour statistics, on 10 categories x 30 instances."""
    n_cat, per = 10, 30
    gen = torch.Generator().manual_seed(123)
    labels = torch.arange(n_cat).repeat_interleave(per)
    inst = sample_instances(labels, gen, typicality)
    sprites = render_sprites(inst, 48)
    # rotate every silhouette at random, as in the stream and the eval set
    ang = torch.rand(len(labels), generator=gen) * 2 * math.pi
    c, s = torch.cos(ang), torch.sin(ang)
    theta = torch.stack([torch.stack([c, s, 0 * c], 1), torch.stack([-s, c, 0 * c], 1)], 1)
    grid = F.affine_grid(theta, [len(labels), 4, 48, 48], align_corners=False)
    rot = F.grid_sample(sprites, grid, align_corners=False)
    alpha = rot[:, 3:4]
    train = (torch.arange(len(labels)) % per) < 20
    shape_f = _rotation_invariant_features(alpha)
    shape_acc = _nearest_mean_accuracy(shape_f[train], labels[train], shape_f[~train], labels[~train])
    # colour statistics of the object (mean and std of each channel over its pixels)
    w = alpha.clamp_min(1e-6)
    rgb = rot[:, :3] / w
    mean = (rgb * alpha).sum((2, 3)) / alpha.sum((2, 3))
    std = ((rgb - mean[..., None, None]) ** 2 * alpha).sum((2, 3)).div(alpha.sum((2, 3))).sqrt()
    colour_f = torch.cat([mean, std], 1)
    colour_acc = _nearest_mean_accuracy(colour_f[train], labels[train], colour_f[~train], labels[~train])
    return shape_acc, colour_acc


def test_shape_only_world_hides_the_category_in_the_silhouette():
    shape_acc, colour_acc = _shape_and_colour_accuracy(typicality=0.0)
    assert shape_acc > 0.6, shape_acc          # chance 0.1
    assert colour_acc < 0.25, colour_acc


def test_typical_instances_wear_their_category_surface():
    shape_acc, colour_acc = _shape_and_colour_accuracy(typicality=0.8)
    assert shape_acc > 0.6, shape_acc          # the silhouette still tells the category
    assert colour_acc > 0.5, colour_acc        # and now the surface mostly does too
    labels = torch.arange(10).repeat_interleave(200)
    plain = sample_instances(labels, torch.Generator().manual_seed(7), 0.0)
    mixed = sample_instances(labels, torch.Generator().manual_seed(7), 0.8)
    proto = category_prototypes()
    # typical = has the prototype hue pair; every other instance is exactly the shape-only world's
    same = (mixed.colour1 == plain.colour1).all(1) & (mixed.texture == plain.texture)
    typical = ~same
    assert 0.75 < float(typical.float().mean()) < 0.85
    assert torch.equal(mixed.texture[typical], proto.texture[labels[typical]])
    for k in ("shape_a", "shape_b", "aspect", "size", "outline", "shade_angle", "tex_angle", "tex_phase"):
        assert torch.equal(getattr(mixed, k), getattr(plain, k)), k      # never depend on typicality
    ratio = mixed.tex_freq[typical] / proto.tex_freq[labels[typical]]
    assert float(ratio.min()) >= 0.85 - 1e-6 and float(ratio.max()) <= 1.15 + 1e-6
    # hue of colour 1 (from RGB) within a few s.d. of the prototype's
    rgb = mixed.colour1[typical]
    mx, mn = rgb.max(1).values, rgb.min(1).values
    r, g, b = rgb.unbind(1)
    d = (mx - mn).clamp_min(1e-6)
    h = torch.where(mx == r, ((g - b) / d) % 6, torch.where(mx == g, (b - r) / d + 2, (r - g) / d + 4)) / 6
    err = (h - proto.hue1[labels[typical]] + 0.5) % 1.0 - 0.5
    assert float(err.abs().max()) < 0.15 and float(err.std()) < 0.04
    # the prototypes depend on nothing but the category
    assert torch.equal(category_prototypes().hue1, proto.hue1)
    assert len(torch.unique(proto.hue1)) == len(CATEGORY_NAMES)


def test_default_readout_set_is_learnable_with_labels():
    """The learnability check of the default read-out set (README "Life-long benchmark"): the CPU backbone with a
    linear layer, trained with labels on the training images, generalises to the test images far above chance
    (0.1). The shape-only world (typicality=0) fails it."""
    from algorithms.normalize import eval_transform
    from algorithms.backbones import small_cnn

    ev = make_object_eval_set(n_categories=10, train_per_class=100, test_per_class=30, image_size=32, seed=5)
    torch.manual_seed(0)
    net = torch.nn.Sequential(small_cnn(16), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    x, y = eval_transform(ev.train_images, 32), torch.from_numpy(ev.train_labels)
    for _ in range(10):
        for b in torch.randperm(len(x)).split(50):
            loss = F.cross_entropy(net(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(eval_transform(ev.test_images, 32)).argmax(1).numpy() == ev.test_labels).mean())
    assert acc > 0.25, acc        # measured 0.35; the same check on the shape-only world (typicality=0): 0.12


# ============================================================================================== bad input
@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_categories=1), "n_categories"),
        (dict(n_categories=len(CATEGORY_NAMES) + 1), "n_categories"),
        (dict(n_days=0), "n_days"),
        (dict(image_size=8), "image_size"),
        (dict(frames_per_day=40), "frames_per_day"),
        (dict(episode_frames=4), "episode_frames"),
        (dict(n_chunks=0), "n_chunks"),
        (dict(n_chunks=10_000), "n_chunks"),
        (dict(n_scenes=0), "n_scenes"),
        (dict(objects_per_day=7), "objects_per_day"),
        (dict(objects_per_day=-1), "objects_per_day"),
        (dict(motion=-1.0), "motion"),
        (dict(drift=1.5), "drift"),
        (dict(seed=-1), "seed"),
        (dict(fps=0.0), "fps"),
        (dict(object_size=(0.5, 0.2)), "object_size"),
        (dict(scene_scale=1.0), "scene_scale"),
        (dict(n_days=2.5), "n_days"),
        (dict(typicality=1.5), "typicality"),
    ],
)
def test_bad_stream_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _stream(**kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_categories=1), "n_categories"),
        (dict(train_per_class=0), "train_per_class"),
        (dict(test_per_class=0), "test_per_class"),
        (dict(image_size=4), "image_size"),
        (dict(object_size=(0.0, 0.5)), "object_size"),
        (dict(typicality=-0.1), "typicality"),
    ],
)
def test_bad_eval_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_object_eval_set(**kwargs)
