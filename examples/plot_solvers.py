"""
pymanopt solvers: the deep-linear metric against FixedRankEmbedded
==================================================================

The same problem, the same start, the same solvers; only the Riemannian metric on the
manifold ``M_k`` of rank-``k`` matrices changes. We fit a rank-``k`` linear model by
least squares,

.. math::

    \\min_{W \\in \\mathcal M_k} L(W) = \\tfrac12 \\|W X - Y\\|_F^2,

whose minimum is known in closed form (Eckart-Young after whitening, see
:meth:`riemlin.RegressionLoss.optimum`), with pymanopt's ``SteepestDescent`` and
``ConjugateGradient`` on

* :class:`riemlin.FixedRankDeepLinear` at depths ``N = 1, 2, 4``: the metric
  ``g_W(xi, zeta) = <A_W^{-1} xi, zeta>`` that a depth-``N`` linear network induces;
* pymanopt's own ``FixedRankEmbedded``: the embedded (Euclidean) metric, which is
  riemlin's ``N = 1``.

The cost is written on the matrix ``W`` and its Euclidean gradient
``G = (W X - Y) X^T`` is turned into the Riemannian gradient of each manifold:
:meth:`riemlin.FixedRankDeepLinear.riemannian_gradient_from_matrix` gives
``A_W(P_T G)``, and for the embedded metric it is the tangent projection ``P_T G``
(``FixedRankEmbedded.projection``).
"""

import os

import matplotlib.pyplot as plt
import numpy as np
import pymanopt
from pymanopt.manifolds import FixedRankEmbedded
from pymanopt.optimizers import ConjugateGradient, SteepestDescent

from riemlin import FixedRankDeepLinear, RegressionLoss

fast = os.environ.get("RIEMLIN_FAST") == "1"
rng = np.random.default_rng(0)
m, n, k, samples = (12, 10, 3, 40) if fast else (40, 30, 5, 200)
max_iterations = 150 if fast else 1500

# Inputs with correlated features (X X^T is far from the identity) and a noisy target.
X = rng.standard_normal((n, samples)) * np.linspace(0.5, 2.0, n)[:, None]
W_true = rng.standard_normal((m, 2 * k)) @ rng.standard_normal((2 * k, n)) / n
Y = W_true @ X + 0.1 * rng.standard_normal((m, samples))
loss = RegressionLoss(X, Y)
W_star, L_star = loss.optimum(k)
print(f"m={m}, n={n}, k={k}, {samples} samples; optimum on rank <= {k}: L* = {L_star:.10g}")


# %%
# One problem per manifold
# ------------------------
# ``pymanopt.Problem`` accepts a ``riemannian_gradient`` directly. Its arguments are the
# pieces of the point ``(u, s, vt)``; the loss evaluates ``W X`` as ``u (s (vt X))``,
# without forming ``W``.
def problem_on(manifold):
    if isinstance(manifold, FixedRankDeepLinear):
        to_tangent = manifold.riemannian_gradient_from_matrix
    else:
        to_tangent = manifold.projection  # the embedded metric: A_W = identity

    @pymanopt.function.numpy(manifold)
    def cost(u, s, vt):
        return loss.value((u, s, vt))

    @pymanopt.function.numpy(manifold)
    def riemannian_gradient(u, s, vt):
        return to_tangent((u, s, vt), loss.gradient((u, s, vt)))

    return pymanopt.Problem(manifold, cost, riemannian_gradient=riemannian_gradient)


manifolds = {f"DeepLinear N={N}": FixedRankDeepLinear(m, n, k, depth=N) for N in (1, 2, 4)}
manifolds["FixedRankEmbedded"] = FixedRankEmbedded(m, n, k)
start = FixedRankDeepLinear(m, n, k, rng=1).random_point()  # one start for every run

# %%
# Run both solvers on every manifold
# ----------------------------------
# Each run stops at a gradient norm of ``1e-10`` or after ``max_iterations``; we record
# the cost at every iteration and report the final gap ``L(W) - L*`` relative to ``L*``.
histories = {}
print(f"{'manifold':>18} {'solver':>18} {'iterations':>10} {'rel. gap':>10}  stopped because")
for solver_cls in (SteepestDescent, ConjugateGradient):
    for name, manifold in manifolds.items():
        solver = solver_cls(
            verbosity=0, log_verbosity=1, max_iterations=max_iterations, min_gradient_norm=1e-10
        )
        result = solver.run(problem_on(manifold), initial_point=start)
        costs = np.array(result.log["iterations"]["cost"])
        histories[solver_cls.__name__, name] = costs
        gap = (result.cost - L_star) / L_star
        print(
            f"{name:>18} {solver_cls.__name__:>18} {result.iterations:>10} {gap:10.2e}  "
            f"{result.stopping_criterion.split(' after')[0].removeprefix('Terminated - ')}"
        )

# %%
# Cost against iteration
# ----------------------
# Depth 1 and ``FixedRankEmbedded`` are the same metric: their curves lie on top of each
# other (they differ only in the retraction, riemlin's being Manopt's current
# QR-of-``[u, Up]`` variant). Deeper metrics rescale the gradient direction by
# ``A_W``: weight ``~ sigma_a^{2(N-1)/N}`` on the singular directions, so large singular
# values are fitted first and the small ones later.
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, constrained_layout=True)
styles = {"FixedRankEmbedded": dict(color="k", ls=":", lw=2.5)}
for ax, solver_name in zip(axes, ("SteepestDescent", "ConjugateGradient")):
    for i, name in enumerate(manifolds):
        gap = np.maximum((histories[solver_name, name] - L_star) / L_star, 1e-16)
        ax.semilogy(gap, label=name, **styles.get(name, dict(color=f"C{i}")))
    ax.set_title(solver_name)
    ax.set_xlabel("iteration")
axes[0].set_ylabel("(L(W) - L*) / L*")
axes[0].legend()
plt.show()
