"""Loading the authors' OpenSelfSup/mmcv checkpoints (data_sources.md §1.5): synthetic files in that layout,
built from our own algorithms, must map back exactly; any unmatched key fails with one error naming it."""
import logging
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from algorithms.normalize import eval_transform
from algorithms.backbones import resnet18
from algorithms.lars import LARS
from algorithms.simclr import SimCLR
from lifelong.components import AlgorithmParts, ConfigError, algorithm_parts
from lifelong.realtime.benchmark import load_inputs, run_realtime
from lifelong.realtime.readout_callback import PairEmbedder
from lifelong.training.checkpoint import PREFIX, load_checkpoint, restore_algorithm
from lifelong.training.openselfsup_checkpoint import (
    OpenSelfSupCheckpointError,
    convert,
    convert_neck,
    is_openselfsup,
    open_starting_checkpoint,
)
from streams.face_pairs import face_pairs
from tests.compose import make_cfg

BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


# ------------------------------------------------------------------------------------------ synthetic files
def mmcv_neck(prefix: str, neck: nn.Sequential, style: str) -> "OrderedDict[str, torch.Tensor]":
    """Our nn.Sequential neck in an mmcv layout: 'simclr' = NonLinearNeckSimCLR (fc0, bn0, fc1, bn1, ...),
    'mlp' = NonLinearNeckV1/V2 (mlp.<index>)."""
    out = OrderedDict()
    fc = -1
    for idx, module in enumerate(neck):
        if isinstance(module, nn.Linear):
            fc += 1
            name = f"fc{fc}" if style == "simclr" else f"mlp.{idx}"
        elif isinstance(module, nn.BatchNorm1d):
            name = f"bn{fc}" if style == "simclr" else f"mlp.{idx}"
        else:
            continue
        for k, v in module.state_dict().items():
            out[f"{prefix}{name}.{k}"] = v.clone()
    return out


def with_prefix(prefix: str, module: nn.Module) -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict((prefix + k, v.clone()) for k, v in module.state_dict().items())


