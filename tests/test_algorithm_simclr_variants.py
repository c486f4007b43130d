"""SimCLR-More-MLPs and SimCLR-ResNet50 configs (algorithms.md §2-3): head depths and widths, optimiser, LR."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from algorithms.augment import SimCLRAugment
from algorithms.lars import LARS
from algorithms.simclr import SimCLR
from lifelong.components import algorithm_parts
from tests.compose import make_cfg


def fc_dims(algo: SimCLR) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in algo.neck if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("name, arch, realtime_lr", [("simclr_mlp4", "resnet18", 0.1), ("simclr_r50", "resnet50", 0.1)])
def test_variant_config_optimizer_and_augment(tmp_path, name, arch, realtime_lr):
    cfg = make_cfg(tmp_path, [f"algorithm={name}"])
    assert cfg.algorithm.arch == arch
    parts = algorithm_parts(cfg)
    assert parts.name == name and parts.realtime_lr == realtime_lr and parts.weight_decay == 1e-6
    algo = parts.make()
    assert type(algo) is SimCLR and algo.temperature == 0.1
    opt = parts.optimizer_factory(algo.param_groups(parts.weight_decay))
    assert isinstance(opt, LARS) and opt.defaults["lr"] == 4.8   # ep300 recipe
    assert isinstance(parts.pretrain_augment, SimCLRAugment) and parts.pretrain_augment.resize_center_pad.p == 0.6
    assert isinstance(parts.stream_augment, SimCLRAugment) and parts.stream_augment.resize_center_pad.p == 0.0
    x = torch.rand(8, 3, 40, 40)
    torch.manual_seed(0)
    a1, a2 = parts.pretrain_augment.forward_pair(x, x)
    assert a1.shape == (8, 3, cfg.image_size, cfg.image_size)
    assert torch.isfinite(algo.training_loss(a1, a2))


def test_cpu_stand_ins_head_widths(tmp_path):
    # CPU preset: resnet18 -> small_cnn width 16 (128 features), resnet50 -> width 32 (256); heads keep the
    # paper's hidden width 2048
    mlp4 = algorithm_parts(make_cfg(tmp_path, ["algorithm=simclr_mlp4"])).make()
    assert fc_dims(mlp4) == [(128, 2048), (2048, 2048), (2048, 2048), (2048, 128)]
    r50 = algorithm_parts(make_cfg(tmp_path, ["algorithm=simclr_r50"])).make()
    assert r50.backbone.out_dim == 256 and fc_dims(r50) == [(256, 2048), (2048, 128)]


def test_paper_networks_head_widths(tmp_path):
    mlp4 = algorithm_parts(make_cfg(tmp_path, ["algorithm=simclr_mlp4", "preset=paper"])).make()
    assert mlp4.backbone.out_dim == 512
    assert fc_dims(mlp4) == [(512, 2048), (2048, 2048), (2048, 2048), (2048, 128)]
    assert [m.num_features for m in mlp4.neck if isinstance(m, nn.BatchNorm1d)] == [2048, 2048, 2048, 128]
    r50 = algorithm_parts(make_cfg(tmp_path, ["algorithm=simclr_r50", "preset=paper"])).make()
    assert r50.backbone.out_dim == 2048 and fc_dims(r50) == [(2048, 2048), (2048, 128)]
