"""Start the benchmark from the authors' pretrained checkpoints (OpenSelfSup / mmcv layout).

Spec: data_sources.md §1.5, algorithms.md (overview table, checkpoint column), realtime.md §5.1.
The authors' ``models/<dir>/epoch_N.pth`` files are mmcv checkpoints::

    {"state_dict": {"backbone.conv1.weight": ..., "neck.fc0.weight": ..., ...},
     "optimizer": {"state": {index: {...}}, "param_groups": [...]},    # required by the protocol
     "meta": {...}}

Parameter names follow the OpenSelfSup modules of each method (``backbone.`` / ``neck.`` / ``head.``;
MoCo ``encoder_q.0.`` / ``encoder_k.1.`` plus ``queue``; BYOL and SimSiam ``online_net.0.`` /
``target_net.1.`` / ``head.predictor.``). A file in the MAE-repository style with a ``model`` key is
accepted too; its keys receive a ``backbone.`` prefix. :func:`convert` maps such a checkpoint onto one of
this project's algorithms and returns a checkpoint in the engine's own layout
(lifelong/training/checkpoint.py: ``state_dict`` with ``algorithm.`` keys, ``optimizer_states``), so the
real-time runs restart from it exactly as from a checkpoint of the harness's own pretraining.

Key mapping = a table of prefix rules per algorithm (``LAYOUTS``, keyed by the algorithm class's registry
name, so the config variants simclr_mlp4 / simclr_r50 / byol_mlp4 use their class's table):

* ``same``: the sub-keys are identical. mmcv's ResNet backbone uses torchvision's parameter names
  (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0`` ...), so ``backbone.`` maps 1:1 onto
  our torchvision backbones.
* ``neck``: the generic neck-layout converter (:func:`convert_neck`). Necks are sequences of Linear and
  BatchNorm layers stored under different names: mmcv's NonLinearNeckSimCLR uses ``fc0, bn0, fc1, bn1, ...``,
  NonLinearNeckV1 (MoCo v2) ``mlp.0, mlp.2``, NonLinearNeckV2 (BYOL) ``mlp.0, mlp.1, mlp.3``, ours
  (algorithms/heads.projection_mlp, an ``nn.Sequential``) plain indices. Both sides are put in layer order,
  each layer classified (linear: 2-d weight; batch norm: running statistics) and the two sequences aligned.
* ``transpose`` / ``reshape``: MoCo's queue is stored [D, K] there and [K, D] here; its pointer has shape
  [1] there and [] here.
* ``alias``: a second name of the same module (OpenSelfSup's ``backbone`` is ``encoder_q[0]`` /
  ``online_net[0]``); dropped.
* ``drop``: state with no counterpart here (Barlow Twins' affine-free BN on the embedding); dropped.

Any source key no rule maps, any key of our algorithm left unfilled, and any shape that differs end in ONE
:class:`OpenSelfSupCheckpointError` listing them all. BatchNorm ``num_batches_tracked`` counters missing
from old files are the only keys allowed to keep their initial value.

Optimizer: mmcv saves ``optimizer.state_dict()``, whose parameter indices follow the original model's
``named_parameters()`` order (buffers and aliases excluded), one group per parameter when the config had
``paramwise_options`` (LARS: BN/bias excluded from weight decay). The indices are matched to names through
the source state_dict's order, each state (momentum buffer, Adam moments) moved to our parameter's index,
and group hyper-parameters restored where all source parameters of one of our groups agree (realtime.md
§5.1: "restore its state ... and every param group's hyper-parameters"; the LR is replaced by the constant
exposure LR anyway). When that is impossible (no optimizer in the file, a different parameter count, a
shape that does not fit) the optimizer state is DROPPED with a warning and the runs start from a fresh
optimizer (zero momentum); the note is kept in the converted checkpoint's ``lifelong.notes``.

SwAV: the original keeps its queue outside the checkpoint, one ``queue<rank>.pth`` per GPU beside it
({"queue": [crops, L / world_size, D]}, newest first). They are concatenated along the queue axis into our
``queue``; without them the queue starts empty (a warning).
"""
from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from omegaconf import DictConfig

from ..components import AlgorithmParts, ConfigError
from .checkpoint import PREFIX, CheckpointError, load_checkpoint

log = logging.getLogger(__name__)

