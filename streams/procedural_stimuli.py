"""The embedded default stimuli: procedural faces, no download, deterministic from a seed.

``make_stimulus_set`` builds the real-time benchmark's stimulus set (realtime.md section 1) from
``procedural_faces`` identities: per identity ``n_test`` big and ``n_test`` small test images on
dead-leaves backgrounds (random position, size, pose and light), one medium choice image and one big
exposure image, both centred, frontal and on plain gray (127).

``make_pretraining_images`` builds the default pretraining set, the stand-in for the authors'
ImageNet + VGGFace2 replay data: faces of *other* identities at random sizes and positions on
dead-leaves backgrounds, some faces on plain gray and some pure backgrounds.

Seed streams. Every random draw comes from a ``torch.Generator`` seeded with ``seed * 16 + stream``:

    stream 0  test identities          (make_stimulus_set)
    stream 1  test-set renders         (nuisance and backgrounds of the stimulus set)
    stream 2  pretraining identities   (pretraining_identities / make_pretraining_images)
    stream 3  pretraining renders

Test and pretraining identities come from different streams, so they are independent draws from the
same distribution: continuous parameter vectors that coincide with probability zero (the tests check
that they are far apart). Output is identical on repeated calls with the same arguments.
"""
from __future__ import annotations

import torch

from .dead_leaves import dead_leaves
from .image_store import TensorImageStore
from .procedural_faces import (
    PARAM_NAMES,
    canonical_placement,
    composite_faces,
    random_placement,
    sample_identities,
)
from .stimulus_set import GRAY_VALUE, StimulusSet

__all__ = [
    "DEFAULT_IDENTITY_SPREAD",
    "DEFAULT_SIZE_FRACTIONS",
    "identity_names",
    "stimulus_identities",
    "pretraining_identities",
    "make_stimulus_set",
    "make_pretraining_images",
    "make_pretraining_store",
]

#: how far identities lie from the mean face: 0 = all identical; 1 = same template with visible
#: differences; larger values exaggerate them (faces start to look odd above ~1.5). Rough calibration at
#: 32 px, seed 0 (d' of the big test images, mean over the 15 pairs, nearest-template read-out of
#: realtime.md section 6; each value is noisy by about +-0.2):
#:     spread                                    0.7    1.0    1.2    1.4
#:     raw pixels                                1.31   1.54   1.85   2.06
#:     SmallCNN(16), random init, backbone       0.79   1.20   1.39   1.31
#:     SmallCNN(16) + SimCLR neck, 600 steps     0.84   1.11   1.22   1.81
#: (600 SimCLR steps of 128 pretraining images, Adam 2e-3, ~75 s on 2 CPU cores.) Small-size d' stays
#: near chance (< 0.5) for all of them. At 64 px the same short training gives lower d'.
#: The default is 1.6: with the CPU preset's own pretraining (LARS, 600 steps) the SimCLR start point screened
#: at a mean big d' of -0.04..0.59 at spread 1.2 and 1.69 at 1.6 (lifelong/conf/stimuli/procedural.yaml).
DEFAULT_IDENTITY_SPREAD = 1.6
#: face height (hair top to chin) / image size for the small, medium and big images
DEFAULT_SIZE_FRACTIONS = (0.35, 0.55, 0.8)

STREAM_TEST_IDENTITIES = 0
STREAM_TEST_RENDERS = 1
STREAM_PRETRAIN_IDENTITIES = 2
STREAM_PRETRAIN_RENDERS = 3


def _generator(seed: int, stream: int) -> torch.Generator:
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return torch.Generator().manual_seed(seed * 16 + stream)


def identity_names(n: int) -> tuple[str, ...]:
    """'face0001', 'face0002', ... (the HvM naming)."""
    return tuple(f"face{i + 1:04d}" for i in range(n))


def stimulus_identities(n_identities: int, seed: int, identity_spread: float = DEFAULT_IDENTITY_SPREAD) -> torch.Tensor:
    """The identity parameter vectors of ``make_stimulus_set``, float [n_identities, N_PARAMS]."""
    return sample_identities(n_identities, _generator(seed, STREAM_TEST_IDENTITIES), identity_spread)


