"""Scaling of one Riemannian iteration on the completion loss.

One iteration = residual and sparse gradient at a point (:class:`riemlin.CompletionLoss`),
the Riemannian gradient :math:`\\mathcal A_W(P_T\\nabla L)` and the retraction of a step
along it, on ``FixedRankDeepLinear`` with depth 3. The expected cost is
``O((m + n) k^2 + nnz k)``. Three sweeps, each timed in interleaved rounds
(:func:`benchmarks._timing.compare`; the loss is evaluated at two points in turn, so its
residual cache never answers):

* ``m = n`` from 1e3 to 1e5 at ``k = 5``, ``nnz = 5 k (m + n - k)``: expected exponent 1;
* ``k`` from 2 to 50 at ``m = n = 1e4``, ``nnz = 5 k (m + n - k)``: expected exponent 2;
* ``nnz`` from 2 to 32 samples per degree of freedom at ``m = n = 1e4``, ``k = 5``:
  expected exponent at most 1 (1 once ``nnz k`` dominates ``(m + n) k^2``).

Times are CPU seconds of the process (``time.process_time``): run with single-threaded
BLAS (``OPENBLAS_NUM_THREADS=1``) they measure the work, not the waits for a CPU on a
shared machine.

The fitted log-log exponents are the rows' ratios; the curves are plotted to
``scaling.png`` next to the JSON report.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks._timing import compare
from riemlin import FixedRankDeepLinear, random_completion


def _iteration(loss, manifold, points):
    state = {"i": 0}

    def fn():
        point = points[state["i"] % 2]
        state["i"] += 1
        grad = manifold.riemannian_gradient_from_matrix(point, loss.gradient(point))
        manifold.retraction(point, grad * (-1e-6 / manifold.norm(point, grad)))

    return fn


def _sweep(configs, repeat):
    """Seconds per iteration for each ``(m, k, oversampling)``, interleaved."""
    functions, sizes = {}, {}
    for m, k, over in configs:
        loss, _ = random_completion(m, m, k, oversampling=over, rng=0)
        manifold = FixedRankDeepLinear(m, m, k, depth=3, rng=1)
        points = [manifold.random_point(), manifold.random_point()]
        key = (m, k, over)
        functions[key] = _iteration(loss, manifold, points)
        sizes[key] = loss.nnz
    times = compare(functions, repeat=repeat, min_time=0.02, clock=time.process_time)
    return [(m, k, sizes[(m, k, over)], times[(m, k, over)]) for m, k, over in configs]


def _slope(x, y) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def _plot(curves, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, (label, x, y, slope) in zip(axes, curves):
        ax.loglog(x, y, "o-", label=f"fitted exponent {slope:.2f}")
        ax.set_xlabel(label)
        ax.set_ylabel("seconds per iteration")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("Riemannian gradient + retraction on the completion loss (depth 3)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(quick: bool = False, results_dir: Path | None = None) -> list[dict]:
    if quick:
        ms, ks, overs, m_fixed, repeat = [200, 400, 800], [2, 4, 8], [2, 4, 8], 400, 3
    else:
        ms = [1000, 3000, 10000, 30000, 100000]
        ks, overs, m_fixed, repeat = [2, 5, 10, 20, 50], [2, 4, 8, 16, 32], 10000, 3
    sweeps = {
        "m": _sweep([(m, 5 if not quick else 2, 5) for m in ms], repeat),
        "k": _sweep([(m_fixed, k, 5) for k in ks], repeat),
        "nnz": _sweep([(m_fixed, 5 if not quick else 2, o) for o in overs], repeat),
    }
    spec = {
        "m": ("m = n", 0, (0.8, 1.2), "k=5, nnz=5k(m+n-k)"),
        "k": ("k", 1, (1.6, 2.4), f"m=n={m_fixed}, nnz=5k(m+n-k)"),
        "nnz": ("nnz", 2, (0.0, 1.2), f"m=n={m_fixed}, k=5"),
    }
    rows, curves = [], []
    for key, data in sweeps.items():
        label, column, (low, high), size = spec[key]
        x = np.array([d[column] for d in data], dtype=float)
        y = np.array([d[3] for d in data])
        slope = _slope(x, y)
        print(f"scaling: time per iteration ~ {label}^{slope:.2f}")
        curves.append((label, x, y, slope))
        rows.append(
            {
                "benchmark": "scaling",
                "name": f"fitted exponent of time per iteration in {key}",
                "size": size if not quick else "quick",
                "ratio": slope,
                "goal": f"{low:g}..{high:g}",
                "meets_goal": bool(low <= slope <= high),
                "points": [
                    {"m": d[0], "k": d[1], "nnz": d[2], "seconds_per_iteration": d[3]} for d in data
                ],
            }
        )
    out = Path(results_dir) if results_dir is not None else Path("benchmarks/results")
    _plot(curves, out / "scaling.png")
    rows[0]["plot"] = str(out / "scaling.png")
    return rows