FORMATS = ("auto", "lightning", "openselfsup")
#: keys of a Lightning checkpoint (ours) that an mmcv checkpoint never has
LIGHTNING_KEYS = ("pytorch-lightning_version", "optimizer_states", "lifelong", "loops", "callbacks")
BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
MAX_LISTED = 25


class OpenSelfSupCheckpointError(CheckpointError):
    """An OpenSelfSup checkpoint does not map onto the algorithm; the message lists every offending key."""


@dataclass(frozen=True)
class Rule:
    """Map source keys starting with ``source`` (a prefix ending in '.', or an exact key) to ``target``."""

    source: str
    target: str | None = None
    kind: str = "same"              # same | neck | transpose | reshape | alias | drop

    def matches(self, key: str) -> bool:
        return key.startswith(self.source) if self.source.endswith(".") else key == self.source


@dataclass(frozen=True)
class Layout:
    """How one algorithm's OpenSelfSup checkpoint maps onto ours."""

    rules: tuple[Rule, ...]
    #: target keys that may keep their initial value (state the checkpoint file does not hold)
    fresh: tuple[str, ...] = ()
    #: reads extra state beside the checkpoint file: (checkpoint path, algorithm) -> (source keys, notes)
    extra: Callable[[Path | None, torch.nn.Module], tuple[dict[str, torch.Tensor], list[str]]] | None = field(
        default=None, compare=False
    )


def _swav_queues(path: Path | None, algorithm: torch.nn.Module) -> tuple[dict[str, torch.Tensor], list[str]]:
    files = sorted(path.parent.glob("queue*.pth"), key=lambda p: p.name) if path is not None else []
    files = [f for f in files if re.fullmatch(r"queue\d+\.pth", f.name)]
    if not files:
        return {}, [f"SwAV queue files (queue0.pth, queue1.pth) not found beside {path}; the queue starts empty"]
    parts = []
    for f in sorted(files, key=lambda p: int(re.findall(r"\d+", p.name)[0])):
        obj = torch.load(f, map_location="cpu", weights_only=False)
        q = obj.get("queue") if isinstance(obj, dict) else None
        if not isinstance(q, torch.Tensor) or q.ndim != 3:
            raise OpenSelfSupCheckpointError(f"{f} holds no 'queue' tensor of shape [crops, length, dim]")
        parts.append(q.float())
    queue = torch.cat(parts, dim=1)
    filled = int((queue[0].abs().sum(-1) > 0).sum())
    steps = int(getattr(algorithm, "queue_start", 0))    # the queue is in use at the checkpoint's epoch
    notes = [f"SwAV queue from {', '.join(f.name for f in files)}: {filled} of {queue.shape[1]} rows filled"]
    return {"queue": queue, "queue_count": torch.tensor(filled), "steps": torch.tensor(steps)}, notes


#: prefix rules per algorithm class (registry name); order matters only for readability
LAYOUTS: dict[str, Layout] = {
    # SimCLR (and simclr_mlp4 / simclr_r50): backbone + NonLinearNeckSimCLR; ContrastiveHead has no state
    "simclr": Layout((Rule("backbone.", "backbone."), Rule("neck.", "neck.", "neck"))),
    # MoCo v2: encoder_q / encoder_k = Sequential(backbone, NonLinearNeckV1); queue [D, K]
    "mocov2": Layout((
        Rule("encoder_q.0.", "backbone."), Rule("encoder_q.1.", "neck.", "neck"),
        Rule("encoder_k.0.", "key_backbone."), Rule("encoder_k.1.", "key_neck.", "neck"),
        Rule("backbone.", None, "alias"),
        Rule("queue", "queue", "transpose"), Rule("queue_ptr", "queue_ptr", "reshape"),
    )),
    # BYOL (and byol_mlp4): online_net / target_net = Sequential(backbone, neck); head = LatentPredictHead
    "byol": Layout((
        Rule("online_net.0.", "backbone."), Rule("online_net.1.", "projector.", "neck"),
        Rule("target_net.0.", "target_backbone."), Rule("target_net.1.", "target_projector.", "neck"),
        Rule("head.predictor.", "predictor.", "neck"), Rule("backbone.", None, "alias"),
    )),
    # BYOLNeg: BYOL without a predictor (algorithms.md §7); its head is a ContrastiveHead (no state)
    "byolneg": Layout((
        Rule("online_net.0.", "backbone."), Rule("online_net.1.", "projector.", "neck"),
        Rule("target_net.0.", "target_backbone."), Rule("target_net.1.", "target_projector.", "neck"),
        Rule("backbone.", None, "alias"),
    )),
    # SimSiam: online_net = Sequential(backbone, projector); head.predictor
    "simsiam": Layout((
        Rule("online_net.0.", "backbone."), Rule("online_net.1.", "projector.", "neck"),
        Rule("head.predictor.", "predictor.", "neck"), Rule("backbone.", None, "alias"),
    )),
    # Barlow Twins: backbone + 4-layer projector neck; the head's affine-free BN holds only statistics
    "barlowtwins": Layout((
        Rule("backbone.", "backbone."), Rule("neck.", "projector.", "neck"), Rule("head.", None, "drop"),
    )),
    # SwAV: backbone + neck + prototypes; the queue lives in queue<rank>.pth beside the checkpoint
    "swav": Layout(
        (Rule("backbone.", "backbone."), Rule("neck.", "neck.", "neck"), Rule("prototypes.", "prototypes."),
         Rule("queue", "queue"), Rule("queue_count", "queue_count", "reshape"), Rule("steps", "steps", "reshape")),
        fresh=("queue", "queue_count", "steps"),
        extra=_swav_queues,
    ),
}


