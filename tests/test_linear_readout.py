"""The life-long linear read-out (lifelong.md §9.2): held-out alpha choice, oracle, kNN, validation."""
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier

from lifelong.life_long.linear_readout import (
    ALPHAS,
    extract_features,
    linear_readout,
    nearest_neighbour_accuracy,
    stratified_split,
)


def _blobs(n_per_class, n_classes=4, dim=16, spread=0.3, seed=0, centres_seed=0):
    """Gaussian blobs around unit-scale random centres (one centre per class; same centres for train and test)."""
    centres = np.random.default_rng(centres_seed).normal(size=(n_classes, dim))
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = centres[y] + spread * np.random.default_rng(seed).normal(size=(len(y), dim))
    return x.astype(np.float32), y


def test_grid_is_the_papers():
    assert ALPHAS == (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100)


def test_separable_blobs_are_read_out_almost_perfectly():
    train_x, train_y = _blobs(40, seed=1)
    test_x, test_y = _blobs(20, seed=2)
    r = linear_readout(train_x, train_y, test_x, test_y, knn=True)
    assert r.svm_acc > 0.95 and r.svm_perf_oracle > 0.95 and r.knn_acc > 0.95
    assert r.chance == pytest.approx(0.25)
    assert (r.n_classes, r.n_train, r.n_fit, r.n_heldout, r.n_test, r.n_fits) == (4, 160, 128, 32, 80, 20)
    assert r.heldout_acc.shape == r.test_acc.shape == (10,) and r.alphas == ALPHAS
    assert not r.standardized


def test_shuffled_labels_read_out_at_chance():
    # Features carry no information about the labels, so the test accuracy at the chosen alpha is a
    # Binomial(n_test, 1/4) draw: sd = sqrt(0.25 * 0.75 / 400) = 0.022; the tolerance 0.1 is 4.6 sd.
    train_x, train_y = _blobs(100, seed=1)
    test_x, test_y = _blobs(100, seed=2)
    rng = np.random.default_rng(3)
    r = linear_readout(train_x, rng.permutation(train_y), test_x, rng.permutation(test_y), knn=True)
    assert abs(r.svm_acc - 0.25) < 0.1
    assert abs(r.knn_acc - 0.25) < 0.1


def test_stratified_split_is_exact_per_class_and_seeded():
    labels = np.array([0] * 10 + [1] * 7 + [2] * 2 + [3] * 5 + [7] * 200)
    np.random.default_rng(0).shuffle(labels)
    fit, held = stratified_split(labels, 0.2, seed=5)
    # round half up of 0.2 * n_c, at least 1 and at most n_c - 1
    expected = {0: 2, 1: 1, 2: 1, 3: 1, 7: 40}
    assert {c: int(np.sum(labels[held] == c)) for c in expected} == expected
    assert np.array_equal(np.sort(np.concatenate([fit, held])), np.arange(len(labels)))
    again_fit, again_held = stratified_split(labels, 0.2, seed=5)
    assert np.array_equal(fit, again_fit) and np.array_equal(held, again_held)
    assert not np.array_equal(held, stratified_split(labels, 0.2, seed=6)[1])
    assert np.sum(labels[stratified_split(labels, 0.5, seed=5)[1]] == 1) == 4  # 3.5 rounds up


def test_alpha_is_chosen_on_held_out_training_images_not_on_test():
    # Test labels are the training labels swapped, so the test split rewards the worst classifier: the oracle
    # picks a different alpha than the held-out part, and svm_acc is the test accuracy at the held-out choice.
    train_x, train_y = _blobs(60, n_classes=2, dim=8, spread=1.0, seed=1)
    test_x, test_y = _blobs(60, n_classes=2, dim=8, spread=1.0, seed=2)
    r = linear_readout(train_x, train_y, test_x, 1 - test_y)
    best = r.heldout_acc.max()
    assert r.alpha == max(a for a, acc in zip(r.alphas, r.heldout_acc) if acc == best)
    assert r.alpha_tied == (np.sum(r.heldout_acc == best) > 1)
    assert r.alphas[int(np.argmax(r.test_acc))] != r.alpha
    assert r.svm_acc == r.test_acc[r.alphas.index(r.alpha)]
    assert r.svm_acc < 0.1 and r.svm_perf_oracle == r.test_acc.max() >= 0.5
    # svm_acc is the refit on all training images with the chosen alpha and the fixed classifier seed
    clf = SGDClassifier(loss="hinge", penalty="l2", alpha=r.alpha, max_iter=1000, random_state=0).fit(train_x, train_y)
    assert r.svm_acc == np.mean(clf.predict(test_x) == 1 - test_y)


def test_held_out_ties_go_to_the_larger_alpha():
    train_x, train_y = _blobs(20, spread=0.05, seed=1)
    test_x, test_y = _blobs(5, spread=0.05, seed=2)
    r = linear_readout(train_x, train_y, test_x, test_y, alphas=(1e-4, 1e-3, 1e-2))
    assert r.heldout_acc.tolist() == [1.0, 1.0, 1.0]
    assert r.alpha == 1e-2 and r.alpha_tied


