import re

import numpy as np
import pytest
from PIL import Image

from data_tools import load_tiny_imagenet

WNIDS = ("n02123045", "n01443537", "n09999999")  # deliberately not sorted: labels follow the file's order
VAL_PER_CLASS = 3


def color(label, i):
    """A distinct solid color per image; the red channel encodes the label."""
    return 40 + 80 * label, 20 + 25 * i, 200 - 20 * i


def write_tiny_imagenet(root, per_class=4):
    """A small tree in the official layout, with real JPEGs and one two-toned grayscale image."""
    (root / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    for label, wnid in enumerate(WNIDS):
        folder = root / "train" / wnid / "images"
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (64, 64), color(label, i)).save(folder / f"{wnid}_{i}.JPEG")
    gray = np.full((64, 64), 30, dtype=np.uint8)
    gray[32:] = 220  # dark top, bright bottom: an image whose rows and columns differ
    Image.fromarray(gray, "L").save(root / "train" / WNIDS[1] / "images" / f"{WNIDS[1]}_gray.JPEG")
    (root / "val" / "images").mkdir(parents=True)
    lines = []
    for j in range(VAL_PER_CLASS * len(WNIDS)):  # classes interleaved, as in the real file
        label = j % len(WNIDS)
        Image.new("RGB", (64, 64), color(label, j)).save(root / "val" / "images" / f"val_{j}.JPEG")
        lines.append(f"val_{j}.JPEG\t{WNIDS[label]}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def test_load_reads_images_labels_and_official_validation_as_test(tmp_path):
    write_tiny_imagenet(tmp_path)
    data = load_tiny_imagenet(tmp_path, validation=0.2, seed=0)
    assert data.classes == WNIDS
    X_test, y_test = data.test
    assert X_test.dtype == np.float32 and X_test.shape == (9, 3, 64, 64)
    assert y_test.dtype == np.int64 and y_test.tolist() == [0, 1, 2] * VAL_PER_CLASS
    for j, image in enumerate(X_test):  # JPEG keeps a solid color within a step or two
        np.testing.assert_allclose(image.mean(axis=(1, 2)) * 255, color(j % 3, j), atol=2)
    (X_train, y_train), (X_val, y_val) = data.train, data.validation
    assert len(X_train) + len(X_val) == 13 and np.bincount(y_val).tolist() == [1, 1, 1]
    X, y = np.concatenate([X_train, X_val]), np.concatenate([y_train, y_val])
    assert X.min() >= 0 and X.max() <= 1
    gray = np.all(X[:, 0] == X[:, 1], axis=(1, 2)) & np.all(X[:, 1] == X[:, 2], axis=(1, 2))
    assert gray.sum() == 1 and y[gray] == 1  # the grayscale image became RGB with equal channels
    np.testing.assert_allclose(X[gray, 0, :28].mean() * 255, 30, atol=2)
    np.testing.assert_allclose(X[gray, 0, 36:].mean() * 255, 220, atol=2)
    red = X[~gray, 0].mean(axis=(1, 2)) * 255
    np.testing.assert_array_equal(np.rint((red - 40) / 80), y[~gray])


def test_max_per_class_limits_train_and_test(tmp_path):
    write_tiny_imagenet(tmp_path)
    data = load_tiny_imagenet(tmp_path, max_per_class=2, validation=0.0)
    assert np.bincount(data.train[1]).tolist() == [2, 2, 2]
    assert np.bincount(data.test[1]).tolist() == [2, 2, 2]
    assert len(data.validation[0]) == 0 and data.validation[0].shape[1:] == (3, 64, 64)


def test_missing_wnids_and_annotations_are_named(tmp_path):
    write_tiny_imagenet(tmp_path)
    (tmp_path / "val" / "val_annotations.txt").unlink()
    with pytest.raises(FileNotFoundError, match="val_annotations.txt does not exist.*Tiny ImageNet layout"):
        load_tiny_imagenet(tmp_path)
    (tmp_path / "wnids.txt").unlink()
    with pytest.raises(FileNotFoundError, match="wnids.txt does not exist"):
        load_tiny_imagenet(tmp_path)


def test_class_without_images_is_named(tmp_path):
    write_tiny_imagenet(tmp_path)
    for path in (tmp_path / "train" / WNIDS[2] / "images").iterdir():
        path.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "train" / WNIDS[2] / "images"))):
        load_tiny_imagenet(tmp_path)


def test_missing_annotated_image_is_named(tmp_path):
    write_tiny_imagenet(tmp_path)
    (tmp_path / "val" / "images" / "val_4.JPEG").unlink()
    with pytest.raises(FileNotFoundError, match="val_4.JPEG does not exist"):
        load_tiny_imagenet(tmp_path)


def test_unknown_wnid_in_annotations_is_refused(tmp_path):
    write_tiny_imagenet(tmp_path)
    path = tmp_path / "val" / "val_annotations.txt"
    lines = path.read_text().splitlines()
    lines[1] = "val_1.JPEG\tn00000000\t0\t0\t63\t63"
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError, match="val_annotations.txt line 2 .*n00000000"):
        load_tiny_imagenet(tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "truncate"])
def test_corrupt_or_truncated_jpeg_is_named(tmp_path, damage):
    write_tiny_imagenet(tmp_path)
    path = tmp_path / "train" / WNIDS[0] / "images" / f"{WNIDS[0]}_1.JPEG"
    path.write_bytes(b"not a jpeg" if damage == "garbage" else path.read_bytes()[:300])
    with pytest.raises(ValueError, match=re.escape(str(path)) + " is not a readable image"):
        load_tiny_imagenet(tmp_path)


def test_image_of_the_wrong_size_is_refused(tmp_path):
    write_tiny_imagenet(tmp_path)
    path = tmp_path / "val" / "images" / "val_0.JPEG"
    Image.new("RGB", (32, 48), (0, 0, 0)).save(path)
    with pytest.raises(ValueError, match="val_0.JPEG is 32x48; expected 64x64"):
        load_tiny_imagenet(tmp_path)
