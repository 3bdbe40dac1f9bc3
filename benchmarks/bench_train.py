"""One training epoch, minidl against PyTorch CPU on the same machine, in one run.

(a) MLP 784-256-256-10, batch 128, 10 000 random samples;
(b) conv net: conv 3x3 32 ch, ReLU, maxpool 2, conv 3x3 64 ch, ReLU, maxpool 2, linear 10;
    batch 64, 2 000 random 1x28x28 samples.
Both use float32, SGD with momentum 0.9 and cross-entropy; PyTorch runs on the CPU. Under
MINIDL_BACKEND=cupy minidl runs on the GPU (each epoch ends with a device synchronize), so the
same script gives the GPU figures. The two libraries' epochs are timed in turns, `--repeats` times
after a warm-up, with a pause between them (see timing.py), and the median and range are printed. The
BLAS peak (float32 GEMM, 1024^3) is printed for scale, with the share of it that each epoch's matrix
products reach: the forward products, the weight gradients, and the input gradients of every layer but
the first (neither library computes a gradient for the data).

    python benchmarks/bench_train.py [--repeats 5]
"""
import argparse

import numpy
import torch

import minidl
from minidl import backend, nn, optim
from minidl.autograd import Tensor
import timing


def mlp_minidl():
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def mlp_torch():
    t = torch.nn
    return t.Sequential(t.Linear(784, 256), t.ReLU(), t.Linear(256, 256), t.ReLU(), t.Linear(256, 10))


def conv_minidl():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 10))


def conv_torch():
    t = torch.nn
    return t.Sequential(t.Conv2d(1, 32, 3), t.ReLU(), t.MaxPool2d(2), t.Conv2d(32, 64, 3), t.ReLU(),
                        t.MaxPool2d(2), t.Flatten(), t.Linear(64 * 5 * 5, 10))


def epoch_minidl(model, X, y, batch):
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for start in range(0, len(X), batch):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(Tensor(backend.to_device(X[start:start + batch]))),
                                           backend.to_device(y[start:start + batch]))
        loss.backward()
        optimizer.step()
    backend.synchronize()


def epoch_torch(model, X, y, batch):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    for start in range(0, len(X), batch):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X[start:start + batch]), y[start:start + batch])
        loss.backward()
        optimizer.step()


def blas_peak_gflops(n=1024, repeats=5):
    a = numpy.random.default_rng(0).standard_normal((n, n), dtype=numpy.float32)
    times, _ = timing.timed(lambda: a @ a, repeats)
    return 2 * n ** 3 / min(times) / 1e9


def gemm_flops(samples, layers):
    """2 x multiply-adds of an epoch's products; ``layers`` lists each layer's multiply-adds per sample.

    Every layer has a forward product and a weight gradient; all but the first also an input gradient.
    """
    return 2 * samples * (3 * sum(layers) - layers[0])


MLP_SAMPLES, CONV_SAMPLES = 10_000, 2_000
MLP_FLOPS = gemm_flops(MLP_SAMPLES, [784 * 256, 256 * 256, 256 * 10])
CONV_FLOPS = gemm_flops(CONV_SAMPLES, [26 * 26 * 32 * 9, 11 * 11 * 64 * 32 * 9, 1600 * 10])


def epoch_times(make_minidl, make_torch, X, y, batch, repeats):
    """Interleaved epoch times of the two libraries: a dict 'minidl' / 'torch' -> list of seconds."""
    ours, theirs = make_minidl(), make_torch()
    return timing.interleaved({"minidl": lambda: epoch_minidl(ours, X, y, batch),
                               "torch": lambda: epoch_torch(theirs, X, y, batch)}, repeats)


def conv_epoch_times(repeats, seed=0):
    """Interleaved epoch times of the benchmark conv net (batch 64, 2 000 random 1x28x28 samples)."""
    rng = numpy.random.default_rng(seed)
    X = rng.standard_normal((CONV_SAMPLES, 1, 28, 28), dtype=numpy.float32)
    return epoch_times(conv_minidl, conv_torch, X, rng.integers(0, 10, len(X)), 64, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = numpy.random.default_rng(0)
    minidl.manual_seed(0)
    torch.manual_seed(0)
    peak = blas_peak_gflops()
    print(f"backend {backend.name}; torch {torch.__version__} with {torch.get_num_threads()} threads")
    print(timing.machine())
    print(f"BLAS peak (float32 GEMM 1024^3): {peak:.1f} GFLOP/s")
    print(f"{'case':<42} {'minidl s':>20} {'torch s':>20} {'ratio':>6} {'target':>7} {'% peak':>7}")
    X = rng.standard_normal((MLP_SAMPLES, 784), dtype=numpy.float32)
    cases = [("MLP 784-256-256-10, batch 128, 10 000", MLP_FLOPS, 1.5,
              epoch_times(mlp_minidl, mlp_torch, X, rng.integers(0, 10, len(X)), 128, args.repeats)),
             ("conv net 1x28x28, batch 64, 2 000", CONV_FLOPS, 1.3, conv_epoch_times(args.repeats))]
    for label, flops, target, times in cases:
        ours, theirs = timing.median(times["minidl"]), timing.median(times["torch"])
        ratio = ours / theirs
        share = flops / ours / 1e9 / peak * 100
        verdict = "ok" if ratio <= target else "SLOW"
        print(f"{label:<42} {timing.spread(times['minidl']):>20} {timing.spread(times['torch']):>20} "
              f"{ratio:6.2f} {'<=' + str(target):>7} {share:6.1f}%  {verdict}")
    print(timing.machine())


if __name__ == "__main__":
    main()