# ------------------------------------------------------------------------------------------ reading
def is_openselfsup(raw: object) -> bool:
    """An mmcv/OpenSelfSup checkpoint: a ``state_dict`` (or MAE-style ``model``) and no Lightning keys."""
    if not isinstance(raw, dict) or any(k in raw for k in LIGHTNING_KEYS):
        return False
    return isinstance(raw.get("state_dict"), dict) or isinstance(raw.get("model"), dict)


def source_state(raw: dict) -> dict[str, torch.Tensor]:
    """The flat source state_dict: ``state_dict`` (DDP ``module.`` prefixes stripped), or an MAE-style
    ``model`` whose keys receive a ``backbone.`` prefix (data_sources.md §1.5)."""
    if isinstance(raw.get("state_dict"), dict):
        state = dict(raw["state_dict"])
    else:
        state = {f"backbone.{k}": v for k, v in raw["model"].items()}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _read(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for corrupt files
        raise CheckpointError(f"checkpoint {path} could not be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(raw).__name__}, not a checkpoint dict")
    return raw


# ------------------------------------------------------------------------------------------ necks
def _layer_sort_key(layer: str) -> list[tuple]:
    """Layer order: numbered parts by number; in fcN/bnN layouts fcN comes before bnN."""
    key = []
    for part in layer.split("."):
        m = re.fullmatch(r"([A-Za-z_]*?)(\d+)", part)
        if m:
            rank = {"fc": 0, "linear": 0, "bn": 1, "norm": 1}.get(m.group(1), 0)
            key.append((0, int(m.group(2)), rank, m.group(1)))
        else:
            key.append((1, 0, 0, part))
    return key


def _layers(state: dict[str, torch.Tensor]) -> list[tuple[str, str, dict[str, torch.Tensor]]]:
    """[(layer name, kind, {param: tensor})] in layer order; kind is linear / batchnorm / norm / other."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        layer, _, param = key.rpartition(".")
        groups.setdefault(layer, {})[param] = value
    out = []
    for layer in sorted(groups, key=_layer_sort_key):
        params = groups[layer]
        w = params.get("weight")
        if "running_mean" in params or "running_var" in params:
            kind = "batchnorm"
        elif w is not None and w.ndim == 2:
            kind = "linear"
        elif w is not None and w.ndim == 1:
            kind = "norm"
        else:
            kind = "other"
        out.append((layer, kind, params))
    return out


def _same_shapes(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> int:
    return int(all(a[k].shape == b[k].shape for k in a.keys() & b.keys()))


def _align(src: list, tgt: list) -> list[tuple[int, int]]:
    """Index pairs of the longest common subsequence of layer kinds (ties: layers whose shapes agree)."""
    n, m = len(src), len(tgt)
    score = [[0] * (m + 1) for _ in range(n + 1)]

    def gain(i: int, j: int) -> int:
        return 2 + _same_shapes(src[i][2], tgt[j][2]) if src[i][1] == tgt[j][1] else -1

    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            score[i][j] = max(score[i + 1][j], score[i][j + 1], score[i + 1][j + 1] + gain(i, j))
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        g = gain(i, j)
        if g > 0 and score[i][j] == score[i + 1][j + 1] + g:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif score[i + 1][j] >= score[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def convert_neck(
    source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> tuple[dict[str, str], list[str], list[str]]:
    """Pair the layers of two neck layouts. Keys are relative to the neck.

    Both sides are put in layer order and each layer classified; layers are paired along the longest common
    subsequence of their kinds (ties broken towards layers whose shapes agree), so a layer missing on one
    side is reported as that layer's keys rather than shifting every later layer. Within a pair, parameters
    pair by name. Returns (source key -> target key, unmatched source keys, missing target keys); shapes are
    checked by the caller.
    """
    src, tgt = _layers(source), _layers(target)
    pairs = _align(src, tgt)
    mapping: dict[str, str] = {}
    unmatched: list[str] = []
    missing: list[str] = []
    paired_src = {i: j for i, j in pairs}
    paired_tgt = set(paired_src.values())
    for i, (s_layer, _, s_params) in enumerate(src):
        if i not in paired_src:
            unmatched += [f"{s_layer}.{p}" for p in s_params]
            continue
        t_layer, _, t_params = tgt[paired_src[i]]
        for p in s_params:
            if p in t_params:
                mapping[f"{s_layer}.{p}"] = f"{t_layer}.{p}"
            else:
                unmatched.append(f"{s_layer}.{p}")
        missing += [f"{t_layer}.{p}" for p in t_params if p not in s_params]
    missing += [f"{layer}.{p}" for j, (layer, _, params) in enumerate(tgt) if j not in paired_tgt for p in params]
    return mapping, unmatched, missing


# ------------------------------------------------------------------------------------------ state dict
@dataclass
class Mapping:
    state: dict[str, torch.Tensor]          # our key -> tensor
    source_of: dict[str, str]               # our key -> source key
    source_params: list[str]                # source parameter names in the original's named_parameters order
    notes: list[str]


def _layout_for(algorithm: torch.nn.Module, fallback_name: str) -> tuple[str, Layout]:
    name = getattr(type(algorithm), "name", "") or fallback_name
    if name not in LAYOUTS:
        raise OpenSelfSupCheckpointError(
            f"no OpenSelfSup key mapping for algorithm {name!r} ({type(algorithm).__name__}); mappings exist for "
            f"{', '.join(sorted(LAYOUTS))} (lifelong/training/openselfsup_checkpoint.py LAYOUTS)"
        )
    return name, LAYOUTS[name]


def _listing(title: str, items: list[str]) -> str:
    more = f", ... ({len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else ""
    shown = ", ".join(items[:MAX_LISTED]) + more
    return f"\n  {title} ({len(items)}): {shown}"


def map_state_dict(
    source: dict[str, torch.Tensor],
    algorithm: torch.nn.Module,
    layout: Layout,
    name: str = "",
    origin: str = "checkpoint",
    extra: dict[str, torch.Tensor] | None = None,
) -> Mapping:
    """Map an OpenSelfSup state_dict onto ``algorithm``'s keys; one error lists every problem."""
    target = algorithm.state_dict()
    params = {n for n, _ in algorithm.named_parameters()}
    notes: list[str] = []
    out: dict[str, torch.Tensor] = {}
    source_of: dict[str, str] = {}
    unmatched: list[str] = []
    shapes: list[str] = []
    misfit: set[str] = set()                # target keys already reported with a shape mismatch
    counted: list[str] = []                 # source keys that are parameters of the original, in order
    extra = dict(extra or {})

    by_rule: dict[Rule, dict[str, torch.Tensor]] = {r: {} for r in layout.rules}
    for key, value in source.items():
        rule = next((r for r in layout.rules if r.matches(key)), None)
        if rule is None:
            unmatched.append(key)
            continue
        by_rule[rule][key] = value
        if rule.kind != "alias" and not key.endswith(BN_BUFFERS):
            counted.append(key)
    for key, value in extra.items():
        rule = next((r for r in layout.rules if r.matches(key)), None)
        if rule is None:
            unmatched.append(key)
        else:
            by_rule[rule][key] = value

    def put(src_key: str, tgt_key: str, value: torch.Tensor) -> None:
        if tgt_key not in target:
            unmatched.append(src_key)
            return
        want = target[tgt_key].shape
        if value.shape != want:
            shapes.append(f"{src_key} {list(value.shape)} -> {tgt_key} {list(want)}")
            misfit.add(tgt_key)
            return
        out[tgt_key] = value.detach().clone().to(target[tgt_key].dtype)
        source_of[tgt_key] = src_key

    for rule, entries in by_rule.items():
        if rule.kind in ("alias", "drop"):
            if entries and rule.kind == "drop":
                notes.append(f"dropped {len(entries)} source keys under {rule.source!r} (no counterpart here)")
            continue
        if rule.kind == "neck":
            sub_src = {k[len(rule.source):]: v for k, v in entries.items()}
            sub_tgt = {k[len(rule.target):]: v for k, v in target.items() if k.startswith(rule.target)}
            pairs, un, _ = convert_neck(sub_src, sub_tgt)
            unmatched += [rule.source + k for k in un]
            for s, t in pairs.items():
                put(rule.source + s, rule.target + t, sub_src[s])
            continue
        for key, value in entries.items():
            tgt_key = rule.target + key[len(rule.source):] if rule.source.endswith(".") else rule.target
            if rule.kind == "transpose":
                value = value.t()
            elif rule.kind == "reshape" and tgt_key in target and value.numel() == target[tgt_key].numel():
                value = value.reshape(target[tgt_key].shape)
            put(key, tgt_key, value)

    missing = [k for k in target if k not in out and k not in misfit]
    tolerated = [k for k in missing if k.endswith("num_batches_tracked") or k in layout.fresh]
    missing = [k for k in missing if k not in tolerated]
    if unmatched or missing or shapes:
        msg = f"{origin} (OpenSelfSup layout) does not map onto {type(algorithm).__name__} (key rules {name!r}):"
        if unmatched:
            msg += _listing("unmatched source keys", unmatched)
        if missing:
            msg += _listing(f"missing target keys of {type(algorithm).__name__}", missing)
        if shapes:
            msg += _listing("shape mismatches", shapes)
        backbone = type(getattr(algorithm, "backbone", None)).__name__
        if backbone != "ResNet" and any(k.endswith("conv1.weight") for k in unmatched):
            msg += (f"\n  hint: the file holds a ResNet but this config builds a {backbone} backbone; the authors' "
                    "checkpoints need the paper's networks (preset=paper, or backbone=paper image_size=224)")
        raise OpenSelfSupCheckpointError(msg)
    for k in tolerated:
        out[k] = target[k].detach().clone()
    fresh = [k for k in tolerated if k in layout.fresh]
    if fresh:
        notes.append(f"not in the checkpoint, kept at their initial value: {', '.join(fresh)}")
    # the original's parameters: counted source keys mapped onto a parameter here, or dropped ones
    target_of = {src: tgt for tgt, src in source_of.items()}
    source_params = [k for k in counted if (target_of[k] in params if k in target_of else True)]
    return Mapping(out, source_of, source_params, notes)


# ------------------------------------------------------------------------------------------ optimizer
def map_optimizer_state(
    src_optimizer: object,
    mapping: Mapping,
    algorithm: torch.nn.Module,
    optimizer_factory: Callable[[list[dict]], torch.optim.Optimizer],
    weight_decay: float,
) -> tuple[dict, str | None]:
    """(our optimizer state_dict, None) or (a fresh optimizer's state_dict, the reason the source was dropped)."""
    fresh_opt = optimizer_factory(algorithm.param_groups(weight_decay))
    fresh = fresh_opt.state_dict()
    if not isinstance(src_optimizer, dict) or "state" not in src_optimizer or "param_groups" not in src_optimizer:
        return fresh, "the checkpoint holds no single optimizer state_dict"
    src_groups = src_optimizer["param_groups"]
    src_indices = [i for g in src_groups for i in g["params"]]
    if len(src_indices) != len(mapping.source_params):
        return fresh, (
            f"its optimizer covers {len(src_indices)} parameters but the state_dict names {len(mapping.source_params)}"
        )
    index_of = {name: idx for name, idx in zip(mapping.source_params, src_indices)}
    group_of = {i: g for g in src_groups for i in g["params"]}
    src_state = src_optimizer["state"]
    ours_name = {id(p): n for n, p in algorithm.named_parameters()}
    result = copy.deepcopy(fresh)
    state: dict[int, dict] = {}
    for g_fresh, g_live, g_out in zip(fresh["param_groups"], fresh_opt.param_groups, result["param_groups"]):
        agreed: dict[str, list] = {}
        for idx, p in zip(g_fresh["params"], g_live["params"]):
            src_name = mapping.source_of.get(ours_name[id(p)])
            src_idx = index_of.get(src_name)
            if src_idx is None:
                return fresh, f"our parameter {ours_name[id(p)]} has no counterpart in its optimizer"
            entry = src_state.get(src_idx)
            if entry:
                for k, v in entry.items():
                    if isinstance(v, torch.Tensor) and v.ndim and v.shape != p.shape:
                        return fresh, (f"its state {k!r} of {src_name} has shape {list(v.shape)}, "
                                       f"not {list(p.shape)}")
                state[idx] = {k: (v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v))
                              for k, v in entry.items()}
            for k, v in group_of[src_idx].items():
                if k != "params" and k in g_out:
                    agreed.setdefault(k, []).append(v)
        for k, values in agreed.items():
            if len(values) == len(g_fresh["params"]) and all(v == values[0] for v in values):
                g_out[k] = copy.deepcopy(values[0])
    result["state"] = state
    try:                                     # the engine will load it the same way (SSLModule)
        optimizer_factory(algorithm.param_groups(weight_decay)).load_state_dict(result)
    except (ValueError, KeyError, TypeError) as exc:
        return fresh, f"the mapped state does not load ({exc})"
    return result, None


