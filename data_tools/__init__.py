"""Loaders and generators of data sets, on the host in NumPy (no network access at run time).

Image loaders return a Dataset whose X parts are float32 (N, C, H, W) in [0, 1] and y parts int64 (N,).
"""

from data_tools.batches import batches
from data_tools.cifar import CIFAR10_CLASSES, load_cifar10, read_cifar_batch
from data_tools.dataset import Dataset
from data_tools.digits import load_digits
from data_tools.generators import linearly_separable
from data_tools.idx import load_mnist, read_idx
from data_tools.preprocessing import channel_stats, normalize, random_crop, random_horizontal_flip
from data_tools.splits import split
from data_tools.tiny_imagenet import load_tiny_imagenet

__all__ = [
    "CIFAR10_CLASSES",
    "batches",
    "Dataset",
    "channel_stats",
    "linearly_separable",
    "load_cifar10",
    "load_digits",
    "load_mnist",
    "load_tiny_imagenet",
    "normalize",
    "random_crop",
    "random_horizontal_flip",
    "read_cifar_batch",
    "read_idx",
    "split",
]
