"""The Lightning module's optimizer restore: every exposure run starts from the checkpoint's own state."""
from __future__ import annotations

import copy

import torch

from algorithms.backbones import small_cnn
from algorithms.lars import LARS
from algorithms.simclr import SimCLR
from lifelong.training.ssl_module import SSLModule


def test_training_does_not_change_the_restored_optimizer_state():
    torch.manual_seed(0)
    algo = SimCLR(small_cnn(4), hidden_dim=16, out_dim=8, num_layers=2, temperature=0.1)
    factory = lambda groups: LARS(groups, lr=0.5, momentum=0.9, weight_decay=1e-6, eta=1e-3)  # noqa: E731
    warm = factory(algo.param_groups(1e-6))
    x = torch.rand(8, 3, 16, 16)
    algo.training_loss(x, x.flip(3)).backward()
    warm.step()
    state = warm.state_dict()                                     # what a checkpoint holds
    before = copy.deepcopy(state)
    module = SSLModule(algo, factory, 1e-6, stream_augment=None, pretrain_augment=torch.nn.Identity(),
                       constant_lr=0.5, optimizer_state=state)
    opt = module.configure_optimizers()
    for _ in range(3):
        opt.zero_grad()
        algo.training_loss(x, x.flip(3)).backward()
        opt.step()
    moved = [k for k, v in before["state"].items()
             if not torch.equal(v["momentum_buffer"], state["state"][k]["momentum_buffer"])]
    assert not moved, f"training changed the checkpoint's momentum buffers {moved}"
    assert any(not torch.equal(opt.state[p]["momentum_buffer"], before["state"][i]["momentum_buffer"])
               for i, p in enumerate(p for g in opt.param_groups for p in g["params"]) if p in opt.state)
