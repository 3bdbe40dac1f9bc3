"""The cost of SpectrumTracker: one training epoch with and without it, in one run.

The core MLP benchmark: 784-256-256-10, batch 128, 10 000 random samples, float32, SGD with momentum 0.9.
Each repeat trains `--epochs` epochs with train.fit, once without callbacks and once with a tracker on
all three Linear layers (it records epoch 0 too); the best time of `--repeats` is kept for each. The
tracker's own time is also measured directly (one record of all layers, best and median of 20), which is
less noisy on a busy machine than the difference of two training runs. The target is at most 2 % of an
epoch.

    python benchmarks/bench_tracker.py [--repeats 3] [--epochs 4]
"""
import argparse
import time

import numpy

import minidl
from minidl import backend, nn, optim, train
from minidl.analysis import SpectrumTracker
from bench_train import mlp_minidl  # the core MLP benchmark's model
import timing

TARGET_PERCENT = 2.0


def timed_fit(model, X, y, epochs, callbacks):
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    started = time.perf_counter()
    train.fit(model, nn.functional.cross_entropy, optimizer, X, y, epochs, 128, callbacks=callbacks,
              progress=False)
    return time.perf_counter() - started


def record_times(model, repeats=20):
    """(best, median) seconds of one tracker record of every layer of ``model``."""
    tracker = SpectrumTracker()
    tracker.record(0, model)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        tracker.record(1, model, {"loss": 0.0})
        times.append(time.perf_counter() - started)
    return min(times), float(numpy.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    minidl.manual_seed(0)
    rng = numpy.random.default_rng(0)
    X = rng.standard_normal((10_000, 784), dtype=numpy.float32)
    y = rng.integers(0, 10, len(X))
    model = mlp_minidl()
    timed_fit(model, X, y, 1, [])  # warm-up
    plain, tracked = [], []
    for _ in range(args.repeats):  # interleaved, so a slow spell of the machine hits both alike
        plain.append(timed_fit(model, X, y, args.epochs, []))
        tracked.append(timed_fit(model, X, y, args.epochs, [SpectrumTracker()]))
    epoch = min(plain) / args.epochs
    with_tracker = min(tracked) / args.epochs
    record, typical = record_times(model)
    direct = 100 * record / epoch
    measured = 100 * (with_tracker - epoch) / epoch
    print(timing.machine())
    print(f"backend {backend.name}; MLP 784-256-256-10, batch 128, 10 000 samples, {args.epochs} epochs "
          f"per fit, best of {args.repeats}")
    print(f"epoch without tracker      {epoch:8.3f} s")
    print(f"epoch with tracker         {with_tracker:8.3f} s   (fit's difference: {measured:+.2f} %, "
          f"including the epoch-0 record)")
    print(f"one record of all 3 layers {record * 1e3:8.2f} ms  ({direct:.2f} % of an epoch); median "
          f"{typical * 1e3:.2f} ms ({100 * typical / epoch:.2f} %)")
    verdict = "ok" if direct <= TARGET_PERCENT else "SLOW"
    print(f"tracker overhead per epoch: {direct:.2f} % (target <= {TARGET_PERCENT:g} %)  {verdict}")


if __name__ == "__main__":
    main()