def perturb(algo: nn.Module) -> None:
    """Distinct values in every tensor, BN statistics included, so a wrong pairing cannot pass."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for k, t in algo.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5 if k.endswith("running_var") else torch.randn(t.shape, generator=g))
            elif k.endswith("num_batches_tracked"):
                t.fill_(123)


def mmcv_optimizer(state: "OrderedDict[str, torch.Tensor]", lr: float = 0.3, wd: float = 1e-6):
    """An OpenSelfSup LARS state_dict with ``paramwise_options`` (one group per parameter, in the order of the
    original's named_parameters = state_dict order without buffers and aliases). Momentum buffers are random."""
    g = torch.Generator().manual_seed(11)
    names = [k for k in state if not k.endswith(BN_BUFFERS) and k not in ("queue", "queue_ptr")]
    groups, opt_state = [], {}
    for i, name in enumerate(names):
        exclude = state[name].ndim <= 1
        groups.append({"lr": lr, "momentum": 0.9, "weight_decay": 0.0 if exclude else wd, "eta": 1e-3, "eps": 1e-8,
                       "lars_exclude": exclude, "params": [i]})
        opt_state[i] = {"momentum_buffer": torch.randn(state[name].shape, generator=g)}
    return {"state": opt_state, "param_groups": groups}, names


def simclr_file(algo: SimCLR):
    state = with_prefix("backbone.", algo.backbone)
    state.update(mmcv_neck("neck.", algo.neck, "simclr"))
    opt, names = mmcv_optimizer(state)
    return {"meta": {"epoch": 90, "iter": 1000}, "state_dict": state, "optimizer": opt}, names


def our_optimizer_index(parts: AlgorithmParts, algo: nn.Module) -> dict[str, int]:
    """name -> index in our optimizer's state_dict (as the engine builds it)."""
    opt = parts.optimizer_factory(algo.param_groups(parts.weight_decay))
    names = {id(p): n for n, p in algo.named_parameters()}
    flat = [p for grp in opt.param_groups for p in grp["params"]]
    return {names[id(p)]: i for i, p in enumerate(flat)}


def assert_same_state(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.fixture
def simclr(tmp_path):
    cfg = make_cfg(tmp_path)
    parts = algorithm_parts(cfg)
    torch.manual_seed(0)
    algo = parts.make()
    perturb(algo)
    return cfg, parts, algo


# ------------------------------------------------------------------------------------------ tests
def test_neck_layouts_pair_in_layer_order():
    ours = {"0.weight": torch.zeros(4, 3), "1.weight": torch.zeros(4), "1.bias": torch.zeros(4),
            "1.running_mean": torch.zeros(4), "1.running_var": torch.zeros(4), "3.weight": torch.zeros(2, 4),
            "4.weight": torch.zeros(2), "4.bias": torch.zeros(2), "4.running_mean": torch.zeros(2),
            "4.running_var": torch.zeros(2)}
    # NonLinearNeckSimCLR names, listed in alphabetical (not registration) order
    theirs = {k.replace("0.", "fc0.", 1).replace("1.", "bn0.", 1).replace("3.", "fc1.", 1).replace("4.", "bn1.", 1): v
              for k, v in ours.items()}
    theirs = dict(sorted(theirs.items()))
    mapping, unmatched, missing = convert_neck(theirs, ours)
    assert mapping["fc0.weight"] == "0.weight" and mapping["bn0.running_var"] == "1.running_var"
    assert mapping["fc1.weight"] == "3.weight" and mapping["bn1.bias"] == "4.bias"
    assert len(mapping) == 10 and unmatched == [] and missing == []
    # NonLinearNeckV2 (BYOL): mlp.0 fc+bias, mlp.1 BN, mlp.3 fc+bias, no last BN; vs a neck lacking the biases
    v2 = {"mlp.0.weight": 0, "mlp.0.bias": 0, "mlp.1.weight": 0, "mlp.1.running_mean": 0, "mlp.3.weight": 0, "mlp.3.bias": 0}
    v2 = {k: torch.zeros(2, 2) if k.endswith("weight") and k[4] in "03" else torch.zeros(2) for k in v2}
    no_bias = {"0.weight": torch.zeros(2, 2), "1.weight": torch.zeros(2), "1.running_mean": torch.zeros(2),
               "3.weight": torch.zeros(2, 2), "4.weight": torch.zeros(2), "4.running_mean": torch.zeros(2)}
    mapping, unmatched, missing = convert_neck(v2, no_bias)
    assert mapping == {"mlp.0.weight": "0.weight", "mlp.1.weight": "1.weight", "mlp.1.running_mean": "1.running_mean",
                       "mlp.3.weight": "3.weight"}
    assert unmatched == ["mlp.0.bias", "mlp.3.bias"] and missing == ["4.weight", "4.running_mean"]


def test_simclr_round_trip_weights_and_optimizer(simclr):
    cfg, parts, algo = simclr
    raw, src_names = simclr_file(algo)
    assert is_openselfsup(raw)
    ckpt = convert(raw, parts)
    assert all(k.startswith(PREFIX) for k in ckpt["state_dict"])
    fresh = parts.make()
    restore_algorithm(fresh, ckpt)                                  # strict: every key present
    assert_same_state(fresh.state_dict(), algo.state_dict())
    # momentum buffers follow their parameters: neck.fc1 -> neck.3, backbone keys unchanged
    opt = ckpt["optimizer_states"][0]
    index = our_optimizer_index(parts, fresh)
    for ours, theirs in [("neck.3.weight", "neck.fc1.weight"), ("neck.1.bias", "neck.bn0.bias"),
                         ("backbone.stem.0.weight", "backbone.stem.0.weight")]:
        src = raw["optimizer"]["state"][src_names.index(theirs)]["momentum_buffer"]
        assert torch.equal(opt["state"][index[ours]]["momentum_buffer"], src), ours
    assert len(opt["state"]) == len(src_names)
    # group hyper-parameters restored (LR 0.3 of the file, not the config's 0.6; wd 1e-6 / 0 per group)
    assert [g["lr"] for g in opt["param_groups"]] == [0.3, 0.3]
    assert [g["weight_decay"] for g in opt["param_groups"]] == [1e-6, 0.0]
    assert ckpt["lifelong"]["optimizer_restored"] is True
    # the engine's optimizer loads it and steps with the restored momentum
    optimizer = parts.optimizer_factory(fresh.param_groups(parts.weight_decay))
    optimizer.load_state_dict(opt)
    assert isinstance(optimizer, LARS)


def test_torchvision_resnet_keys_are_mmcv_resnet_keys(tmp_path):
    """mmcv's ResNet names its layers as torchvision's; a ResNet-18 SimCLR file maps 1:1."""
    torch.manual_seed(0)
    algo = SimCLR(resnet18(), hidden_dim=64, out_dim=16)
    perturb(algo)
    keys = set(algo.state_dict())
    for k in ("conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer1.1.bn2.bias",
              "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_var", "layer4.1.conv2.weight"):
        assert "backbone." + k in keys
    assert not any(k.startswith("backbone.fc.") for k in keys)      # mmcv's backbone has no classifier either
    parts = AlgorithmParts(
        name="simclr", make=lambda: SimCLR(resnet18(), hidden_dim=64, out_dim=16),
        optimizer_factory=lambda groups: LARS(groups, lr=0.6, weight_decay=1e-6),
        weight_decay=1e-6, stream_augment=nn.Identity(), pretrain_augment=nn.Identity(), realtime_lr=0.1,
    )
    raw, _ = simclr_file(algo)
    fresh = parts.make()
    restore_algorithm(fresh, convert(raw, parts))
    assert_same_state(fresh.state_dict(), algo.state_dict())


def test_missing_and_extra_keys_fail_with_one_error_naming_them(simclr):
    _, parts, algo = simclr
    raw, _ = simclr_file(algo)
    del raw["state_dict"]["neck.fc1.weight"]
    with pytest.raises(OpenSelfSupCheckpointError) as exc:
        convert(raw, parts)
    msg = str(exc.value)
    assert "missing target keys of SimCLR (1): neck.3.weight" in msg and "unmatched" not in msg

    raw, _ = simclr_file(algo)
    raw["state_dict"]["head.fc_cls.weight"] = torch.zeros(3, 3)
    with pytest.raises(OpenSelfSupCheckpointError) as exc:
        convert(raw, parts)
    msg = str(exc.value)
    assert "unmatched source keys (1): head.fc_cls.weight" in msg and "missing" not in msg

    raw, _ = simclr_file(algo)
    raw["state_dict"]["neck.fc2.weight"] = torch.zeros(8, 8)       # a 3rd layer the config does not have
    del raw["state_dict"]["backbone.stem.1.running_mean"]
    raw["state_dict"]["neck.fc0.weight"] = torch.zeros(7, 5)
    with pytest.raises(OpenSelfSupCheckpointError) as exc:
        convert(raw, parts)
    msg = str(exc.value)
    assert "unmatched source keys (1): neck.fc2.weight" in msg
    assert "missing target keys of SimCLR (1): backbone.stem.1.running_mean" in msg
    assert f"shape mismatches (1): neck.fc0.weight [7, 5] -> neck.0.weight {list(algo.neck[0].weight.shape)}" in msg
    assert len(msg.splitlines()) == 4                                 # one header + one line per kind


def test_unmappable_optimizer_is_dropped_with_a_warning(simclr, caplog):
    _, parts, algo = simclr
    raw, _ = simclr_file(algo)
    raw["optimizer"]["param_groups"].pop()                            # one parameter fewer than the state_dict
    with caplog.at_level(logging.WARNING):
        ckpt = convert(raw, parts)
    assert "optimizer state DROPPED" in caplog.text
    assert ckpt["lifelong"]["optimizer_restored"] is False
    assert ckpt["optimizer_states"][0]["state"] == {}                  # a fresh optimizer: zero momentum
    assert [g["lr"] for g in ckpt["optimizer_states"][0]["param_groups"]] == [0.6, 0.6]
    del raw["optimizer"]
    assert convert(raw, parts)["lifelong"]["optimizer_restored"] is False


def test_mocov2_encoders_alias_and_queue(tmp_path):
    cfg = make_cfg(tmp_path, ["algorithm=mocov2", "algorithm.model.queue_size=40", "algorithm.model.hidden_dim=32"])
    parts = algorithm_parts(cfg)
    torch.manual_seed(0)
    algo = parts.make()
    perturb(algo)
    algo.queue_ptr.fill_(24)
    # OpenSelfSup MOCO: root buffers first (queue [D, K], queue_ptr [1]), then encoder_q, its alias backbone, encoder_k
    state = OrderedDict([("queue", algo.queue.t().clone()), ("queue_ptr", torch.tensor([24]))])
    state.update(with_prefix("encoder_q.0.", algo.backbone))
    state.update(mmcv_neck("encoder_q.1.", algo.neck, "mlp"))
    state.update(with_prefix("backbone.", algo.backbone))
    state.update(with_prefix("encoder_k.0.", algo.key_backbone))
    state.update(mmcv_neck("encoder_k.1.", algo.key_neck, "mlp"))
    assert "encoder_q.1.mlp.2.bias" in state
    opt, _ = mmcv_optimizer(OrderedDict((k, v) for k, v in state.items() if not k.startswith("backbone.")))
    n_query = sum(1 for k in state if k.startswith("encoder_q.") and not k.endswith(BN_BUFFERS))
    for i in list(opt["state"]):
        if i >= n_query:
            del opt["state"][i]                                        # the frozen key encoder never gets state
    ckpt = convert({"state_dict": state, "optimizer": opt, "meta": None}, parts)
    fresh = parts.make()
    restore_algorithm(fresh, ckpt)
    assert_same_state(fresh.state_dict(), algo.state_dict())
    assert fresh.queue.shape == (40, 128) and int(fresh.queue_ptr) == 24 and fresh.queue_ptr.shape == ()
    o = ckpt["optimizer_states"][0]
    index = our_optimizer_index(parts, fresh)
    assert len(o["state"]) == n_query == len(index)
    assert torch.equal(o["state"][index["neck.2.bias"]]["momentum_buffer"], opt["state"][n_query - 1]["momentum_buffer"])


# (source prefix, our submodule, neck style or None for a backbone, alias?) in the original's module order
LAYOUT_CASES = {
    "byol": [("online_net.0.", "backbone", None, False), ("online_net.1.", "projector", "mlp", False),
             ("target_net.0.", "target_backbone", None, False), ("target_net.1.", "target_projector", "mlp", False),
             ("backbone.", "backbone", None, True), ("head.predictor.", "predictor", "mlp", False)],
    "byolneg": [("online_net.0.", "backbone", None, False), ("online_net.1.", "projector", "mlp", False),
                ("target_net.0.", "target_backbone", None, False), ("target_net.1.", "target_projector", "mlp", False),
                ("backbone.", "backbone", None, True)],
    "simsiam": [("online_net.0.", "backbone", None, False), ("online_net.1.", "projector", "simclr", False),
                ("backbone.", "backbone", None, True), ("head.predictor.", "predictor", "simclr", False)],
    "barlowtwins": [("backbone.", "backbone", None, False), ("neck.", "projector", "simclr", False)],
}


@pytest.mark.parametrize("name", sorted(LAYOUT_CASES))
def test_other_resnet_layouts_round_trip(tmp_path, name):
    cfg = make_cfg(tmp_path, [f"algorithm={name}"])
    parts = algorithm_parts(cfg)
    torch.manual_seed(0)
    algo = parts.make()
    perturb(algo)
    state, params = OrderedDict(), OrderedDict()
    for prefix, attr, style, alias in LAYOUT_CASES[name]:
        module = getattr(algo, attr)
        part = with_prefix(prefix, module) if style is None else mmcv_neck(prefix, module, style)
        state.update(part)
        if not alias:
            params.update(part)
    if name == "barlowtwins":      # the loss's affine-free BatchNorm: statistics only, no counterpart here
        state.update({"head.bn.running_mean": torch.zeros(8), "head.bn.running_var": torch.ones(8),
                      "head.bn.num_batches_tracked": torch.tensor(5)})
    opt, names = mmcv_optimizer(params)
    ckpt = convert({"state_dict": state, "optimizer": opt}, parts)
    fresh = parts.make()
    restore_algorithm(fresh, ckpt)
    assert_same_state(fresh.state_dict(), algo.state_dict())
    assert ckpt["lifelong"]["optimizer_restored"] is True
    # the last online parameter's momentum buffer lands on our corresponding parameter
    index = our_optimizer_index(parts, fresh)
    o = ckpt["optimizer_states"][0]
    last = {"byol": ("predictor.3.bias", "head.predictor.mlp.3.bias"),
            "byolneg": ("projector.3.bias", "online_net.1.mlp.3.bias"),
            "simsiam": ("predictor.3.weight", "head.predictor.fc1.weight"),
            "barlowtwins": ("projector.9.weight", "neck.fc3.weight")}[name]
    assert torch.equal(o["state"][index[last[0]]]["momentum_buffer"], opt["state"][names.index(last[1])]["momentum_buffer"])


def test_format_detection_and_config_errors(simclr, tmp_path):
    cfg, parts, algo = simclr
    raw, _ = simclr_file(algo)
    src = tmp_path / "epoch_90.pth"
    torch.save(raw, src)
    for fmt in ("auto", "openselfsup"):
        cfg2 = make_cfg(tmp_path, [f"pretraining.checkpoint={src}", f"pretraining.checkpoint_format={fmt}"])
        ckpt = open_starting_checkpoint(cfg2, parts, src)
        assert ckpt["lifelong"]["source_format"] == "openselfsup"
    # a Lightning-layout file is loaded as ours
    ours = tmp_path / "ours.ckpt"
    torch.save({"state_dict": ckpt["state_dict"], "optimizer_states": ckpt["optimizer_states"], "lifelong": {}}, ours)
    cfg3 = make_cfg(tmp_path, [f"pretraining.checkpoint={ours}"])
    assert open_starting_checkpoint(cfg3, parts, ours).keys() == load_checkpoint(ours).keys()
    with pytest.raises(ConfigError, match="checkpoint_format='mmcv'; expected one of auto, lightning, openselfsup"):
        open_starting_checkpoint(make_cfg(tmp_path, ["pretraining.checkpoint_format=mmcv"]), parts, src)
    with pytest.raises(ConfigError, match="needs pretraining.checkpoint="):
        open_starting_checkpoint(make_cfg(tmp_path, ["pretraining.checkpoint_format=openselfsup"]), parts, src)
    # an algorithm without a mapping table
    parts_x = AlgorithmParts("tiny", lambda: nn.Module(), None, 0.0, None, None, 0.1)
    with pytest.raises(OpenSelfSupCheckpointError, match="no OpenSelfSup key mapping for algorithm 'tiny'"):
        convert(raw, parts_x)


def test_benchmark_starts_from_an_openselfsup_file(simclr, tmp_path):
    """`pretraining.checkpoint=epoch_90.pth` (auto-detected): no pretraining, the run starts from its weights."""
    cfg, parts, algo = simclr
    raw, _ = simclr_file(algo)
    src = tmp_path / "simclr" / "epoch_90.pth"
    src.parent.mkdir()
    torch.save(raw, src)
    out = tmp_path / "run"
    cfg = make_cfg(out, [f"pretraining.checkpoint={src}", "benchmark.pairs=[0]", "benchmark.conditions=[build]"])
    res = run_realtime(cfg)
    assert res.attrs["checkpoint"] == str(src)
    assert not list(out.glob("*.ckpt"))                                 # nothing was pretrained
    # the first evaluation reads out the converted weights: the same d' as the source algorithm's read-out
    stim, _ = load_inputs(cfg)
    big, small = PairEmbedder(stim, face_pairs(stim.n_identities), eval_transform).readout(algo, torch.device("cpu"))
    np.testing.assert_allclose(res.initial_dprime_big, big.dprime.numpy())
    np.testing.assert_allclose(res.initial_dprime_small, small.dprime.numpy())


def test_swav_queue_files_beside_the_checkpoint(tmp_path, caplog):
    cfg = make_cfg(tmp_path, ["algorithm=swav", "algorithm.model.queue_length=8", "algorithm.model.num_prototypes=10",
                              "algorithm.model.queue_start=3"])
    parts = algorithm_parts(cfg)
    torch.manual_seed(0)
    algo = parts.make()
    perturb(algo)
    state = with_prefix("backbone.", algo.backbone)
    state.update(mmcv_neck("neck.", algo.neck, "simclr"))
    state["prototypes.weight"] = algo.prototypes.weight.detach().clone()
    opt, _ = mmcv_optimizer(state)
    raw = {"state_dict": state, "optimizer": opt}
    folder = tmp_path / "swav"
    folder.mkdir()
    # without queue0/1.pth: weights load, the queue starts empty, with a warning
    with caplog.at_level(logging.WARNING):
        ckpt = convert(raw, parts, folder / "epoch_40.pth")
    assert "queue files (queue0.pth, queue1.pth) not found" in caplog.text
    fresh = parts.make()
    restore_algorithm(fresh, ckpt)
    assert int(fresh.queue_count) == 0 and not fresh.queue.any()
    assert torch.equal(fresh.prototypes.weight, algo.prototypes.weight)
    # one queue per rank [crops, L / 2, D], newest first; rank 1's last 2 rows still empty
    q0, q1 = torch.randn(2, 4, 128), torch.randn(2, 4, 128)
    q1[:, 2:] = 0
    torch.save({"queue": q0}, folder / "queue0.pth")
    torch.save({"queue": q1}, folder / "queue1.pth")
    fresh = parts.make()
    restore_algorithm(fresh, convert(raw, parts, folder / "epoch_40.pth"))
    assert torch.equal(fresh.queue, torch.cat([q0, q1], dim=1))
    assert int(fresh.queue_count) == 6 and int(fresh.steps) == 3     # the queue is in use from the first step
    for k, v in algo.state_dict().items():
        if k not in ("queue", "queue_count", "steps"):
            assert torch.equal(fresh.state_dict()[k], v), k
