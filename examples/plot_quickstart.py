"""
Quick start: a pymanopt solver on the deep-linear manifold
==========================================================

Find the best rank-``k`` approximation of a matrix ``Phi`` by minimizing
``f(W) = 1/2 ||W - Phi||_F^2`` over the manifold ``M_k`` of rank-``k`` matrices, with the
metric that a depth-``N`` linear network induces. The optimum is known (Eckart-Young:
``1/2 sum_{i>k} beta_i^2`` with ``beta_i`` the singular values of ``Phi``), so we can see
the solver reach it. Depth changes the
metric, hence the path of the solver, but not the minimizer.
"""

import autograd.numpy as anp
import matplotlib.pyplot as plt
import numpy as np
import pymanopt
from pymanopt.optimizers import ConjugateGradient

from riemlin import FixedRankDeepLinear

rng = np.random.default_rng(0)
m, n, k = 30, 20, 3
Phi = rng.standard_normal((m, n))
beta = np.linalg.svd(Phi, compute_uv=False)
optimum = 0.5 * np.sum(beta[k:] ** 2)

fig, ax = plt.subplots(figsize=(6, 4))
for depth in (1, 2, 4):
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=1)

    @pymanopt.function.autograd(manifold)
    def cost(u, s, vt):
        return 0.5 * anp.sum((u @ anp.diag(s) @ vt - Phi) ** 2)

    problem = pymanopt.Problem(manifold, cost)
    solver = ConjugateGradient(verbosity=0, log_verbosity=1, min_gradient_norm=1e-10)
    result = solver.run(problem, initial_point=manifold.random_point())
    gaps = np.array(result.log["iterations"]["cost"]) - optimum
    ax.semilogy(np.maximum(gaps, 1e-16), label=f"depth {depth}")
    print(f"depth {depth}: {result.iterations} iterations, gap {result.cost - optimum:.2e}")
    assert abs(result.cost - optimum) < 1e-8 * optimum

ax.set_xlabel("iteration")
ax.set_ylabel("f(W) - f*")
ax.set_title("Conjugate gradient on FixedRankDeepLinear")
ax.legend()
plt.show()
