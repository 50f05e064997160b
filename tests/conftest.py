import os

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

#: The sizes and depths of the shared parametrized suite (tests/test_manifold.py).
SIZES = [(5, 4, 2), (30, 20, 3), (200, 150, 10)]
DEPTHS = [1, 2, 3, 7, 50]
SEEDS = [0, 1]


def fit_loglog_slope(t, err):
    """Least-squares slope of log(err) against log(t)."""
    t = np.asarray(t, dtype=float)
    err = np.asarray(err, dtype=float)
    return float(np.polyfit(np.log(t), np.log(err), 1)[0])


@pytest.fixture(params=SIZES, ids=lambda s: "x".join(map(str, s)))
def size(request):
    return request.param


@pytest.fixture(params=DEPTHS, ids=lambda d: f"N{d}")
def depth(request):
    return request.param


@pytest.fixture(params=SEEDS, ids=lambda s: f"seed{s}")
def seed(request):
    return request.param
