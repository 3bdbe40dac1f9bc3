"""The condition number of a large layer: minidl's iterative route against the full SVD, in one run.

A random n x n float32 weight (default n = 4096, a layer of 16 M parameters). minidl's
spectrum.condition_number takes sigma_max by Lanczos and sigma_min by inverse iteration on an LU
factorization (minidl.analysis.lanczos); the reference is numpy.linalg.svd(compute_uv=False) of the same
float64 matrix. The two are timed in turns (`--repeats`, median and range; no warm-up: each call takes
seconds) and their kappas compared;
the target is a speed-up of at least 5 at equal values to 1e-6 relative.

    python benchmarks/bench_kappa.py [--n 4096] [--repeats 3]
"""
import argparse

import numpy

from minidl.analysis import spectrum
import timing

TARGET_SPEEDUP = 5.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    W = numpy.random.default_rng(0).standard_normal((args.n, args.n), dtype=numpy.float32)
    results = {}

    def iterative():
        results["iterative"] = spectrum.condition_number(W)

    def full_svd():
        values = numpy.linalg.svd(W.astype(numpy.float64), compute_uv=False)
        results["svd"] = values[0] / values[-1]

    print(timing.machine())
    times = timing.interleaved({"iterative": iterative, "svd": full_svd}, args.repeats, warm_up=False)
    speedup = timing.median(times["svd"]) / timing.median(times["iterative"])
    difference = abs(results["iterative"] / results["svd"] - 1)
    verdict = "ok" if speedup >= TARGET_SPEEDUP and difference <= 1e-6 else "SLOW"
    print(f"kappa of a {args.n} x {args.n} float32 weight: {results['iterative']:.6g}")
    print(f"iterative {timing.spread(times['iterative'])} s, full SVD {timing.spread(times['svd'])} s, "
          f"speed-up {speedup:.1f} (target >= {TARGET_SPEEDUP:g}), relative difference {difference:.1e}  "
          f"{verdict}")
    print(timing.machine())


if __name__ == "__main__":
    main()
