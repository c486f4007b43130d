"""Linear-SVM read-out of pooled features on a labelled image set (lifelong.md §9).

Classifier: scikit-learn ``SGDClassifier(loss="hinge", penalty="l2", alpha=a, max_iter=max_iter,
random_state=seed)``, otherwise at the defaults the original uses (one-vs-rest, shuffling, tol 1e-3).
Features are used as given, without standardisation, as in the original (§9.1).

Harness protocol (§9.2): the training images are split per class into a fit part and a held-out part
(``stratified_split``: seeded, ``val_fraction`` of each class held out); every alpha of the grid is fitted on
the fit part and scored on the held-out part; the alpha with the best held-out accuracy is chosen (ties: the
larger alpha, i.e. the stronger regularisation); the classifier is refitted on all training images with that
alpha and scored once on the test split: ``svm_acc``, the primary metric.

For comparison with the paper, ``svm_perf_oracle`` is the original's number: every alpha fitted on all training
images and the maximum test accuracy over the grid (alpha tuned on the test split, biased upward). Because the
classifier seed is fixed, the refit for ``svm_acc`` is the oracle's fit for the chosen alpha, so
``svm_acc = test_acc[chosen]`` and a read-out costs 2 x len(alphas) fits.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier

__all__ = ["ALPHAS", "ReadoutResult", "extract_features", "linear_readout", "nearest_neighbour_accuracy",
           "stratified_split"]

ALPHAS: tuple[float, ...] = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)  # the paper's grid


@dataclass(frozen=True)
class ReadoutResult:
    """One read-out. Accuracies are fractions in [0, 1]; arrays are indexed like ``alphas``."""

    svm_acc: float                  # test accuracy at the held-out-chosen alpha (primary metric)
    svm_perf_oracle: float          # max test accuracy over the grid (the original's svm_perf)
    alpha: float                    # the alpha chosen on the held-out part
    alphas: tuple[float, ...]       # the grid
    heldout_acc: np.ndarray         # float64 [n_alphas]: fitted on the fit part, scored on the held-out part
    test_acc: np.ndarray            # float64 [n_alphas]: fitted on all training images, scored on the test split
    alpha_tied: bool                # more than one alpha reached the best held-out accuracy (the larger won)
    chance: float                   # majority-class rate of the test labels (= 1 / n_classes when balanced)
    n_classes: int                  # classes in the training split
    n_train: int
    n_fit: int                      # training images in the fit part
    n_heldout: int                  # training images in the held-out part
    n_test: int
    n_fits: int                     # classifier fits performed (2 x n_alphas)
    n_not_converged: int            # fits that stopped at max_iter (sklearn's ConvergenceWarning, silenced)
    standardized: bool              # features were standardised (a deviation from the original)
    knn_acc: float | None = None    # 1-NN (cosine) test accuracy against all training images, if requested


def extract_features(
    model_fn: Callable[[torch.Tensor], torch.Tensor],
    images_uint8: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Features of uint8 images [N, 3, S, S] as float32 [N, D], batch by batch under ``torch.no_grad``.

    Each batch is moved to ``device`` (if given), normalised by ``transform`` and mapped to [B, D] by
    ``model_fn``. The caller puts the model in eval mode.
    """
    if not isinstance(images_uint8, torch.Tensor) or images_uint8.dtype != torch.uint8 or images_uint8.ndim != 4:
        raise ValueError("images must be a uint8 tensor [N, 3, S, S]")
    if images_uint8.shape[0] == 0:
        raise ValueError("no images to extract features from")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    out = []
    with torch.no_grad():
        for batch in images_uint8.split(batch_size):
            if device is not None:
                batch = batch.to(device)
            feats = model_fn(transform(batch))
            if feats.ndim != 2 or feats.shape[0] != batch.shape[0]:
                raise ValueError(
                    f"model_fn must return [B, D] features; got {tuple(feats.shape)} for a batch of {batch.shape[0]}"
                )
            out.append(feats.detach().float().cpu())
    return torch.cat(out).numpy()


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, held-out) with round(val_fraction * n_c) of each class's n_c images held out.

    The count is rounded half up and kept within 1..n_c - 1, so each class needs at least 2 images. Which images
    are held out is a seeded random choice within each class; both index arrays are sorted.
    """
    labels = np.asarray(labels)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    classes, counts = np.unique(labels, return_counts=True)
    too_few = classes[counts < 2]
    if len(too_few):
        raise ValueError(
            f"class {too_few[0].item()!r} has {counts[counts < 2][0]} training image(s); at least 2 per class are needed "
            f"to hold some out for choosing alpha ({len(too_few)} class(es) affected)"
        )
    rng = np.random.default_rng(seed)
    held = []
    for c, n_c in zip(classes, counts):
        n_held = min(int(n_c) - 1, max(1, math.floor(val_fraction * n_c + 0.5)))
        members = np.flatnonzero(labels == c)
        held.append(members[rng.permutation(len(members))[:n_held]])
    heldout = np.sort(np.concatenate(held))
    fit = np.setdiff1d(np.arange(len(labels)), heldout)
    return fit, heldout


def nearest_neighbour_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, chunk: int = 1024
) -> float:
    """Test accuracy of 1-nearest-neighbour classification by cosine similarity to the training features."""
    def unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    train_u, test_u = unit(train_x), unit(test_x)
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    correct = 0
    for start in range(0, len(test_u), chunk):
        nearest = np.argmax(test_u[start:start + chunk] @ train_u.T, axis=1)
        correct += int(np.sum(train_y[nearest] == test_y[start:start + chunk]))
    return correct / len(test_u)


def _standardize(reference: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Per-feature z-scores with the mean and std of ``reference`` (constant features: std 1)."""
    mean = reference.mean(axis=0)
    std = reference.std(axis=0)
    std[std == 0] = 1.0
    return [(x - mean) / std for x in (reference, *others)]


