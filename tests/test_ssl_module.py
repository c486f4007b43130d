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


def _three_losses(compile_backbone=False, channels_last=False):
    torch.manual_seed(0)
    algo = SimCLR(small_cnn(4), hidden_dim=16, out_dim=8, num_layers=2, temperature=0.1)
    factory = lambda groups: LARS(groups, lr=0.5, momentum=0.9, weight_decay=1e-6, eta=1e-3)  # noqa: E731
    # a small LR: at 0.5 rounding differences of ~1e-6 grow to 5 % by the third step
    module = SSLModule(algo, factory, 1e-6, stream_augment=None, pretrain_augment=torch.nn.Identity(),
                       constant_lr=0.05, channels_last=channels_last, compile_backbone=compile_backbone)
    opt = module.configure_optimizers()
    x = torch.rand(8, 3, 16, 16)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = algo.training_loss(x, x.flip(3))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, sorted(algo.state_dict())


def test_speed_switches_keep_the_losses_and_the_checkpoint_keys():
    """compile (in place) and channels_last are speed-only config values: same losses, same parameter names."""
    ref, keys = _three_losses(False)
    for switch in (dict(compile_backbone="inductor"), dict(channels_last=True)):
        got, got_keys = _three_losses(**switch)
        assert got_keys == keys, switch                       # checkpoints load either way
        torch.testing.assert_close(torch.tensor(got), torch.tensor(ref), rtol=1e-4, atol=1e-4, msg=str(switch))
    assert ref[2] < ref[0]                                    # the steps did train


def test_bf16_autocast_loss_tracks_fp32():
    """trainer.precision=bf16-mixed runs the step under CPU autocast: the loss stays within bf16 rounding."""
    torch.manual_seed(0)
    algo = SimCLR(small_cnn(4), hidden_dim=16, out_dim=8, num_layers=2, temperature=0.1)
    x = torch.rand(16, 3, 16, 16)
    fp32 = algo.training_loss(x, x.flip(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = algo.training_loss(x, x.flip(3))
    assert bf16.dtype == torch.float32 or bf16.dtype == torch.bfloat16
    assert abs(bf16.float().item() - fp32.item()) < 0.02 * abs(fp32.item())
    assert bf16.float().item() != fp32.item()                 # autocast did change the arithmetic
