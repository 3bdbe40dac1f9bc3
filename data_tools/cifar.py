"""CIFAR-10 from its python pickle batches (https://www.cs.toronto.edu/~kriz/cifar.html)."""

import codecs
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

    The batches are pickles, read with an unpickler that builds only what the format holds (see
    :func:`read_cifar_batch`), so a crafted file cannot run code. The validation part is carved from the five
    training batches by `split(..., seed=seed)` (stratified); test_batch is the test part.

    Returns:
        Dataset with X float32 (N, 3, 32, 32) in [0, 1], y int64 (N,) in 0..9, classes CIFAR10_CLASSES.

    Raises:
        FileNotFoundError, ValueError: as :func:`read_cifar_batch`, naming the batch file.
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

    The pickle is read by a restricted unpickler: it builds dicts, lists, str, bytes, numbers and NumPy
    arrays, and refuses every other class or function a file names, so loading never runs code.

    Returns:
        X float32 (N, 3, 32, 32) in [0, 1], y int64 (N,).

    Raises:
        FileNotFoundError: when ``path`` is not a file.
        ValueError: when the file is not a readable pickle, names anything beyond the format, or lacks
            the format's keys, shapes, dtypes or label range; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_cifar_batch: {path} does not exist; expected {CIFAR_FORMAT}")
    try:
        with open(path, "rb") as file:
            batch = _BatchUnpickler(file, encoding="bytes").load()
    except _Refused as error:
        raise ValueError(f"read_cifar_batch: {path} {error}; expected {CIFAR_FORMAT}") from error
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


class _Refused(pickle.UnpicklingError):
    """A pickle names a global that a CIFAR-10 batch never holds."""


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals a CIFAR-10 batch needs.

    A batch holds a dict of bytes, lists of ints or bytes, and one NumPy array. Pickled by Python 3,
    bytes go through ``_codecs.encode``; an array is rebuilt by NumPy's ``_reconstruct`` from
    ``ndarray`` and a ``dtype`` (``_frombuffer`` under protocol 5), a NumPy integer by ``scalar``.
    Every other global (``os.system``, ``builtins.eval`` ...) is refused before it is imported.
    """

    _ALLOWED = {
        ("_codecs", "encode"): codecs.encode,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    # NumPy's own rebuilders, under the module names of NumPy 1 (numpy.core) and 2 (numpy._core): an
    # array (protocols 2-4), an array from an out-of-band buffer (protocol 5), a NumPy integer.
    for _rebuild, _module in ((np.zeros(0).__reduce_ex__(2)[0], "multiarray"),
                              (np.zeros(0).__reduce_ex__(5)[0], "numeric"),
                              (np.int64(0).__reduce__()[0], "multiarray")):
        for _package in ("numpy.core", "numpy._core"):
            _ALLOWED[f"{_package}.{_module}", _rebuild.__name__] = _rebuild
    del _rebuild, _module, _package

    def find_class(self, module, name):
        try:
            return self._ALLOWED[module, name]
        except KeyError:
            raise _Refused(
                f"names {module}.{name}, which is refused: a CIFAR-10 batch holds only dicts, lists, str, "
                f"bytes, numbers and NumPy arrays"
            ) from None
