"""The container every loader returns: three (X, y) parts and the class names."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Dataset:
    """A data set split into train, validation and test parts.

    Fields:
        train, validation, test: (X, y) pairs. For image sets X is float32 (N, C, H, W) in [0, 1];
            y is int64 (N,) holding indices into `classes`. A part may be empty (N = 0).
        classes: class names, tuple of str; y == k means classes[k].
    """

    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    classes: tuple[str, ...]

    def __repr__(self):
        parts = ", ".join(
            f"{name}=X{getattr(self, name)[0].shape}" for name in ("train", "validation", "test")
        )
        return f"Dataset({parts}, classes={len(self.classes)})"
