"""Convolution training steps, minidl against PyTorch CPU, interleaved in one run.

One step is what a convolutional block costs in training: conv 3x3 (C -> C channels, padding 1), ReLU,
max pooling 2x2, then backward to the weights, the bias and the input (as for any layer but the first),
and an SGD step with momentum 0.9. Batch 32, float32, images of 14, 28 and 56 pixels, C = 16, 64, 128.
The libraries are timed in turns with a pause between them (see timing.py); each cell prints the
median and range of minidl's and PyTorch's step, their ratio (minidl / PyTorch: below 1 means minidl
is faster) and the GFLOP/s of minidl's three matrix products (forward, weight and input gradients).
The benchmark conv net epoch of bench_train.py closes the table.

    python benchmarks/bench_conv.py [--repeats 7] [--quick]
"""
import argparse

import numpy
import torch

import minidl
from minidl import backend, nn, optim
from minidl.autograd import Tensor
import bench_train
import timing

SIZES = (14, 28, 56)
CHANNELS = (16, 64, 128)
BATCH = 32
TARGET = 1.5
EPOCH_TARGET = 1.3


def block_minidl(c):
    return nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))


def block_torch(c):
    t = torch.nn
    return t.Sequential(t.Conv2d(c, c, 3, padding=1), t.ReLU(), t.MaxPool2d(2))


def step_minidl(model, x):
    """One training step of ``model`` on the (N, C, H, W) array ``x``, with the input's gradient."""
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        optimizer.zero_grad()
        inputs = Tensor(x, requires_grad=True)
        model(inputs).sum().backward()
        optimizer.step()
    return step


def step_torch(model, x):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.from_numpy(x)

    def step():
        optimizer.zero_grad()
        inputs = x.clone().requires_grad_(True)
        model(inputs).sum().backward()
        optimizer.step()
    return step


def product_flops(c, size):
    """Multiply-adds x 2 of the forward product and of the weight and input gradient products."""
    return 3 * 2 * BATCH * size * size * c * c * 9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 repeats, 2 epochs (about 2 minutes)")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    minidl.manual_seed(0)
    torch.manual_seed(0)
    rng = numpy.random.default_rng(0)
    print(f"backend {backend.name}; torch {torch.__version__} with {torch.get_num_threads()} threads; "
          f"median (range) of {repeats} interleaved repeats, {timing.PAUSE_S} s pause")
    print(timing.machine())
    print(f"{'step, batch 32':<16} {'minidl ms':>22} {'torch ms':>22} {'ratio':>6} {'GFLOP/s':>8}")
    worst = 0.0
    for size in SIZES:
        for c in CHANNELS:
            x = backend.to_device(rng.standard_normal((BATCH, c, size, size), dtype=numpy.float32))
            times = timing.interleaved({"minidl": step_minidl(block_minidl(c), x),
                                        "torch": step_torch(block_torch(c), backend.asnumpy(x))}, repeats)
            ours, theirs = times["minidl"], times["torch"]
            ratio = timing.median(ours) / timing.median(theirs)
            worst = max(worst, ratio)
            gflops = product_flops(c, size) / timing.median(ours) / 1e9
            print(f"{size}x{size}, C = {c:<5} {timing.spread(ours, 1e3, 1):>22} "
                  f"{timing.spread(theirs, 1e3, 1):>22} {ratio:6.2f} {gflops:8.1f}")
    verdict = "ok" if worst <= TARGET else "SLOW"
    print(f"worst cell {worst:.2f} (target <= {TARGET})  {verdict}")
    epoch = bench_train.conv_epoch_times(2 if args.quick else repeats)
    ratio = timing.median(epoch["minidl"]) / timing.median(epoch["torch"])
    verdict = "ok" if ratio <= EPOCH_TARGET else "SLOW"
    print(f"conv net epoch (bench_train): minidl {timing.spread(epoch['minidl'])} s, torch "
          f"{timing.spread(epoch['torch'])} s, ratio {ratio:.2f} (target <= {EPOCH_TARGET})  {verdict}")
    print(timing.machine())


if __name__ == "__main__":
    main()
