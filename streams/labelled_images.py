"""A labelled image set for the life-long read-out: a training split (to fit the classifier) and a test split.

Images are uint8 [N, 3, S, S]; labels are 0-based class indices into ``class_names``. The labels are used
only by the read-out, never by training.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class LabelledImages:
    train_images: torch.Tensor          # uint8 [N_train, 3, S, S]
    train_labels: np.ndarray            # int64 [N_train]
    test_images: torch.Tensor           # uint8 [N_test, 3, S, S]
    test_labels: np.ndarray             # int64 [N_test]
    class_names: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x = getattr(self, f"{split}_images")
            y = np.asarray(getattr(self, f"{split}_labels"), dtype=np.int64)
            object.__setattr__(self, f"{split}_labels", y)
            if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != x.shape[3]:
                raise ValueError(f"{split} images must be uint8 [N, 3, S, S], got {x.dtype} {tuple(x.shape)}")
            if y.shape != (x.shape[0],):
                raise ValueError(f"{split}: {x.shape[0]} images but {y.shape[0]} labels")
            if len(y) == 0:
                raise ValueError(f"the {split} split of the read-out set is empty")
            if y.min() < 0 or y.max() >= len(self.class_names):
                raise ValueError(f"{split} labels must lie in 0..{len(self.class_names) - 1} (one per class name)")
        if self.train_images.shape[2] != self.test_images.shape[2]:
            raise ValueError("train and test images differ in size")
        if len(np.unique(self.train_labels)) < 2:
            raise ValueError("the read-out set needs at least two classes in its training split")

    @property
    def image_size(self) -> int:
        return int(self.train_images.shape[-1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)