# ------------------------------------------------------------------------------------------ public API
def convert(
    raw: dict,
    parts: AlgorithmParts,
    path: Path | None = None,
) -> dict:
    """An OpenSelfSup checkpoint (as loaded) -> a checkpoint in the engine's layout for ``parts``' algorithm."""
    origin = str(path) if path is not None else "checkpoint"
    with torch.random.fork_rng(devices=[]):           # building the target must not move the run's RNG
        algorithm = parts.make()
    name, layout = _layout_for(algorithm, parts.name)
    extra, notes = layout.extra(path, algorithm) if layout.extra is not None else ({}, [])
    mapping = map_state_dict(source_state(raw), algorithm, layout, name, origin, extra)
    notes = notes + mapping.notes
    opt_state, dropped = map_optimizer_state(raw.get("optimizer"), mapping, algorithm, parts.optimizer_factory,
                                             parts.weight_decay)
    if dropped:
        notes.append(f"optimizer state DROPPED ({dropped}); the runs start from a fresh optimizer (zero momentum)")
    for note in notes:
        (log.warning if "DROPPED" in note or "not found" in note else log.info)("%s: %s", origin, note)
    meta = raw.get("meta")
    return {
        "state_dict": {PREFIX + k: v for k, v in mapping.state.items()},
        "optimizer_states": [opt_state],
        "lifelong": {
            "algorithm": parts.name,
            "source_format": "openselfsup",
            "source": origin,
            "source_meta": repr(meta)[:2000] if meta is not None else None,
            "optimizer_restored": dropped is None,
            "notes": notes,
        },
    }