def _validate(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, alphas: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    arrays = {}
    for split, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 2:
            raise ValueError(f"{split} features must be 2-D [N, D], got shape {x.shape}")
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"{split} labels must be 1-D with one label per feature row: {x.shape} vs {y.shape}")
        if len(x) == 0:
            raise ValueError(f"the {split} split is empty")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{split} labels must be integers, got dtype {y.dtype}")
        if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
            raise ValueError(f"{split} features must be real numbers, got dtype {x.dtype}")
        bad = ~np.isfinite(x).all(axis=1)
        if bad.any():
            raise ValueError(f"{split} features contain NaN or inf in {int(bad.sum())} of {len(x)} rows "
                             f"(first: row {int(np.flatnonzero(bad)[0])})")
        arrays[split] = (x.astype(np.float64, copy=False), y.astype(np.int64, copy=False))
    (train_x, train_y), (test_x, test_y) = arrays["train"], arrays["test"]
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"train and test features differ in dimension: {train_x.shape[1]} vs {test_x.shape[1]}")
    if len(np.unique(train_y)) < 2:
        raise ValueError("the training split needs at least 2 classes")
    unseen = np.setdiff1d(test_y, train_y)
    if len(unseen):
        raise ValueError(f"test labels {unseen[:10].tolist()} have no training images")
    if not alphas or any(not (math.isfinite(a) and a > 0) for a in alphas) or len(set(alphas)) != len(alphas):
        raise ValueError(f"alphas must be distinct, finite and positive, got {tuple(alphas)}")
    return train_x, train_y, test_x, test_y


def linear_readout(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    alphas: Sequence[float] = ALPHAS,
    val_fraction: float = 0.2,
    seed: int = 0,
    max_iter: int = 1000,
    knn: bool = False,
    standardize: bool = False,
    n_jobs: int | None = None,
) -> ReadoutResult:
    """Linear-SVM read-out with alpha chosen on held-out training images (module docstring; lifelong.md §9.2).

    train_x, test_x: real features [N, D]; train_y, test_y: integer class labels [N].
    seed:            seeds both the stratified split and the classifier (``random_state``).
    knn:             also report 1-NN cosine accuracy (train -> test) on the same features.
    standardize:     deviation option, off by default (the original uses raw features): z-score each feature
                     with the statistics of the images the classifier is fitted on (the fit part while choosing
                     alpha, all training images for the final fits).
    n_jobs:          threads for the 2 x len(alphas) fits (None: 1; the original gave 15 to SGDClassifier); results do
                     not depend on it.
    Raises ``ValueError`` for malformed inputs, NaN/inf features, fewer than 2 classes, or a class with fewer than
    2 training images.
    """
    alphas = tuple(float(a) for a in alphas)
    train_x, train_y, test_x, test_y = _validate(train_x, train_y, test_x, test_y, alphas)
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    fit_idx, held_idx = stratified_split(train_y, val_fraction, seed)

    fit_x, held_x = train_x[fit_idx], train_x[held_idx]
    all_x, eval_x = train_x, test_x
    if standardize:
        fit_x, held_x = _standardize(fit_x, held_x)
        all_x, eval_x = _standardize(all_x, eval_x)

    def score(x: np.ndarray, y: np.ndarray, x_eval: np.ndarray, y_eval: np.ndarray, alpha: float
              ) -> tuple[float, bool]:
        clf = SGDClassifier(loss="hinge", penalty="l2", alpha=alpha, max_iter=max_iter, random_state=seed)
        clf.fit(x, y)
        # sklearn's ConvergenceWarning condition
        return float(np.mean(clf.predict(x_eval) == y_eval)), bool(np.max(clf.n_iter_) >= max_iter)

    # the 2 x len(alphas) fits are independent and seeded: run them on threads (the SGD loop releases the GIL);
    # the results do not depend on the number of threads
    jobs = [(fit_x, train_y[fit_idx], held_x, train_y[held_idx], a) for a in alphas]
    jobs += [(all_x, train_y, eval_x, test_y, a) for a in alphas]
    with warnings.catch_warnings():          # set once here: the filters are process-wide, not per thread
        warnings.simplefilter("ignore", ConvergenceWarning)
        out = Parallel(n_jobs=n_jobs or 1, prefer="threads")(delayed(score)(*job) for job in jobs)
    accs = np.array([acc for acc, _ in out])
    not_converged = sum(nc for _, nc in out)
    heldout_acc, test_acc = accs[:len(alphas)], accs[len(alphas):]
    best = heldout_acc.max()
    tied = [a for a, acc in zip(alphas, heldout_acc) if acc == best]
    chosen = max(tied)
    _, test_counts = np.unique(test_y, return_counts=True)
    return ReadoutResult(
        svm_acc=float(test_acc[alphas.index(chosen)]),
        svm_perf_oracle=float(test_acc.max()),
        alpha=chosen,
        alphas=alphas,
        heldout_acc=heldout_acc,
        test_acc=test_acc,
        alpha_tied=len(tied) > 1,
        chance=float(test_counts.max() / len(test_y)),
        n_classes=int(len(np.unique(train_y))),
        n_train=len(train_y),
        n_fit=len(fit_idx),
        n_heldout=len(held_idx),
        n_test=len(test_y),
        n_fits=2 * len(alphas),
        n_not_converged=not_converged,
        standardized=standardize,
        knn_acc=nearest_neighbour_accuracy(all_x, train_y, eval_x, test_y) if knn else None,
    )
