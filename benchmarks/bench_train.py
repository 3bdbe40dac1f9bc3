"""One training epoch, minidl against PyTorch CPU on the same machine, in one run.

(a) MLP 784-256-256-10, batch 128, 10 000 random samples;
(b) conv net: conv 3x3 32 ch, ReLU, maxpool 2, conv 3x3 64 ch, ReLU, maxpool 2, linear 10;
    batch 64, 2 000 random 1x28x28 samples.
Both use float32, SGD with momentum 0.9 and cross-entropy; PyTorch runs on the CPU. Under
MINIDL_BACKEND=cupy minidl runs on the GPU (each epoch ends with a device synchronize), so the
same script gives the GPU figures. Each epoch is timed `--repeats` times after a
warm-up and the best time is kept. The BLAS peak (float32 GEMM, 1024^3) is printed for scale, with the
share of it that each epoch's matrix products reach.

    python benchmarks/bench_train.py [--repeats 3]
"""
import argparse
import time

import numpy
import torch

import minidl
from minidl import backend, nn, optim
from minidl.autograd import Tensor


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


def best_time(run, repeats):
    run()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def blas_peak_gflops(n=1024, repeats=5):
    a = numpy.random.default_rng(0).standard_normal((n, n), dtype=numpy.float32)
    seconds = best_time(lambda: a @ a, repeats)
    return 2 * n ** 3 / seconds / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = numpy.random.default_rng(0)
    minidl.manual_seed(0)
    torch.manual_seed(0)
    cases = [
        ("MLP 784-256-256-10, batch 128, 10 000 samples", mlp_minidl, mlp_torch,
         rng.standard_normal((10_000, 784), dtype=numpy.float32), 128,
         6 * 10_000 * (784 * 256 + 256 * 256 + 256 * 10), 1.5),
        ("conv net 1x28x28, batch 64, 2 000 samples", conv_minidl, conv_torch,
         rng.standard_normal((2_000, 1, 28, 28), dtype=numpy.float32), 64,
         6 * 2_000 * (26 * 26 * 32 * 9 + 11 * 11 * 64 * 32 * 9 + 1600 * 10), 3.0),
    ]
    peak = blas_peak_gflops()
    print(f"backend {backend.name}; torch {torch.__version__} with {torch.get_num_threads()} threads")
    print(f"BLAS peak (float32 GEMM 1024^3): {peak:.1f} GFLOP/s")
    print(f"{'case':<48} {'minidl s':>9} {'torch s':>9} {'ratio':>6} {'target':>7} {'% peak':>7}")
    for label, make_minidl, make_torch, X, batch, flops, target in cases:
        y = rng.integers(0, 10, len(X))
        ours = make_minidl()
        theirs = make_torch()
        t_ours = best_time(lambda: epoch_minidl(ours, X, y, batch), args.repeats)
        t_theirs = best_time(lambda: epoch_torch(theirs, X, y, batch), args.repeats)
        ratio = t_ours / t_theirs
        share = flops / t_ours / 1e9 / peak * 100
        verdict = "ok" if ratio <= target else "SLOW"
        print(f"{label:<48} {t_ours:9.3f} {t_theirs:9.3f} {ratio:6.2f} {'<=' + str(target):>7} "
              f"{share:6.1f}%  {verdict}")


if __name__ == "__main__":
    main()
