import gzip
import re

import numpy as np
import pytest

from data_tools import load_mnist, read_idx

IMAGES, LABELS = 0x00000803, 0x00000801


def idx_bytes(array, magic):
    """An IDX file's bytes: the magic, one big-endian uint32 per dimension, then the uint8 data."""
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path, array, magic, gzipped=False):
    data = idx_bytes(array, magic)
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def write_mnist(root, n_train=20, n_test=7, rows=4, cols=5, gzipped=False):
    """Four MNIST files with non-square images (to catch transposes) and labels 0..9 in turn."""
    rng = np.random.default_rng(1)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        suffix = ".gz" if gzipped else ""
        write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images, IMAGES, gzipped)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", labels, LABELS, gzipped)
        arrays[prefix] = images, labels
    return arrays


@pytest.mark.parametrize("gzipped", [False, True])
def test_read_idx_returns_the_stored_images_and_labels(tmp_path, gzipped):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 3], dtype=np.uint8)
    read_images = read_idx(write_idx(tmp_path / "images", images, IMAGES, gzipped))
    read_labels = read_idx(write_idx(tmp_path / "labels", labels, LABELS, gzipped))
    assert read_images.dtype == np.uint8 and read_images.shape == (2, 3, 4)
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)


@pytest.mark.parametrize("gzipped", [False, True])
def test_load_mnist_gives_scaled_nchw_float32_and_int64_labels(tmp_path, gzipped):
    arrays = write_mnist(tmp_path, gzipped=gzipped)
    data = load_mnist(tmp_path, validation=0.5, seed=0)
    X_test, y_test = data.test
    assert X_test.dtype == np.float32 and X_test.shape == (7, 1, 4, 5)
    assert y_test.dtype == np.int64
    np.testing.assert_array_equal(X_test[:, 0] * 255, arrays["t10k"][0])
    np.testing.assert_array_equal(y_test, arrays["t10k"][1])
    assert X_test.min() >= 0 and X_test.max() <= 1
    assert data.classes == tuple("0123456789")
    # Half of the two training images of each digit went to validation; together they are the training set.
    (X_train, y_train), (X_val, y_val) = data.train, data.validation
    np.testing.assert_array_equal(np.bincount(y_val, minlength=10), np.ones(10))
    X_all = (np.concatenate([X_train, X_val]) * 255).astype(np.uint8)
    y_all = np.concatenate([y_train, y_val])
    expected_images, expected_labels = arrays["train"]
    assert sorted(zip(map(bytes, X_all), y_all)) == sorted(zip(map(bytes, expected_images), expected_labels))


def test_load_mnist_mixes_raw_and_gzipped_files(tmp_path):
    write_mnist(tmp_path, gzipped=True)
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress((tmp_path / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    np.testing.assert_array_equal(load_mnist(tmp_path).test[1], np.arange(7) % 10)


def test_missing_file_is_named(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.*IDX"):
        load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="read_idx.*nowhere"):
        read_idx(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "change", [lambda data: data[:-1], lambda data: data + b"\x00", lambda data: data[:6]],
    ids=["last byte cut", "trailing byte", "header cut"],
)
def test_truncated_or_padded_file_is_refused(tmp_path, change):
    path = tmp_path / "images"
    path.write_bytes(change(idx_bytes(np.zeros((3, 2, 2)), IMAGES)))
    with pytest.raises(ValueError, match=re.escape(f"read_idx: {path}") + ".*IDX"):
        read_idx(path)


@pytest.mark.parametrize(
    "change", [lambda data: data[:-10], lambda data: data[:20] + b"\xff" * 8 + data[28:]],
    ids=["truncated", "corrupt"],
)
def test_truncated_or_corrupt_gzip_is_refused(tmp_path, change):
    path = tmp_path / "images.gz"
    data = gzip.compress(idx_bytes(np.arange(300).reshape(3, 10, 10) % 256, IMAGES))
    path.write_bytes(change(data))
    with pytest.raises(ValueError, match=re.escape(f"read_idx: {path}") + ".*gzip"):
        read_idx(path)


def test_wrong_magic_is_refused(tmp_path):
    path = write_idx(tmp_path / "images", np.zeros((2, 2, 2)), 0x00000903)
    with pytest.raises(ValueError, match="0x00000903.*0x00000803"):
        read_idx(path)


def test_label_count_must_match_image_count(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(19), LABELS)
    with pytest.raises(ValueError, match="20 images.*train-labels-idx1-ubyte holds 19 labels"):
        load_mnist(tmp_path)


def test_swapped_images_and_labels_are_refused(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(20), LABELS)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte holds labels"):
        load_mnist(tmp_path)


def test_labels_outside_the_digits_are_refused(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(7, 10), LABELS)
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte holds label 10"):
        load_mnist(tmp_path)


def gzip_of_zeros(path, header, n_zeros, chunk=1 << 20):
    """A small .gz holding ``header`` then ``n_zeros`` zero bytes, written without holding them in memory."""
    with gzip.open(path, "wb", compresslevel=9) as stream:
        stream.write(header)
        for start in range(0, n_zeros, chunk):
            stream.write(bytes(min(chunk, n_zeros - start)))
    return path


def test_gzip_bomb_with_trailing_zeros_stops_at_the_header_size(tmp_path):
    # A valid header for 2 labels followed by 64 MiB of zeros: only the header's 2 bytes (and one more,
    # to see that data follows) are ever decompressed.
    header = LABELS.to_bytes(4, "big") + (2).to_bytes(4, "big")
    path = gzip_of_zeros(tmp_path / "labels.gz", header, 64 << 20)
    assert path.stat().st_size < 200_000
    with pytest.raises(ValueError, match=re.escape(f"read_idx: {path}") + ".*more than the 2 data bytes"):
        read_idx(path)


def test_header_claiming_a_huge_size_allocates_nothing(tmp_path):
    # 60000 x 28 x 28000 images (47 GB) declared, 16 bytes held: refused before any read of the data.
    header = IMAGES.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (60000, 28, 28000))
    path = gzip_of_zeros(tmp_path / "images.gz", header, 16)
    with pytest.raises(ValueError, match=r"declares dims \(60000, 28, 28000\), 47040000000 bytes.*max_bytes"):
        read_idx(path)
    # Under the limit but larger than the file: refused as short after reading what is there.
    header = IMAGES.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (1000, 1000, 1000))
    path = gzip_of_zeros(tmp_path / "short.gz", header, 16)
    with pytest.raises(ValueError, match=r"holds fewer than the 1000000000 data bytes"):
        read_idx(path)


def test_max_bytes_is_configurable(tmp_path):
    path = write_idx(tmp_path / "images", np.zeros((3, 2, 2)), IMAGES)
    assert read_idx(path, max_bytes=12).shape == (3, 2, 2)
    with pytest.raises(ValueError, match="12 bytes of data, above max_bytes=11"):
        read_idx(path, max_bytes=11)
