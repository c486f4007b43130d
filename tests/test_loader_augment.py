"""Augmentation in DataLoader workers (augment_in_loader, for CPU runs) against augmentation on the device."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from compose import make_cfg, make_lifelong_cfg

from lifelong.life_long.benchmark import run_lifelong
from lifelong.realtime.benchmark import run_realtime
from lifelong.training.loader_augment import AugmentedBatches, loader_dataset
from lifelong.training.ssl_module import make_views


def test_life_long_views_made_in_a_worker_equal_the_device_ones(tmp_path):
    """Life-long batches carry their augmentation seed: a run augmenting in a worker process trains on exactly
    the views of a run augmenting in the training process (same losses, same read-outs)."""
    device = run_lifelong(make_lifelong_cfg(tmp_path / "device"))
    loader = run_lifelong(make_lifelong_cfg(tmp_path / "loader", ["augment_in_loader=true", "num_workers=1"]))
    np.testing.assert_array_equal(device.loss, loader.loss)
    for k in ("svm_acc", "svm_perf_oracle", "test_acc"):
        np.testing.assert_array_equal(device.evals[k], loader.evals[k])


def test_real_time_run_augmenting_in_a_worker_is_complete_and_reproducible(tmp_path):
    over = ["augment_in_loader=true", "num_workers=1", "benchmark.conditions=[build]"]
    a = run_realtime(make_cfg(tmp_path / "a", over))
    b = run_realtime(make_cfg(tmp_path / "b", over))
    arrays = a.conditions["build"].arrays
    assert np.isfinite(arrays["loss"]).all() and arrays["loss"].shape == (2, 18)
    np.testing.assert_array_equal(arrays["dprime_big"], b.conditions["build"].arrays["dprime_big"])


def test_augmented_batches_make_the_module_views():
    class Raw(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            imgs = torch.randint(0, 256, (4, 3, 8, 8), generator=g, dtype=torch.uint8)
            return {"stream1": imgs[:2], "stream2": imgs[2:], "pretrain": imgs[:1], "step": torch.tensor(i),
                    "seed": torch.tensor(100 + i)}

    from algorithms.augment import SimCLRAugment

    aug = SimCLRAugment(8, blur_sigma=(0.1, 0.5))
    ds = loader_dataset(Raw(), type("M", (), {"stream_augment": aug, "pretrain_augment": aug})(), True)
    assert isinstance(ds, AugmentedBatches) and len(ds) == 2
    got = ds[1]
    ref = make_views(Raw()[1], aug, aug)
    assert got["view1"].shape == (3, 3, 8, 8)                 # 2 stream pairs + 1 pretraining image
    torch.testing.assert_close(got["view1"], ref["view1"], rtol=0, atol=0)
    torch.testing.assert_close(got["view2"], ref["view2"], rtol=0, atol=0)
    assert loader_dataset(Raw(), None, False).__class__ is Raw


@pytest.mark.parametrize("missing", ["stream"])
def test_stream_batch_without_a_stream_augmentation_is_refused(missing):
    batch = {"stream1": torch.zeros(1, 3, 4, 4, dtype=torch.uint8), "stream2": torch.zeros(1, 3, 4, 4, dtype=torch.uint8),
             "pretrain": torch.zeros(0, 3, 4, 4, dtype=torch.uint8), "step": torch.tensor(0)}
    with pytest.raises(RuntimeError, match="no stream augmentation"):
        make_views(batch, None, torch.nn.Identity())
