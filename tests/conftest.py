import os

import matplotlib
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Property-based tests: a derandomized profile small enough for CI by default;
# HYPOTHESIS_PROFILE=thorough explores many more random examples.
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

#: Suites that run whole programs (benchmarks, the docs build, the gallery, the tutorial,
#: the command line). They run after the unit tests, so a broken building block is
#: reported by the unit tests within seconds instead of after minutes of a solver
#: looping to its iteration limit inside a benchmark.
INTEGRATION = ("test_benchmarks.py", "test_docs.py", "test_examples.py", "test_tutorial.py")


def pytest_collection_modifyitems(session, config, items):
    """Run the unit tests first and the integration suites last (stable otherwise)."""
    items.sort(key=lambda item: item.path.name in INTEGRATION)


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


@pytest.fixture(scope="module")
def dask_client():
    """A local Dask cluster of two single-threaded workers (the sweep back-end tests)."""
    distributed = pytest.importorskip("distributed")
    import logging

    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=":0", silence_logs=logging.ERROR
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