def test_deterministic_for_a_seed():
    train_x, train_y = _blobs(30, spread=1.5, seed=1)
    test_x, test_y = _blobs(10, spread=1.5, seed=2)
    a = linear_readout(train_x, train_y, test_x, test_y, seed=3)
    b = linear_readout(train_x, train_y, test_x, test_y, seed=3)
    assert np.array_equal(a.heldout_acc, b.heldout_acc) and np.array_equal(a.test_acc, b.test_acc)
    assert a.svm_acc == b.svm_acc and a.alpha == b.alpha


def test_chance_is_the_majority_rate_of_the_test_labels():
    train_x, train_y = _blobs(10, n_classes=3, seed=1)
    test_x = _blobs(10, n_classes=3, seed=2)[0][:6]
    test_y = np.array([0, 0, 0, 1, 1, 2])
    assert linear_readout(train_x, train_y, test_x, test_y, alphas=(1.0,)).chance == 0.5


def test_standardize_is_fitted_on_training_features_and_scale_free():
    train_x, train_y = _blobs(20, spread=1.0, seed=1)
    test_x, test_y = _blobs(10, spread=1.0, seed=2)
    scale = np.geomspace(1e-3, 1e3, train_x.shape[1]).astype(np.float32)
    a = linear_readout(train_x, train_y, test_x, test_y, standardize=True, knn=True)
    b = linear_readout(train_x * scale + 7, train_y, test_x * scale + 7, test_y, standardize=True, knn=True)
    assert a.standardized
    np.testing.assert_allclose(a.heldout_acc, b.heldout_acc)
    np.testing.assert_allclose(a.test_acc, b.test_acc)
    assert a.knn_acc == b.knn_acc
    # the statistics come from the training features: shifted test features are not re-centred
    shifted = linear_readout(train_x, train_y, test_x + 100, test_y, standardize=True)
    assert shifted.svm_perf_oracle < 0.5 < a.svm_perf_oracle


def test_non_converged_fits_are_counted_and_silenced():
    train_x, train_y = _blobs(10, seed=1)
    test_x, test_y = _blobs(5, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        r = linear_readout(train_x, train_y, test_x, test_y, alphas=(1e-3, 1.0), max_iter=1)
    assert r.n_not_converged == r.n_fits == 4


def test_nearest_neighbour_uses_cosine_similarity():
    train_x = np.array([[1.0, 0.0], [5.0, 5.0]])
    # [10, 1] is nearer [5, 5] by Euclidean distance and by dot product, but nearer [1, 0] by angle
    assert nearest_neighbour_accuracy(train_x, np.array([0, 1]), np.array([[10.0, 1.0]]), np.array([0])) == 1.0


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: d.update(train_y=d["train_y"][:-1]), "one label per feature row"),
        (lambda d: d.update(test_x=d["test_x"][:, :3]), "differ in dimension"),
        (lambda d: d.update(train_x=d["train_x"][0]), "must be 2-D"),
        (lambda d: d["test_x"].__setitem__((2, 1), np.nan), "test features contain NaN or inf in 1 of"),
        (lambda d: d["train_x"].__setitem__((0, 0), np.inf), "train features contain NaN or inf"),
        (lambda d: d.update(train_y=np.zeros_like(d["train_y"])), "at least 2 classes"),
        (lambda d: d["train_y"].__setitem__(0, 9), "class 9 has 1 training image"),
        (lambda d: d["test_y"].__setitem__(0, 5), r"test labels \[5\] have no training images"),
        (lambda d: d.update(train_y=d["train_y"].astype(float)), "labels must be integers"),
        (lambda d: d.update(test_x=d["test_x"][:0], test_y=d["test_y"][:0]), "test split is empty"),
        (lambda d: d.update(alphas=(1.0, 0.0)), "alphas must be distinct, finite and positive"),
        (lambda d: d.update(alphas=()), "alphas must be distinct"),
        (lambda d: d.update(val_fraction=1.0), "val_fraction"),
    ],
)
def test_bad_inputs(change, message):
    train_x, train_y = _blobs(5, seed=1)
    test_x, test_y = _blobs(2, seed=2)
    args = dict(train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y, alphas=(1.0,))
    change(args)
    with pytest.raises(ValueError, match=message):
        linear_readout(**args)


def test_extract_features_batches_without_grad():
    images = torch.randint(0, 256, (7, 3, 4, 4), dtype=torch.uint8)
    weight = torch.randn(3, 5, requires_grad=True)
    seen = []

    def model_fn(x):
        seen.append((x.shape[0], torch.is_grad_enabled()))
        return x.mean(dim=(2, 3)) @ weight

    feats = extract_features(model_fn, images, lambda x: x.float() / 255, batch_size=3)
    assert seen == [(3, False), (3, False), (1, False)]
    assert feats.dtype == np.float32 and feats.shape == (7, 5)
    np.testing.assert_allclose(feats, ((images.float() / 255).mean(dim=(2, 3)) @ weight).detach().numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match=r"\[B, D\]"):
        extract_features(lambda x: x, images, lambda x: x.float(), batch_size=3)
    with pytest.raises(ValueError, match="uint8"):
        extract_features(model_fn, images.float(), lambda x: x)
