"""Per-sample input Jacobians, minidl's explicit DJM against PyTorch's vmap(jacrev), in one run.

MLP 784-512-512-10 with ReLU, the same weights in both libraries, n = 2 000 random inputs, float32 and
float64. minidl builds W_3 D_2 W_2 D_1 W_1 for every sample from the ReLU masks
(minidl.analysis.jacobian.djm); PyTorch maps jacrev(model) over the samples with torch.func.vmap. Each is
timed `--repeats` times after a warm-up (median and range printed); the two results are compared. Under
MINIDL_BACKEND=cupy PyTorch runs on the GPU too, and both are synchronized before the clock stops.

    python benchmarks/bench_jacobian.py [--n 2000] [--repeats 7]
"""
import argparse

import numpy
import torch

import minidl
from minidl import backend, nn
from minidl.analysis import jacobian
import timing

SIZES = (784, 512, 512, 10)


def models(dtype):
    """A minidl MLP and a PyTorch MLP holding the same weights."""
    ours = nn.Sequential(nn.Linear(SIZES[0], SIZES[1], dtype=dtype), nn.ReLU(),
                         nn.Linear(SIZES[1], SIZES[2], dtype=dtype), nn.ReLU(),
                         nn.Linear(SIZES[2], SIZES[3], dtype=dtype))
    t = torch.nn
    theirs = t.Sequential(t.Linear(SIZES[0], SIZES[1]), t.ReLU(), t.Linear(SIZES[1], SIZES[2]), t.ReLU(),
                          t.Linear(SIZES[2], SIZES[3])).to(DEVICE, getattr(torch, numpy.dtype(dtype).name))
    with torch.no_grad():
        for key, value in ours.state_dict().items():
            theirs.state_dict()[key].copy_(torch.from_numpy(backend.asnumpy(value)).to(DEVICE))
    for parameter in theirs.parameters():
        parameter.requires_grad_(False)
    return ours, theirs


DEVICE = "cuda" if backend.on_gpu else "cpu"


def synchronize():
    backend.synchronize()
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    minidl.manual_seed(0)
    print(f"backend {backend.name}; torch {torch.__version__} on {DEVICE} with {torch.get_num_threads()} "
          f"threads")
    print(f"MLP {'-'.join(map(str, SIZES))}, n = {args.n}: per-sample Jacobians (n, 10, 784)")
    print(timing.machine())
    print(f"{'dtype':<8} {'minidl s':>20} {'torch s':>20} {'ratio':>6} {'max |diff|':>11}")
    for dtype in (numpy.float32, numpy.float64):
        X = numpy.random.default_rng(0).standard_normal((args.n, SIZES[0])).astype(dtype)
        ours, theirs = models(dtype)
        X_device, X_torch = backend.to_device(X), torch.from_numpy(X).to(DEVICE)
        t_ours, J_ours = timing.timed(lambda: jacobian.djm(ours, X_device), args.repeats, synchronize)
        jacobians = torch.func.vmap(torch.func.jacrev(theirs))
        t_theirs, J_theirs = timing.timed(lambda: jacobians(X_torch), args.repeats, synchronize)
        difference = numpy.abs(backend.asnumpy(J_ours) - J_theirs.cpu().numpy()).max()
        ratio = timing.median(t_ours) / timing.median(t_theirs)
        verdict = "ok" if ratio <= 1 else "SLOW"
        print(f"{numpy.dtype(dtype).name:<8} {timing.spread(t_ours):>20} {timing.spread(t_theirs):>20} "
              f"{ratio:6.2f} {difference:11.2e}  {verdict}")


if __name__ == "__main__":
    main()