def checkpoint_format(cfg: DictConfig) -> str:
    """``pretraining.checkpoint_format``, validated (call before any pretraining)."""
    fmt = str(cfg.pretraining.get("checkpoint_format", "auto") or "auto")
    if fmt not in FORMATS:
        raise ConfigError(f"pretraining.checkpoint_format={fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "openselfsup" and not cfg.pretraining.get("checkpoint"):
        raise ConfigError(
            "pretraining.checkpoint_format=openselfsup needs pretraining.checkpoint=/path/to/epoch_N.pth"
        )
    return fmt


def open_starting_checkpoint(cfg: DictConfig, parts: AlgorithmParts, path: str | Path) -> dict:
    """The starting checkpoint in the engine's layout, whatever its format.

    ``pretraining.checkpoint_format``: ``lightning`` (this project's), ``openselfsup`` (the authors'
    mmcv files), or ``auto`` (default): OpenSelfSup when the file has a ``state_dict`` (or ``model``) and
    none of Lightning's keys. Checkpoints of the harness's own pretraining are always Lightning files.
    """
    path = Path(path)
    fmt = checkpoint_format(cfg)
    if fmt == "lightning" or not cfg.pretraining.get("checkpoint"):
        return load_checkpoint(path)
    raw = _read(path)
    if fmt == "auto":
        fmt = "openselfsup" if is_openselfsup(raw) else "lightning"
    if fmt == "lightning":
        return load_checkpoint(path)
    if not (isinstance(raw.get("state_dict"), dict) or isinstance(raw.get("model"), dict)):
        raise CheckpointError(f"checkpoint {path} has no 'state_dict' (or 'model'); not an OpenSelfSup/mmcv checkpoint")
    return convert(raw, parts, path)
