"""Checkpoint screening: the latest pretraining state with a mean big d' inside the range is kept."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from lifelong.training.checkpoint_screening import CheckpointScreening


class ScriptedEmbedder:
    """Returns a scripted mean big d' per call (small d' = -big, to check which one is read)."""

    def __init__(self, values):
        self.values = list(values)

    def readout(self, algorithm, device):
        d = self.values.pop(0)
        return SimpleNamespace(dprime=torch.tensor([d, d])), SimpleNamespace(dprime=torch.tensor([-d]))


class Module(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.algorithm = torch.nn.Linear(1, 1, bias=False)
        self.device = torch.device("cpu")


def _run(values, every=10, steps=40, lo_hi=(1.0, 3.0)):
    module = Module()
    opt = torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9)
    trainer = SimpleNamespace(global_step=0, max_steps=steps, optimizers=[opt])
    cb = CheckpointScreening(ScriptedEmbedder(values), every, lo_hi)
    for step in range(1, steps + 1):
        with torch.no_grad():
            module.algorithm.weight.fill_(float(step))     # the weight records the step it was saved at
        trainer.global_step = step
        cb.on_train_batch_end(trainer, module, None, None, step - 1)
    return cb


def test_keeps_the_latest_state_inside_the_range():
    cb = _run([0.5, 1.4, 2.2, 3.5])                       # screened at steps 10, 20, 30, 40
    assert [h[0] for h in cb.history] == [10, 20, 30, 40]
    ckpt = {"state_dict": {}, "optimizer_states": [{}], "global_step": 40}
    meta = cb.apply(ckpt)
    assert meta["selected_step"] == 30 and meta["dprime_big"] == pytest.approx(2.2)
    assert meta["dprime_small"] == pytest.approx(-2.2)
    assert ckpt["state_dict"]["algorithm.weight"].item() == 30.0
    assert ckpt["global_step"] == 30 and "state" in ckpt["optimizer_states"][0]


def test_no_state_in_range_keeps_the_final_one(caplog):
    cb = _run([0.1, 0.2, 0.3, 0.4])
    ckpt = {"state_dict": {"algorithm.weight": torch.tensor([[40.0]])}, "optimizer_states": [{}]}
    with caplog.at_level("WARNING"):
        meta = cb.apply(ckpt)
    assert meta["selected_step"] is None
    assert ckpt["state_dict"]["algorithm.weight"].item() == 40.0
    assert "no screened state" in caplog.text


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="every_n_steps"):
        CheckpointScreening(ScriptedEmbedder([]), 0, (1.0, 3.0))
    with pytest.raises(ValueError, match="dprime_range"):
        CheckpointScreening(ScriptedEmbedder([]), 5, (3.0, 1.0))
