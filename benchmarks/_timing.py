"""Interleaved timing: ratios measured side by side in one run."""

from __future__ import annotations

import contextlib
import time

import numpy as np


def blas_threads(limit):
    """A context limiting BLAS to ``limit`` threads (``None``: the default, no limit).

    Uses ``threadpoolctl`` (the ``bench`` extra); without it the context changes nothing.
    """
    if limit is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=limit, user_api="blas")


def _per_call(fn, number: int, clock=time.perf_counter) -> float:
    start = clock()
    for _ in range(number):
        fn()
    return (clock() - start) / number


def compare(
    functions: dict, repeat: int = 15, min_time: float = 0.02, clock=time.perf_counter
) -> dict:
    """Median seconds per call of each function, measured in interleaved rounds.

    Each round runs every function once in turn (with a loop count calibrated so a
    round of one function lasts about ``min_time``), so slow drifts of the machine hit
    all of them alike. ``clock=time.process_time`` measures the CPU time of this
    process instead of wall time (with single-threaded BLAS, the cost of the work,
    free of the waits for a CPU on a loaded machine).
    """
    numbers = {}
    for name, fn in functions.items():
        fn()  # warm up (caches, imports)
        number = 1
        while _per_call(fn, number, clock) * number < min_time and number < 10**6:
            number *= 2
        numbers[name] = number
    samples = {name: [] for name in functions}
    for _ in range(repeat):
        for name, fn in functions.items():
            samples[name].append(_per_call(fn, numbers[name], clock))
    return {name: float(np.median(v)) for name, v in samples.items()}
