"""TrustRegions with the exact Hessian vs ConjugateGradient on ``M_k``.

``f(W) = 1/2 ||W - B||_F^2`` with ``B`` a rank-8 matrix with decaying singular values
plus small noise, on ``FixedRankDeepLinear(500, 400, 5, depth=3)``: iterations and seconds
of pymanopt's ``TrustRegions`` (Hessian from :func:`riemlin.matrix_problem`) and
``ConjugateGradient`` from the same start until the Riemannian gradient norm is below
``1e-10``. The two runs alternate over a few starts and the median seconds are compared.
A run that stops for another reason (``ConjugateGradient`` typically stops at its minimum
step size, when the line search can no longer decrease the cost in floating point) is
reported with its final gradient norm in ``reached``/``final_gradient_norm``.
"""

from __future__ import annotations

import time

import numpy as np
import pymanopt

from riemlin import FixedRankDeepLinear, matrix_problem


def _problem(m, n, k, depth, rng):
    r = k + 3
    U, _ = np.linalg.qr(rng.standard_normal((m, r)))
    V, _ = np.linalg.qr(rng.standard_normal((n, r)))
    B = (U * np.geomspace(10.0, 1.0, r)) @ V.T + 1e-3 * rng.standard_normal((m, n))
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=rng)

    def cost(W):
        return 0.5 * float(np.sum((W - B) ** 2))

    def gradient(W):
        return W - B

    def hvp(W, Xi):
        return Xi

    problem = matrix_problem(manifold, cost, gradient, hvp)
    optimum = 0.5 * float(np.sum(np.linalg.svd(B, compute_uv=False)[k:] ** 2))
    return manifold, problem, optimum


def run(quick: bool = False) -> list[dict]:
    m, n, k, depth, starts = (60, 50, 3, 3, 1) if quick else (500, 400, 5, 3, 3)
    # quick runs converge in tens of iterations; the small caps make a broken building
    # block fail in seconds instead of looping for minutes
    cg_cap, tr_cap = (2000, 100) if quick else (20000, 500)
    rng = np.random.default_rng(0)
    manifold, problem, optimum = _problem(m, n, k, depth, rng)
    optimizers = {
        "TrustRegions": pymanopt.optimizers.TrustRegions(
            verbosity=0, min_gradient_norm=1e-10, max_iterations=tr_cap
        ),
        "ConjugateGradient": pymanopt.optimizers.ConjugateGradient(
            verbosity=0, min_gradient_norm=1e-10, max_iterations=cg_cap
        ),
    }
    keys = ("seconds", "iterations", "gap", "grad", "stop")
    stats = {name: {key: [] for key in keys} for name in optimizers}
    for _ in range(starts):
        x0 = manifold.random_point(rng)
        for name, opt in optimizers.items():
            start = time.perf_counter()
            res = opt.run(problem, initial_point=x0)
            stats[name]["seconds"].append(time.perf_counter() - start)
            stats[name]["iterations"].append(int(res.iterations))
            stats[name]["gap"].append(float(res.cost - optimum))
            stats[name]["grad"].append(float(res.gradient_norm))
            stats[name]["stop"].append(str(res.stopping_criterion))
    med = {name: float(np.median(s["seconds"])) for name, s in stats.items()}
    ratio = med["ConjugateGradient"] / med["TrustRegions"]
    return [
        {
            "benchmark": "second_order",
            "name": "CG / TrustRegions seconds (stop at grad 1e-10)",
            "size": f"{m}x{n} k={k} N={depth}",
            "ratio": ratio,
            "goal": "report",
            "meets_goal": True,
            "seconds": med,
            "iterations": {name: s["iterations"] for name, s in stats.items()},
            "final_gap": {name: s["gap"] for name, s in stats.items()},
            "final_gradient_norm": {name: s["grad"] for name, s in stats.items()},
            "stopping_criterion": {name: s["stop"] for name, s in stats.items()},
            "reached": {name: [g <= 1e-10 for g in s["grad"]] for name, s in stats.items()},
        }
    ]
