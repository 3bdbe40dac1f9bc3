"""Timing helpers shared by the benchmarks: interleaved repeats, their median and range, the machine.

On a 2-core machine OpenBLAS's worker threads keep spinning for about 0.1 s after the last NumPy call,
and a library timed right after NumPy runs up to 1.7x slower. So the libraries are timed in turns
(minidl, pause, PyTorch, pause, minidl, ...) with a short pause between them, and every figure is the
median of its repeats with their range, printed next to the load average and the BLAS kernel.
"""
import os
import statistics
import time

import threadpoolctl

from minidl import backend

PAUSE_S = 0.3


def interleaved(runs, repeats, pause=PAUSE_S, synchronize=backend.synchronize, warm_up=True):
    """Time each callable of ``runs`` (a dict name -> callable) ``repeats`` times, in turns.

    With ``warm_up`` each callable is called once first, untimed. Returns a dict name -> list of seconds.
    """
    for run in runs.values() if warm_up else ():
        run()
        synchronize()
        time.sleep(pause)
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            synchronize()
            started = time.perf_counter()
            run()
            synchronize()
            times[name].append(time.perf_counter() - started)
            time.sleep(pause)
    return times


def timed(run, repeats, synchronize=backend.synchronize):
    """Seconds of ``repeats`` calls of ``run`` after one warm-up call: (list of seconds, warm-up result)."""
    result = run()
    times = []
    for _ in range(repeats):
        synchronize()
        started = time.perf_counter()
        run()
        synchronize()
        times.append(time.perf_counter() - started)
    return times, result


def median(times):
    return statistics.median(times)


def spread(times, scale=1.0, digits=3):
    """'median (min-max)' of a list of seconds, multiplied by ``scale``."""
    return (f"{median(times) * scale:.{digits}f} ({min(times) * scale:.{digits}f}-"
            f"{max(times) * scale:.{digits}f})")


def machine():
    """One line: the load averages and the BLAS library, kernel and threads that NumPy uses."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    blas = [info for info in threadpoolctl.threadpool_info() if info.get("user_api") == "blas"]
    kernel = "; ".join(f"{info.get('prefix')} {info.get('version')} {info.get('architecture')} "
                       f"kernel, {info.get('num_threads')} threads" for info in blas) or "unknown BLAS"
    return f"load average {load} on {os.cpu_count()} cores; {kernel}"
