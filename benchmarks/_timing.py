"""Interleaved timing: ratios measured side by side in one run."""

from __future__ import annotations

import time

import numpy as np


def _per_call(fn, number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def compare(functions: dict, repeat: int = 15, min_time: float = 0.02) -> dict:
    """Median seconds per call of each function, measured in interleaved rounds.

    Each round runs every function once in turn (with a loop count calibrated so a
    round of one function lasts about ``min_time``), so slow drifts of the machine hit
    all of them alike.
    """
    numbers = {}
    for name, fn in functions.items():
        fn()  # warm up (caches, imports)
        number = 1
        while _per_call(fn, number) * number < min_time and number < 10**6:
            number *= 2
        numbers[name] = number
    samples = {name: [] for name in functions}
    for _ in range(repeat):
        for name, fn in functions.items():
            samples[name].append(_per_call(fn, numbers[name]))
    return {name: float(np.median(v)) for name, v in samples.items()}