def pretraining_identities(
    n_identities: int, seed: int, identity_spread: float = DEFAULT_IDENTITY_SPREAD
) -> torch.Tensor:
    """The identity parameter vectors of ``make_pretraining_images`` (a stream disjoint from the test
    identities'), float [n_identities, N_PARAMS]."""
    return sample_identities(n_identities, _generator(seed, STREAM_PRETRAIN_IDENTITIES), identity_spread)


def _gray(n: int, size: int) -> torch.Tensor:
    return torch.full((n, 3, size, size), GRAY_VALUE, dtype=torch.uint8)


def make_stimulus_set(
    n_identities: int = 6,
    n_test: int = 20,
    image_size: int = 64,
    seed: int = 0,
    *,
    identity_spread: float = DEFAULT_IDENTITY_SPREAD,
    size_fractions: tuple[float, float, float] = DEFAULT_SIZE_FRACTIONS,
    position_jitter: float = 0.6,
    size_jitter: float = 0.06,
    pose_jitter: float = 1.0,
    light_jitter: float = 1.0,
    supersample: int = 2,
) -> StimulusSet:
    """The procedural real-time stimulus set.

    Image layout: 0 = gray; then per identity i (in order): choice, exposure, n_test big test images,
    n_test small test images.

    identity_spread: distance of identities from the mean face (difficulty knob; see
                     ``procedural_faces``). 0 makes all identities the same face.
    size_fractions:  face height / image size of the (small, medium, big) images.
    position_jitter: test-image face centres move within +-position_jitter of the free margin.
    size_jitter, pose_jitter, light_jitter: per-render nuisance of the test images
                     (``procedural_faces.random_placement``); choice and exposure images have none.
    supersample:     sub-pixel samples per pixel side (on top of analytic edge anti-aliasing).
    """
    if n_identities < 1 or n_test < 1 or image_size < 8:
        raise ValueError(
            f"need n_identities >= 1, n_test >= 1, image_size >= 8; got {n_identities}, {n_test}, {image_size}"
        )
    small, medium, big = (float(f) for f in size_fractions)
    if not 0 < small <= medium <= big <= 1:
        raise ValueError(f"size_fractions must satisfy 0 < small <= medium <= big <= 1, got {size_fractions}")
    S, n_id = image_size, n_identities
    ids = stimulus_identities(n_id, seed, identity_spread)
    gen = _generator(seed, STREAM_TEST_RENDERS)

    choice = composite_faces(_gray(n_id, S), ids, canonical_placement(n_id, S, medium), supersample=supersample)
    exposure = composite_faces(_gray(n_id, S), ids, canonical_placement(n_id, S, big), supersample=supersample)
    n_t = n_id * n_test
    test_ids = ids.repeat_interleave(n_test, dim=0)  # identity-major: [id0 x n_test, id1 x n_test, ...]
    jitter = dict(position_jitter=position_jitter, size_jitter=size_jitter, pose_jitter=pose_jitter,
                  light_jitter=light_jitter)
    big_imgs = composite_faces(
        dead_leaves(n_t, S, gen), test_ids, random_placement(n_t, S, gen, big, **jitter), supersample=supersample
    )
    small_imgs = composite_faces(
        dead_leaves(n_t, S, gen), test_ids, random_placement(n_t, S, gen, small, **jitter), supersample=supersample
    )

    per_id = 2 + 2 * n_test
    blocks = [_gray(1, S)]
    for i in range(n_id):
        blocks += [
            choice[i : i + 1],
            exposure[i : i + 1],
            big_imgs[i * n_test : (i + 1) * n_test],
            small_imgs[i * n_test : (i + 1) * n_test],
        ]
    images = torch.cat(blocks)
    first = 1 + per_id * torch.arange(n_id)
    ar = torch.arange(n_test)
    return StimulusSet(
        images=images,
        identities=identity_names(n_id),
        choice=first.clone(),
        exposure_big=first + 1,
        test_big=first[:, None] + 2 + ar,
        test_small=first[:, None] + 2 + n_test + ar,
        source=f"procedural faces (seed={seed}, identity_spread={identity_spread}, image_size={S})",
        meta={
            "generator": "streams.procedural_stimuli.make_stimulus_set",
            "seed": seed,
            "identity_params": ids,
            "param_names": PARAM_NAMES,
            "identity_spread": identity_spread,
            "size_fractions": (small, medium, big),
            "position_jitter": position_jitter,
            "size_jitter": size_jitter,
            "pose_jitter": pose_jitter,
            "light_jitter": light_jitter,
            "backgrounds": {"choice": "clean", "exposure": "clean", "test": "natural (dead leaves)"},
        },
    )


