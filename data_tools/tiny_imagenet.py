"""Tiny ImageNet (cs231n, http://cs231n.stanford.edu/tiny-imagenet-200.zip) from its folder layout.

[Dworakowski 2019, section 3.1]: 200 classes, 500 training and 50 validation images each, 64x64 RGB. The
official test images carry no labels, so the official validation images serve as the test part here.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from data_tools.dataset import Dataset
from data_tools.splits import split
from minidl import checks

IMAGE_SIZE = 64
TINY_IMAGENET_FORMAT = (
    "the Tiny ImageNet layout: wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG and "
    "val/val_annotations.txt (tab-separated filename, wnid, bbox), 64x64 images"
)


def load_tiny_imagenet(root, max_per_class=None, validation=0.1, seed=0):
    """Load Tiny ImageNet from the folder `root` (tiny-imagenet-200).

    Images are read with Pillow and converted to RGB (grayscale ones included). Training images of a
    class are taken in file-name order; `max_per_class` keeps the first ones of each class, in both
    the training and the official validation folders (the full set is 100,000 + 10,000 images,
    about 5.4 GB as float32). The validation part is carved from the training images by
    `split(..., seed=seed)` (stratified); the official validation images are the test part.

    Returns:
        Dataset with X float32 (N, 3, 64, 64) in [0, 1], y int64 (N,) indexing into the wnids.txt
        order, classes the wnids.

    Raises:
        TypeError: when ``max_per_class`` is not an integer.
        ValueError: when it is below 1, or a file of the folder is malformed (named).
        FileNotFoundError: when a file of the format is missing (named).
    """
    if max_per_class is not None:
        max_per_class = checks.integer(max_per_class, "max_per_class", "load_tiny_imagenet", low=1)
    root = Path(root)
    wnids = _read_wnids(root / "wnids.txt")
    train_paths, train_labels = [], []
    for label, wnid in enumerate(wnids):
        folder = root / "train" / wnid / "images"
        paths = sorted(folder.glob("*.JPEG"))[:max_per_class]
        if not paths:
            raise FileNotFoundError(
                f"load_tiny_imagenet: no *.JPEG files in {folder}; expected {TINY_IMAGENET_FORMAT}"
            )
        train_paths += paths
        train_labels += [label] * len(paths)
    test_paths, test_labels = _read_val_annotations(root / "val", wnids, max_per_class)
    X_train, y_train = _read_images(train_paths), np.array(train_labels, dtype=np.int64)
    test = _read_images(test_paths), np.array(test_labels, dtype=np.int64)
    train, held_out, _ = split(X_train, y_train, validation=validation, seed=seed)
    return Dataset(train=train, validation=held_out, test=test, classes=wnids)


def _read_wnids(path):
    """The class ids in wnids.txt, one per line, as a tuple of str."""
    if not path.is_file():
        raise FileNotFoundError(f"load_tiny_imagenet: {path} does not exist; expected {TINY_IMAGENET_FORMAT}")
    wnids = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if not wnids or len(set(wnids)) != len(wnids):
        raise ValueError(
            f"load_tiny_imagenet: {path} holds {len(wnids)} ids, {len(set(wnids))} distinct; "
            f"expected one distinct wnid per line"
        )
    return wnids


def _read_val_annotations(val_root, wnids, max_per_class):
    """Paths and labels of the official validation images listed in val/val_annotations.txt.

    Returns:
        list of Path (M,), list of int (M,) indexing into wnids.
    """
    path = val_root / "val_annotations.txt"
    if not path.is_file():
        raise FileNotFoundError(f"load_tiny_imagenet: {path} does not exist; expected {TINY_IMAGENET_FORMAT}")
    label_of = {wnid: label for label, wnid in enumerate(wnids)}
    counts = dict.fromkeys(wnids, 0)
    paths, labels = [], []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in label_of:
            raise ValueError(
                f"load_tiny_imagenet: {path} line {line_number} reads {line!r}; expected a file name and "
                f"one of the wnids of wnids.txt, tab-separated"
            )
        filename, wnid = fields[:2]
        if max_per_class is None or counts[wnid] < max_per_class:
            counts[wnid] += 1
            paths.append(val_root / "images" / filename)
            labels.append(label_of[wnid])
    return paths, labels


def _read_images(paths):
    """Read 64x64 images into one float32 array (N, 3, 64, 64) in [0, 1]."""
    X = np.empty((len(paths), 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"load_tiny_imagenet: {path} does not exist; expected {TINY_IMAGENET_FORMAT}"
            ) from error
        except OSError as error:  # Pillow's UnidentifiedImageError and truncated-file errors
            raise ValueError(
                f"load_tiny_imagenet: {path} is not a readable image ({error}); "
                f"expected {TINY_IMAGENET_FORMAT}"
            ) from error
        if pixels.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
            raise ValueError(
                f"load_tiny_imagenet: {path} is {pixels.shape[1]}x{pixels.shape[0]}; "
                f"expected {IMAGE_SIZE}x{IMAGE_SIZE} images"
            )
        X[i] = pixels.transpose(2, 0, 1) / 255
    return X
