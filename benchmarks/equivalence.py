"""Layer flow vs Riemannian flow for a deep, narrow network.

Depth 20, hidden widths 50, ``m = n = 30``, a rank-5 balanced start: the gradient flow of
the 20 layers (``20 * 50 * 50`` unknowns, DOP853) against the Riemannian flow on ``M_5``
(the factored integrator, ``(m + n + k) k = 325`` unknowns) on ``[0, 2]``.

Same accuracy: both end points are compared with a tight reference (the Riemannian flow
at ``rtol = 1e-12``; the layer flow follows the same curve by the equivalence theorem),
and the rows report both errors; the goal asks the Riemannian error to be at most twice
the layer flow's. Both flows are stiff here: the core block of the Riemannian flow has
Jacobian eigenvalues down to about ``-2400`` (``U``, ``V`` blocks: ``-410``), so DOP853
runs at its stability limit (about 1000 steps of 12 stages) on either side.

* First row: the Riemannian flow with ``integrator="LSODA"`` (BDF steps, not limited by
  stability; its ``325 x 325`` Jacobian by batched forward differences) at the layer
  flow's tolerance, ``rtol = 1e-8``, ``atol = 1e-10``. The layer flow cannot take that
  route: a Jacobian of its 48000 unknowns is a 48000 x 48000 matrix (18 GB). LSODA is
  the faster Riemannian integrator with single-threaded BLAS, DOP853 with threaded BLAS
  on a busy machine (measured; see :mod:`riemlin.dynamics.riemannian`).
* Second row: DOP853 on both sides. At equal ``rtol`` the factored DOP853 run is the less
  accurate one (measured: error ``3e-9`` against ``5e-10`` at ``rtol = 1e-8``), so it
  runs ten times tighter (``rtol = 1e-9``, ``atol = 1e-11``).

The runs alternate for a few rounds (so slow drifts of a shared machine hit all of them)
and each row reports the median of the per-round wall-clock ratios and their spread, and
the same for process CPU time (less sensitive to other jobs on a shared machine; equal to
the wall-clock time of a single-threaded run, e.g. with ``OPENBLAS_NUM_THREADS=1``).
"""

from __future__ import annotations

import time

import numpy as np

from riemlin import RegressionLoss, balanced_factors, product
from riemlin.dynamics.layers import factor_gradient_flow
from riemlin.dynamics.riemannian import riemannian_gradient_flow

FACTOR = {"integrator": "DOP853", "rtol": 1e-8, "atol": 1e-10}
RIEMANNIAN = {
    "LSODA": {"integrator": "LSODA", "rtol": 1e-8, "atol": 1e-10},
    "DOP853": {"integrator": "DOP853", "rtol": 1e-9, "atol": 1e-11},
}


def _timed(fn):
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - cpu


def run(quick: bool = False) -> list[dict]:
    depth, hidden, m, k, t_end = (6, 12, 8, 2, 1.0) if quick else (20, 50, 30, 5, 2.0)
    rounds = 3
    rng = np.random.default_rng(0)
    loss = RegressionLoss(rng.standard_normal((m, 3 * m)), rng.standard_normal((m, 3 * m)))
    W0 = rng.standard_normal((m, k)) @ rng.standard_normal((k, m)) / m
    layers = balanced_factors(W0, (m,) + (hidden,) * (depth - 1) + (m,), rng=1)
    t = [0.0, t_end]
    ref = riemannian_gradient_flow(
        W0, loss, depth, t, formulation="manifold", rtol=1e-12, atol=1e-14
    )
    W_ref = ref.W[-1]

    runs = {
        "factor": lambda: factor_gradient_flow(
            layers, loss, t, rtol=FACTOR["rtol"], atol=FACTOR["atol"]
        ),
    }
    for name, options in RIEMANNIAN.items():
        runs[name] = lambda options=options: riemannian_gradient_flow(
            W0, loss, depth, t, "manifold", **options
        )
    seconds = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    results = {}
    for _ in range(rounds):
        for name, fn in runs.items():
            results[name], sec, cpu_sec = _timed(fn)
            seconds[name].append(sec)
            cpu[name].append(cpu_sec)
    assert all(r.status == 0 for r in results.values()), [r.message for r in results.values()]
    errors = {
        name: float(np.linalg.norm(W - W_ref) / np.linalg.norm(W_ref))
        for name, W in [("factor", product(results["factor"].factors))]
        + [(name, results[name].W[-1]) for name in RIEMANNIAN]
    }
    rows = []
    for name, options in RIEMANNIAN.items():
        ratios = np.array(seconds["factor"]) / np.array(seconds[name])
        ratio = float(np.median(ratios))
        cpu_ratios = np.array(cpu["factor"]) / np.array(cpu[name])
        rows.append(
            {
                "benchmark": "equivalence",
                "name": f"layer flow / Riemannian flow ({name}), same accuracy",
                "size": f"N={depth} widths {hidden} m=n={m} k={k}",
                "ratio": ratio,
                "ratio_min_max": [float(ratios.min()), float(ratios.max())],
                "cpu_ratio_median_min_max": [
                    float(np.median(cpu_ratios)),
                    float(cpu_ratios.min()),
                    float(cpu_ratios.max()),
                ],
                "goal": "> 5",
                "meets_goal": bool(ratio > 5 and errors[name] <= 2 * errors["factor"]),
                "seconds": {
                    "factor": float(np.median(seconds["factor"])),
                    "riemannian": float(np.median(seconds[name])),
                },
                "errors": {"factor": errors["factor"], "riemannian": errors[name]},
                "options": {"factor": FACTOR, "riemannian": options},
                "nfev": {"factor": results["factor"].nfev, "riemannian": results[name].nfev},
            }
        )
    return rows
