"""CIFAR-10 from its python pickle batches (https://www.cs.toronto.edu/~kriz/cifar.html)."""

import pickle
from pathlib import Path

import numpy as np

from data_tools.dataset import Dataset
from data_tools.splits import split

TRAIN_BATCHES = tuple(f"data_batch_{k}" for k in range(1, 6))
TEST_BATCH = "test_batch"
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
CIFAR_FORMAT = (
    "a CIFAR-10 python batch: a pickled dict with b'data' (N, 3072) uint8, channel-major 3x32x32 rows, "
    "and b'labels', N ints in 0..9"
)


def load_cifar10(root, validation=0.1, seed=0):
    """Load CIFAR-10 from the folder `root` (cifar-10-batches-py) holding data_batch_1..5 and test_batch.

    The batches are pickles: load only files you trust. The validation part is carved from the five
    training batches by `split(..., seed=seed)` (stratified); test_batch is the test part.

    Returns:
        Dataset with X float32 (N, 3, 32, 32) in [0, 1], y int64 (N,) in 0..9, classes CIFAR10_CLASSES.
    """
    root = Path(root)
    batches = [read_cifar_batch(root / name) for name in TRAIN_BATCHES]
    X_train = np.concatenate([X for X, _ in batches])
    y_train = np.concatenate([y for _, y in batches])
    test = read_cifar_batch(root / TEST_BATCH)
    train, held_out, _ = split(X_train, y_train, validation=validation, seed=seed)
    return Dataset(train=train, validation=held_out, test=test, classes=CIFAR10_CLASSES)


def read_cifar_batch(path):
    """Read one CIFAR-10 python batch file.

    Returns:
        X float32 (N, 3, 32, 32) in [0, 1], y int64 (N,).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_cifar_batch: {path} does not exist; expected {CIFAR_FORMAT}")
    try:
        with open(path, "rb") as file:
            batch = pickle.load(file, encoding="bytes")
    except Exception as error:  # a damaged pickle can fail in many ways; all mean the same here
        raise ValueError(
            f"read_cifar_batch: {path} is not a readable pickle ({error!r}); expected {CIFAR_FORMAT}"
        ) from error
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"read_cifar_batch: {path} lacks b'data' or b'labels'; expected {CIFAR_FORMAT}")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(
            f"read_cifar_batch: {path} has b'data' {data.dtype} {data.shape}; expected {CIFAR_FORMAT}"
        )
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"read_cifar_batch: {path} has {len(data)} images but b'labels' {labels.dtype} {labels.shape}; "
            f"expected {CIFAR_FORMAT}"
        )
    if np.any((labels < 0) | (labels > 9)):
        raise ValueError(f"read_cifar_batch: {path} holds labels outside 0..9; expected {CIFAR_FORMAT}")
    return data.reshape(-1, 3, 32, 32).astype(np.float32) / 255, labels.astype(np.int64)
