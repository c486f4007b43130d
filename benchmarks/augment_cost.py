"""Section 'augment' of the benchmark suite: the augmentation of one training step, ours vs the same recipes with
kornia.augmentation's photometric modules (what the harness used before algorithms/photometric.py).

Both sides get the same uint8 batch of a real-time CPU-preset step (12 stream pairs + 36 pretraining images),
the same geometric stage (algorithms.augment's batched crop / ResizeCenterPad / flip resampling) and the same
normalisation; they differ in the photometric steps and in the number of calls:

- ours: ``ssl_module.make_views`` (``augment_pairs``: views whose recipes differ only in geometry in one call);
- kornia: one call per view and part (4 per step), each through ``kornia.augmentation.ColorJitter``,
  ``RandomGrayscale``, ``RandomGaussianBlur`` and ``RandomSolarize`` with the recipe's parameters.

kornia is a test dependency (``pip install -e '.[test]'``); without it the section is skipped.
"""
from __future__ import annotations

import importlib.util
import statistics
import time

import torch
from torch import nn

from algorithms.augment import BYOLAugment, SimCLRAugment, TwoViewAugment, ViewAugment
from algorithms.normalize import to_unit_float
from algorithms.photometric import ColorJitter, RandomGaussianBlur, RandomGrayscale, RandomSolarize
from lifelong.training.ssl_module import make_views


def _kornia_steps(recipe: ViewAugment) -> nn.Sequential:
    import kornia.augmentation as K

    steps = []
    for step in recipe.photometric:
        if isinstance(step, ColorJitter):
            steps.append(K.ColorJitter(*[tuple(r) for r in step.ranges], p=step.p))
        elif isinstance(step, RandomGrayscale):
            steps.append(K.RandomGrayscale(p=step.p))
        elif isinstance(step, RandomGaussianBlur):
            steps.append(K.RandomGaussianBlur((step.kernel_size, step.kernel_size), step.sigma, p=step.p))
        elif isinstance(step, RandomSolarize):
            steps.append(K.RandomSolarize(thresholds=(step.threshold, step.threshold), additions=(0.0, 0.0), p=step.p))
        else:
            raise TypeError(f"no kornia counterpart for {type(step).__name__}")
    return nn.Sequential(*steps)


class KorniaRecipe:
    """A recipe's geometry and normalisation with kornia's photometric modules, one call per view."""

    def __init__(self, recipe: nn.Module) -> None:
        views = (recipe.view1, recipe.view2) if isinstance(recipe, TwoViewAugment) else (recipe, recipe)
        self.views = [(v, _kornia_steps(v)) for v in views]

    def forward_pair(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = []
        for (recipe, steps), x in zip(self.views, (a, b)):
            x = to_unit_float(x)
            x = recipe.apply_geometry(x, recipe.sample_geometry(x.shape[0], x.shape[-2], x.shape[-1]))
            out.append(recipe.normalize(steps(x)).contiguous())
        return out[0], out[1]


def _kornia_views(batch: dict, stream: KorniaRecipe, pretrain: KorniaRecipe) -> dict:
    a, b = stream.forward_pair(batch["stream1"], batch["stream2"])
    c, d = pretrain.forward_pair(batch["pretrain"], batch["pretrain"])
    return {"view1": torch.cat([a, c]), "view2": torch.cat([b, d])}


def _recipes(name: str, size: int, sigma: tuple[float, float]) -> tuple[nn.Module, nn.Module]:
    if name == "SimCLR":
        return (SimCLRAugment(size, blur_sigma=sigma),
                SimCLRAugment(size, blur_sigma=sigma, resize_center_pad_p=0.6))
    view = lambda k, p: BYOLAugment(size, view=k, blur_sigma=sigma, resize_center_pad_p=p)  # noqa: E731
    return view(1, 0.0), TwoViewAugment(view(1, 0.6), view(2, 0.6))


def section_augment(quick: bool, rows: list) -> None:
    if importlib.util.find_spec("kornia") is None:
        print("[augment: skipped, kornia is not installed (pip install -e '.[test]')]", flush=True)
        return
    repeats, calls = (3, 10) if quick else (7, 30)
    for size, sigma in ((32, (0.015, 0.3)), (112, (0.05, 1.0))):
        g = torch.Generator().manual_seed(0)
        images = lambda n: torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)  # noqa: E731
        batch = {"stream1": images(12), "stream2": images(12), "pretrain": images(36), "step": torch.tensor(0)}
        for name in ("SimCLR", "BYOL"):
            stream, pretrain = _recipes(name, size, sigma)
            ks, kp = KorniaRecipe(stream), KorniaRecipe(pretrain)
            ours = lambda: make_views(batch, stream, pretrain)  # noqa: E731
            theirs = lambda: _kornia_views(batch, ks, kp)      # noqa: E731
            for fn in (ours, theirs):
                fn()
            t_ours, t_theirs = [], []
            for _ in range(repeats):             # alternating, so that the machine's drift hits both sides alike
                for fn, acc in ((ours, t_ours), (theirs, t_theirs)):
                    t0 = time.perf_counter()
                    for _ in range(calls):
                        fn()
                    acc.append((time.perf_counter() - t0) / calls)
            o, k = statistics.median(t_ours), statistics.median(t_theirs)
            rows.append(("augment", f"{name} views of a real-time step (12 stream + 36 pretraining pairs), {size} px, "
                         f"median of {repeats}", f"{1e3 * o:.2f} ms", f"kornia photometric steps {1e3 * k:.2f} ms",
                         k / o, ""))