def make_pretraining_images(
    n_images: int,
    image_size: int = 64,
    seed: int = 0,
    *,
    n_identities: int = 200,
    identity_spread: float = DEFAULT_IDENTITY_SPREAD,
    natural_fraction: float = 0.7,
    clean_fraction: float = 0.1,
    size_range: tuple[float, float] = (0.3, 0.85),
    position_jitter: float = 1.0,
    pose_jitter: float = 1.0,
    light_jitter: float = 1.0,
    supersample: int = 1,
) -> torch.Tensor:
    """The default pretraining images, uint8 [n_images, 3, S, S], in shuffled order.

    natural_fraction: faces on dead-leaves backgrounds.
    clean_fraction:   faces on plain gray (127).
    the rest:         dead-leaves backgrounds without a face.
    Faces are of ``n_identities`` identities from ``pretraining_identities(n_identities, seed)``,
    disjoint from the test identities, each image an independent draw of identity, face height
    (uniform in ``size_range``, fractions of the image), position, pose and light.
    """
    if n_images < 0 or image_size < 8 or n_identities < 1:
        raise ValueError(f"need n_images >= 0, image_size >= 8, n_identities >= 1; got {n_images}, "
                         f"{image_size}, {n_identities}")
    if natural_fraction < 0 or clean_fraction < 0 or natural_fraction + clean_fraction > 1 + 1e-9:
        raise ValueError(
            f"natural_fraction ({natural_fraction}) and clean_fraction ({clean_fraction}) must be >= 0 "
            "and sum to at most 1"
        )
    lo, hi = (float(f) for f in size_range)
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"size_range must satisfy 0 < low <= high <= 1, got {size_range}")
    S = image_size
    ids = pretraining_identities(n_identities, seed, identity_spread)
    gen = _generator(seed, STREAM_PRETRAIN_RENDERS)
    n_nat = int(round(n_images * natural_fraction))
    n_clean = min(n_images - n_nat, int(round(n_images * clean_fraction)))
    n_face = n_nat + n_clean
    backgrounds = torch.cat([dead_leaves(n_images - n_clean, S, gen), _gray(n_clean, S)])
    # faces go on the first n_nat dead-leaves images and on the gray ones; the rest stay pure backgrounds
    face_slots = torch.cat([torch.arange(n_nat), torch.arange(n_images - n_clean, n_images)])
    who = torch.randint(0, n_identities, (n_face,), generator=gen)
    heights = lo + (hi - lo) * torch.rand((n_face,), generator=gen)
    placement = random_placement(
        n_face, S, gen, heights, position_jitter=position_jitter, size_jitter=0.0,
        pose_jitter=pose_jitter, light_jitter=light_jitter,
    )
    if n_face:
        backgrounds[face_slots] = composite_faces(
            backgrounds[face_slots], ids[who], placement, supersample=supersample
        )
    perm = torch.randperm(n_images, generator=gen)
    return backgrounds[perm]


def make_pretraining_store(n_images: int, image_size: int = 64, seed: int = 0, **kwargs) -> TensorImageStore:
    """``make_pretraining_images`` wrapped as an in-memory ``ImageStore``."""
    images = make_pretraining_images(n_images, image_size, seed, **kwargs)
    return TensorImageStore(images, source=f"procedural pretraining faces (seed={seed}, n={n_images})")
