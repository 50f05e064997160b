"""Layer flow vs Riemannian flow for a deep, narrow network (issue 5).

Depth 20, hidden widths 50, ``m = n = 30``, a rank-5 balanced start: the gradient flow of
the 20 layers (``20 * 50 * 50`` unknowns) against the Riemannian flow on ``M_5`` (the
factored integrator, ``(m + n + k) k`` unknowns). Both run at the same tolerance; their
errors are measured against a tight reference run, so the time ratio compares runs of
similar accuracy.
"""

from __future__ import annotations

import time

import numpy as np

from riemlin import RegressionLoss, balanced_factors, product
from riemlin.factor_flows import factor_gradient_flow
from riemlin.flows import riemannian_gradient_flow


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run(quick: bool = False) -> list[dict]:
    depth, hidden, m, k, t_end = (6, 12, 8, 2, 1.0) if quick else (20, 50, 30, 5, 2.0)
    rng = np.random.default_rng(0)
    loss = RegressionLoss(rng.standard_normal((m, 3 * m)), rng.standard_normal((m, 3 * m)))
    W0 = rng.standard_normal((m, k)) @ rng.standard_normal((k, m)) / m
    layers = balanced_factors(W0, (m,) + (hidden,) * (depth - 1) + (m,), rng=1)
    t = [0.0, t_end]
    ref = riemannian_gradient_flow(W0, loss, depth, t, method="manifold", rtol=1e-12, atol=1e-14)
    W_ref = ref.W[-1]
    fac, sec_fac = _timed(lambda: factor_gradient_flow(layers, loss, t, rtol=1e-8, atol=1e-10))
    riem, sec_riem = _timed(
        lambda: riemannian_gradient_flow(
            W0, loss, depth, t, method="manifold", rtol=1e-8, atol=1e-10
        )
    )
    err_fac = np.linalg.norm(product(fac.factors) - W_ref) / np.linalg.norm(W_ref)
    err_riem = np.linalg.norm(riem.W[-1] - W_ref) / np.linalg.norm(W_ref)
    return [
        {
            "benchmark": "equivalence",
            "name": "layer flow / Riemannian flow (time, same rtol)",
            "size": f"N={depth} widths {hidden} m=n={m} k={k}",
            "ratio": sec_fac / sec_riem,
            "goal": "> 5",
            "meets_goal": bool(sec_fac / sec_riem > 5),
            "seconds": {"factor": sec_fac, "riemannian": sec_riem},
            "errors": {"factor": float(err_fac), "riemannian": float(err_riem)},
            "nfev": {"factor": fac.nfev, "riemannian": riem.nfev},
        }
    ]
