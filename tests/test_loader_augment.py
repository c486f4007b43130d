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


def test_real_time_views_made_in_a_worker_equal_the_device_ones(tmp_path):
    """Real-time batches carry their seed too (step_batches.step_seed): augmenting in a worker process trains on
    exactly the views of augmenting in the training process."""
    over = ["benchmark.conditions=[build]"]
    device = run_realtime(make_cfg(tmp_path / "device", over))
    loader = run_realtime(make_cfg(tmp_path / "loader", [*over, "augment_in_loader=true", "num_workers=1"]))
    a, b = device.conditions["build"].arrays, loader.conditions["build"].arrays
    assert np.isfinite(a["loss"]).all() and a["loss"].shape == (2, 18)
    for k in ("loss", "dprime_big", "dprime_small"):
        np.testing.assert_array_equal(a[k], b[k])


def test_seeded_batch_views_do_not_depend_on_the_global_rng():
    from algorithms.augment import SimCLRAugment

    aug = SimCLRAugment(8, blur_sigma=(0.1, 0.5), resize_center_pad_p=0.6)
    imgs = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    batch = {"stream1": imgs[:2], "stream2": imgs[2:4], "pretrain": imgs[4:], "step": torch.tensor(3),
             "seed": torch.tensor(12345)}
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    a = make_views(batch, aug, aug)
    assert torch.equal(torch.random.get_rng_state(), before)          # the global RNG is neither used nor reset
    torch.manual_seed(99)
    b = make_views(batch, aug, aug)
    assert torch.equal(a["view1"], b["view1"]) and torch.equal(a["view2"], b["view2"]) and int(b["seed"]) == 12345
    c = make_views({**batch, "seed": torch.tensor(12346)}, aug, aug)
    assert not torch.equal(a["view1"], c["view1"])
    unseeded = {k: v for k, v in batch.items() if k != "seed"}
    torch.manual_seed(1)
    d = make_views(unseeded, aug, aug)
    torch.manual_seed(1)
    assert torch.equal(d["view1"], make_views(unseeded, aug, aug)["view1"])       # global RNG: seeded by the caller


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
