"""MNIST from its IDX files (http://yann.lecun.com/exdb/mnist/), raw or gzipped."""

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from data_tools.dataset import Dataset
from data_tools.splits import split
from minidl import checks

IDX_IMAGES = 0x00000803  # unsigned bytes, 3 dims (N, rows, cols)
IDX_LABELS = 0x00000801  # unsigned bytes, 1 dim (N,)
GZIP_MAGIC = b"\x1f\x8b"
IDX_FORMAT = (
    "IDX: magic 0x00000803 (images) or 0x00000801 (labels), one big-endian uint32 per dimension, "
    "then the uint8 data; raw or gzipped"
)
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
_CHUNK = 1 << 20  # bytes decompressed per read


def read_idx(path, max_bytes=1 << 30):
    """Read one IDX file of unsigned bytes, raw or gzipped (detected by the gzip magic 1f 8b).

    The header is the magic number (0x00000803 images, 0x00000801 labels) followed by one big-endian
    uint32 per dimension; the file must then hold exactly prod(dims) bytes of data. The file is read as a
    stream: the header is checked first and no more than the bytes it implies (plus one, to detect
    trailing data) are ever decompressed, so a gzip bomb costs at most ``max_bytes``.

    Args:
        path: the IDX file.
        max_bytes: the largest data size accepted, in bytes (default 1 GiB; MNIST's largest file is 47 MB).

    Returns:
        uint8 array (N, rows, cols) for images or (N,) for labels.

    Raises:
        FileNotFoundError: when ``path`` is not a file.
        TypeError: when ``max_bytes`` is not an integer.
        ValueError: for a bad magic, a header whose data would exceed ``max_bytes``, a corrupt gzip stream,
            or data shorter or longer than the header implies; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_idx: {path} does not exist; expected a file in {IDX_FORMAT}")
    max_bytes = checks.integer(max_bytes, "max_bytes", "read_idx", low=0)
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        try:
            return _read_idx_stream(stream, f"{path} (gzipped)" if gzipped else path, max_bytes)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(
                f"read_idx: {path} is a corrupt or truncated gzip file ({error}); expected {IDX_FORMAT}"
            ) from error


def _read_idx_stream(stream, path, max_bytes):
    """The array held by an open IDX stream, read header first and never past the size it implies.

    ``path`` only names the file in errors.
    """
    magic_bytes = stream.read(4)
    if len(magic_bytes) < 4:
        raise ValueError(
            f"read_idx: {path} holds {len(magic_bytes)} bytes, too few for a header; expected {IDX_FORMAT}"
        )
    magic = int.from_bytes(magic_bytes, "big")
    if magic not in (IDX_IMAGES, IDX_LABELS):
        raise ValueError(f"read_idx: {path} starts with magic 0x{magic:08x}; expected {IDX_FORMAT}")
    ndim = magic & 0xFF
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"read_idx: {path} is truncated inside its header; expected {IDX_FORMAT}")
    shape = tuple(int.from_bytes(dims[4 * i:4 * i + 4], "big") for i in range(ndim))
    size = math.prod(shape)
    if size > max_bytes:
        raise ValueError(
            f"read_idx: {path} declares dims {shape}, {size} bytes of data, above max_bytes={max_bytes}; "
            f"pass a larger max_bytes if the file is genuine"
        )
    data = bytearray()
    while len(data) < size:  # in chunks: a header claiming more than the file holds allocates nothing
        chunk = stream.read(min(size - len(data), _CHUNK))
        if not chunk:
            break
        data += chunk
    if len(data) < size or stream.read(1):
        held = "fewer" if len(data) < size else "more"
        raise ValueError(
            f"read_idx: {path} holds {held} than the {size} data bytes its dims {shape} imply; "
            f"the file is truncated or has trailing bytes ({IDX_FORMAT})"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(shape).copy()


def load_mnist(root, validation=0.1, seed=0):
    """Load MNIST from the folder `root` holding the four standard IDX files, each raw or with .gz.

    The validation part is carved from the official training set by `split(..., seed=seed)`
    (stratified); the official t10k files are the test part.

    Returns:
        Dataset with X float32 (N, 1, 28, 28) in [0, 1], y int64 (N,) in 0..9, classes '0'..'9'.
    """
    root = Path(root)
    X_train, y_train = _read_images_and_labels(root, *MNIST_FILES["train"])
    test = _read_images_and_labels(root, *MNIST_FILES["test"])
    train, held_out, _ = split(X_train, y_train, validation=validation, seed=seed)
    return Dataset(train=train, validation=held_out, test=test, classes=MNIST_CLASSES)


def _read_images_and_labels(root, images_name, labels_name):
    """Read one images file and its labels file and check that they agree.

    Returns:
        X float32 (N, 1, rows, cols) in [0, 1], y int64 (N,).
    """
    images_path, labels_path = _find(root, images_name), _find(root, labels_name)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise ValueError(
            f"load_mnist: {images_path} holds labels; expected images (IDX magic 0x{IDX_IMAGES:08x})"
        )
    if labels.ndim != 1:
        raise ValueError(
            f"load_mnist: {labels_path} holds images; expected labels (IDX magic 0x{IDX_LABELS:08x})"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"load_mnist: {images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels; "
            f"expected one label per image"
        )
    if np.any(labels > 9):
        raise ValueError(f"load_mnist: {labels_path} holds label {labels.max()}; expected digits 0..9")
    return images[:, None].astype(np.float32) / 255, labels.astype(np.int64)


def _find(root, name):
    """Path of `name` or `name`.gz inside `root`, whichever exists (the raw file first)."""
    for path in (root / name, root / f"{name}.gz"):
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"load_mnist: neither {root / name} nor {root / name}.gz exists; "
        f"expected the MNIST file {name} ({IDX_FORMAT})"
    )
