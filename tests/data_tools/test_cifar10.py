import os
import pickle
import re

import numpy as np
import pytest

from data_tools import CIFAR10_CLASSES, load_cifar10, read_cifar_batch


def write_batch(path, data, labels):
    """A batch as the official files hold it: a pickled dict with bytes keys."""
    batch = {
        b"batch_label": b"test", b"labels": list(labels), b"data": data, b"filenames": [b"x.png"] * len(data),
    }
    path.write_bytes(pickle.dumps(batch, protocol=2))


def write_cifar(root, per_batch=4, n_test=3):
    rng = np.random.default_rng(2)
    arrays = {}
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        n = n_test if name == "test_batch" else per_batch
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n)
        write_batch(root / name, data, labels)
        arrays[name] = data, labels
    return arrays


def test_batch_rows_become_channel_major_images(tmp_path):
    data = np.zeros((2, 3072), dtype=np.uint8)
    data[1, 1024] = 255  # green channel, row 0, column 0 of the second image
    data[1, 32] = 51  # red channel, row 1, column 0
    write_batch(tmp_path / "batch", data, [3, 9])
    X, y = read_cifar_batch(tmp_path / "batch")
    assert X.dtype == np.float32 and X.shape == (2, 3, 32, 32)
    assert y.dtype == np.int64 and y.tolist() == [3, 9]
    assert X[1, 1, 0, 0] == 1.0 and X[1, 0, 1, 0] == np.float32(0.2)
    assert X.sum() == np.float32(1.2)


def test_load_cifar10_reads_all_batches(tmp_path):
    arrays = write_cifar(tmp_path)
    data = load_cifar10(tmp_path, validation=0.25, seed=0)
    assert data.classes == CIFAR10_CLASSES and len(data.classes) == 10
    X_test, y_test = data.test
    np.testing.assert_array_equal(X_test * 255, arrays["test_batch"][0].reshape(3, 3, 32, 32))
    np.testing.assert_array_equal(y_test, arrays["test_batch"][1])
    (X_train, y_train), (X_val, y_val) = data.train, data.validation
    assert len(X_train) + len(X_val) == 20 and len(X_val) > 0
    got = sorted(zip(map(bytes, (np.concatenate([X_train, X_val]) * 255).astype(np.uint8)),
                     np.concatenate([y_train, y_val])))
    train = [arrays[f"data_batch_{k}"] for k in range(1, 6)]
    expected = sorted(zip(map(bytes, np.concatenate([d for d, _ in train]).reshape(20, 3, 32, 32)),
                          np.concatenate([y for _, y in train])))
    assert got == expected


def test_missing_batch_is_named(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3.*CIFAR-10 python batch"):
        load_cifar10(tmp_path)


@pytest.mark.parametrize("content", [b"not a pickle at all", "truncate"])
def test_truncated_or_corrupt_pickle_is_refused(tmp_path, content):
    write_cifar(tmp_path)
    path = tmp_path / "test_batch"
    path.write_bytes(path.read_bytes()[:1000] if content == "truncate" else content)
    with pytest.raises(ValueError, match="test_batch is not a readable pickle.*CIFAR-10 python batch"):
        load_cifar10(tmp_path)


@pytest.mark.parametrize(
    "data, labels, message",
    [
        (np.zeros((3, 3072), np.uint8), [0, 1], "3 images but b'labels'"),
        (np.zeros((3, 3000), np.uint8), [0, 1, 2], r"b'data' uint8 \(3, 3000\)"),
        (np.zeros((3, 3072), np.float32), [0, 1, 2], "b'data' float32"),
        (np.zeros((3, 3072), np.uint8), [0, 1, 10], "labels outside 0..9"),
    ],
)
def test_malformed_batch_is_refused(tmp_path, data, labels, message):
    write_batch(tmp_path / "batch", data, labels)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "batch")) + f" .*{message}"):
        read_cifar_batch(tmp_path / "batch")


def test_dict_without_data_is_refused(tmp_path):
    (tmp_path / "batch").write_bytes(pickle.dumps({b"labels": [1]}))
    with pytest.raises(ValueError, match="lacks b'data'"):
        read_cifar_batch(tmp_path / "batch")


class _RunsCode:
    """An object whose unpickling would create the folder ``marker``: a stand-in for arbitrary code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


@pytest.mark.parametrize("reader", ["read_cifar_batch", "load_cifar10"])
def test_crafted_pickle_is_refused_without_running_code(tmp_path, reader):
    write_cifar(tmp_path)
    marker = tmp_path / "code-ran"
    batch = {b"labels": [1], b"data": np.zeros((1, 3072), np.uint8), b"extra": _RunsCode(marker)}
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    # The same payload does run under the plain unpickler: the crafted file is a real threat.
    pickle.loads((tmp_path / "data_batch_1").read_bytes())
    assert marker.is_dir()
    marker.rmdir()
    call = {"read_cifar_batch": lambda: read_cifar_batch(tmp_path / "data_batch_1"),
            "load_cifar10": lambda: load_cifar10(tmp_path)}[reader]
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "data_batch_1")) + r" names \S*mkdir, "
                       "which is refused"):
        call()
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_batches_of_every_pickle_protocol_load(tmp_path, protocol):
    data = np.arange(2 * 3072, dtype=np.int64).reshape(2, 3072).astype(np.uint8)
    batch = {b"batch_label": "training batch 1 of 5", b"labels": [np.int64(4), 7], b"data": data,
             b"filenames": [b"a.png", "b.png"]}
    (tmp_path / "batch").write_bytes(pickle.dumps(batch, protocol=protocol))
    X, y = read_cifar_batch(tmp_path / "batch")
    np.testing.assert_array_equal(X.reshape(2, 3072) * 255, data)
    assert y.tolist() == [4, 7]


def test_a_batch_pickled_under_numpy_1_module_names_loads(tmp_path):
    # The official files name numpy.core.multiarray._reconstruct (NumPy 1); NumPy 2 calls it numpy._core.
    data = np.arange(3072, dtype=np.int64).reshape(1, 3072).astype(np.uint8)
    content = pickle.dumps({b"labels": [3], b"data": data}, protocol=2)
    assert b"numpy._core.multiarray" in content
    (tmp_path / "batch").write_bytes(content.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    X, y = read_cifar_batch(tmp_path / "batch")
    np.testing.assert_array_equal(X.reshape(1, 3072) * 255, data)
    assert y.tolist() == [3]
