"""A seeded demonstration problem shared by ``riemlin demo`` and the quick start."""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pymanopt
from pymanopt.optimizers import ConjugateGradient

from riemlin._validation import as_generator
from riemlin.geometry.manifold import FixedRankDeepLinear


def low_rank_approximation(m: int, n: int, k: int, depth: int, rng=None) -> dict:
    """Minimize ``1/2 ||W - B||_F^2`` over rank-``k`` ``W`` with pymanopt's CG.

    The optimum is the Eckart-Young value ``1/2 sum_{a > k} sigma_a(B)^2``; the gap is
    relative to it, or to ``1/2 ||B||_F^2`` when it is 0 (``k = min(m, n)``).
    """
    gen = as_generator(rng)
    manifold = FixedRankDeepLinear(m, n, k, depth, rng=gen)
    B = gen.standard_normal((m, n))

    @pymanopt.function.autograd(manifold)
    def cost(u, s, vt):
        return 0.5 * anp.sum((u @ anp.diag(s) @ vt - B) ** 2)

    problem = pymanopt.Problem(manifold, cost)
    result = ConjugateGradient(verbosity=0, min_gradient_norm=1e-12, max_iterations=5000).run(
        problem, initial_point=manifold.random_point()
    )
    sigma = np.linalg.svd(B, compute_uv=False)
    optimum = 0.5 * float(np.sum(sigma[k:] ** 2))
    # k = min(m, n) has optimum 0 (B itself): the gap is then relative to L(0) = ||B||^2/2
    scale = optimum if optimum > 0 else 0.5 * float(np.sum(sigma**2))
    return {
        "cost": float(result.cost),
        "iterations": int(result.iterations),
        "optimum": optimum,
        "relative_gap": (float(result.cost) - optimum) / scale,
        "gap_kind": "relative gap" if optimum > 0 else "gap relative to L(0), the optimum being 0:",
        "point": result.point,
    }
