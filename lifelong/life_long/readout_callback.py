"""Linear read-out during life-long training: before training and after every k-th chunk (and the last).

Features of the labelled read-out set come from ``algorithm.features`` in eval mode (BN running statistics
from the stream, as the original); the classifier is ``linear_readout`` (lifelong.md §9.2). Also times every
chunk's training apart from the read-outs. Under DDP only rank 0 reads out; the others go on to the next
chunk and wait for it at the first gradient all-reduce.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pytorch_lightning as pl
import torch

from algorithms.normalize import eval_transform
from streams.frame_timeline import FrameTimeline
from streams.labelled_images import LabelledImages

from .linear_readout import ReadoutResult, extract_features, linear_readout


@dataclass
class ReadoutRecord:
    chunk: list[int] = field(default_factory=list)
    step: list[int] = field(default_factory=list)
    results: list[ReadoutResult] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    chunk_seconds: list[float] = field(default_factory=list)


class LinearReadout(pl.Callback):
    def __init__(self, readout_set: LabelledImages, timeline: FrameTimeline, n_chunks: int, every_n_chunks: int,
                 options: dict, seed: int, log=print) -> None:
        self.data = readout_set
        self.timeline = timeline
        self.n_chunks = n_chunks
        self.every = every_n_chunks
        self.options = options
        self.seed = seed
        self._print = log
        self.record = ReadoutRecord()
        self._chunk_start = 0.0

    @torch.no_grad()
    def evaluate(self, algorithm: torch.nn.Module, device: torch.device) -> ReadoutResult:
        was_training = algorithm.training
        algorithm.eval()
        size = self.data.image_size

        def model_fn(x: torch.Tensor) -> torch.Tensor:
            return algorithm.features(x.to(device)).float().cpu()

        try:
            transform = lambda x: eval_transform(x, size)  # noqa: E731
            train_x = extract_features(model_fn, self.data.train_images, transform)
            test_x = extract_features(model_fn, self.data.test_images, transform)
        finally:
            algorithm.train(was_training)
        return linear_readout(train_x, self.data.train_labels, test_x, self.data.test_labels, seed=self.seed,
                              **self.options)

    def state_dict(self) -> dict:
        return {"record": self.record}

    def load_state_dict(self, state: dict) -> None:
        self.record = state["record"]

    def _run(self, trainer: pl.Trainer, pl_module: pl.LightningModule, chunk: int) -> None:
        if not trainer.is_global_zero:
            return                      # under DDP rank 0 reads out (its weights equal every rank's) and records
        t0 = time.time()
        res = self.evaluate(pl_module.algorithm, pl_module.device)
        r = self.record
        r.chunk.append(chunk)
        r.step.append(int(trainer.global_step))
        r.results.append(res)
        r.seconds.append(time.time() - t0)
        hours = self.timeline.hours_through(chunk)
        knn = "" if res.knn_acc is None or not np.isfinite(res.knn_acc) else f"  1-NN {100 * res.knn_acc:.1f}%"
        self._print(f"[{'before training' if chunk < 0 else f'after chunk {chunk:3d}'}  {hours:8.3f} h] "
                 f"SVM {100 * res.svm_acc:.1f}% (alpha {res.alpha:g})  paper's oracle {100 * res.svm_perf_oracle:.1f}%"
                 f"{knn}  [{r.seconds[-1]:.1f}s]")

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.global_step == 0 and trainer.current_epoch == 0:
            self._run(trainer, pl_module, -1)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._chunk_start = time.time()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.record.chunk_seconds.append(time.time() - self._chunk_start)
        e = int(trainer.current_epoch)
        if (e + 1) % self.every == 0 or e == self.n_chunks - 1:
            self._run(trainer, pl_module, e)
