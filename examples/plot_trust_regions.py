"""
TrustRegions with the exact Hessian under the deep-linear metric
=================================================================

pymanopt's ``FixedRankEmbedded`` has no Hessian, so its second-order solver cannot run on
fixed-rank matrices. ``FixedRankDeepLinear`` has the exact Riemannian Hessian under the
metric ``g`` for every depth (see the Hessian chapter of the guide), and
:func:`riemlin.matrix_problem` hands it to pymanopt. Here ``TrustRegions`` and
``ConjugateGradient`` minimize ``f(W) = 1/2 ||W X - Y||_F^2`` (a regression loss) on
``M_k`` from the same start; we record the Riemannian gradient norm at every iterate.

Near the optimum the trust-region method converges quadratically (the number of correct
digits doubles per step), while conjugate gradients converge linearly and stall when the
line search can no longer decrease the cost in floating point.
"""

import os

import autograd.numpy as anp
import matplotlib.pyplot as plt
import numpy as np
from pymanopt.optimizers import ConjugateGradient, TrustRegions

from riemlin import FixedRankDeepLinear, RegressionLoss, matrix_problem, record_gradient_norms

fast = os.environ.get("RIEMLIN_FAST") == "1"
rng = np.random.default_rng(0)
m, n, k, samples = (12, 10, 3, 40) if fast else (60, 50, 5, 200)
X = rng.standard_normal((n, samples))
Y = rng.standard_normal((m, k)) @ rng.standard_normal((k, n)) @ X
Y += 0.1 * rng.standard_normal(Y.shape)
optimum = RegressionLoss(X, Y).optimum(k)[1]


def cost(W):
    return 0.5 * anp.sum((W @ X - Y) ** 2)


# %%
# A problem that records its gradient norms
# -----------------------------------------
# ``matrix_problem`` builds the pymanopt problem; autograd supplies the Euclidean
# gradient and Hessian-vector product of ``cost``, riemlin turns them into the Riemannian
# gradient ``A_W(P_T G)`` and the Riemannian Hessian under ``g``.
# :func:`riemlin.record_gradient_norms` logs the gradient norm at every iterate (pymanopt's
# ``TrustRegions`` keeps no log).


def recorded_run(manifold, optimizer, x0):
    problem = matrix_problem(manifold, cost)
    norms = record_gradient_norms(problem)
    result = optimizer.run(problem, initial_point=x0)
    return result, np.array(norms)


fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, depth in zip(axes, (1, 3)):
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=1)
    x0 = manifold.random_point()
    for name, opt in (
        ("TrustRegions", TrustRegions(verbosity=0, min_gradient_norm=1e-9, max_iterations=200)),
        ("ConjugateGradient", ConjugateGradient(verbosity=0, min_gradient_norm=1e-9)),
    ):
        result, norms = recorded_run(manifold, opt, x0)
        ax.semilogy(norms, marker="." if name == "TrustRegions" else None, label=name)
        print(
            f"depth {depth} {name:>17}: {result.iterations:4d} iterations, "
            f"gap {result.cost - optimum:.1e}, final gradient norm {norms[-1]:.1e}"
        )
        assert result.cost - optimum < 1e-8 * max(optimum, 1.0)
    ax.set_title(f"depth {depth}")
    ax.set_xlabel("gradient evaluation")
axes[0].set_ylabel("Riemannian gradient norm")
axes[0].legend()
fig.suptitle("Second order on M_k: exact Hessian under the deep-linear metric")
plt.show()

# %%
# The last trust-region steps show the quadratic rate: each gradient norm is about the
# square of the previous one (in units of the problem's scale). The Hessian costs about
# as much as a gradient: ``O((m + n) k^2 + k^3 log N)`` beyond the products with the
# Euclidean gradient and Hessian-vector product, whatever the depth.
