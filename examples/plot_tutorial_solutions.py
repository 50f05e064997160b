"""
Tutorial: solutions to the exercises
====================================

Worked solutions to the exercises of the :doc:`course tutorial </tutorial>`. Every
solution ends in a number that confirms (or refutes) the claim of its exercise; the test
suite runs this script and checks those numbers (``tests/test_tutorial.py``), so the
solutions cannot silently go wrong when riemlin changes.

Try the exercises first; each section below solves one of them.
"""

import os

import autograd.numpy as anp
import matplotlib.pyplot as plt
import numpy as np
import pymanopt
from pymanopt.manifolds import FixedRankEmbedded

import riemlin
from riemlin import (
    FixedRankDeepLinear,
    RegressionLoss,
    balanced_factors,
    check_gradient,
    factor_gradient_flow,
    imbalance_norm,
    product,
    product_adjoint,
    product_differential,
    riemannian_gradient_flow,
)

fast = os.environ.get("RIEMLIN_FAST") == "1"
rng = np.random.default_rng(2024)


# %%
# Exercise 1: ``Dpi Dpi^* = A_W`` at balanced layers
# --------------------------------------------------
# We need the dense operator ``A_W(Z) = sum_j (W W^T)^{(N-j)/N} Z (W^T W)^{(j-1)/N}``.
# Fractional powers of a positive semidefinite matrix come from its eigendecomposition;
# eigenvalues at round-off level are exact zeros of a rank-``k`` matrix, and
# ``(.)^0 = I`` by convention.
def psd_power(A, alpha):
    lam, P = np.linalg.eigh(A)
    lam = np.where(lam > 1e-12 * lam.max(), lam, 0.0)
    if alpha == 0:
        return np.eye(len(A))
    return (P * lam**alpha) @ P.T


def A_dense(W, Z, N):
    return sum(
        psd_power(W @ W.T, (N - j) / N) @ Z @ psd_power(W.T @ W, (j - 1) / N)
        for j in range(1, N + 1)
    )


m, n, k, N = 6, 5, 2, 3
W = rng.standard_normal((m, k)) @ rng.standard_normal((k, n))
Z = rng.standard_normal((m, n))
layers = balanced_factors(W, (n, 4, 3, m), rng=1)  # widths d_0..d_3, all >= k
lhs = product_differential(layers, product_adjoint(layers, Z))
ex1_error_balanced = np.linalg.norm(lhs - A_dense(W, Z, N)) / np.linalg.norm(lhs)
print(f"balanced layers:   ||Dpi Dpi^*(Z) - A_W(Z)|| / ||Dpi Dpi^*(Z)|| = {ex1_error_balanced:.1e}")

# %%
# The identity needs balancedness. Rescale the hidden units (``W_1 -> 2 W_1``,
# ``W_2 -> W_2 / 2``): the product is the same, the layers are not balanced, and the
# identity fails at order one.
unbalanced = [2.0 * layers[0], 0.5 * layers[1], layers[2]]
lhs = product_differential(unbalanced, product_adjoint(unbalanced, Z))
ex1_error_unbalanced = np.linalg.norm(lhs - A_dense(W, Z, N)) / np.linalg.norm(lhs)
print(
    f"unbalanced layers: relative error {ex1_error_unbalanced:.2f} "
    f"(imbalance {imbalance_norm(unbalanced):.2f}, same product: "
    f"{np.allclose(product(unbalanced), W)})"
)

# %%
# Exercise 2: depth 1 is the embedded metric
# ------------------------------------------
# For ``N = 1``, ``A_W`` is the identity: the metric is the Frobenius inner product of
# the ambient matrices of the tangent vectors, and the Riemannian gradient is the
# tangent projection of the Euclidean gradient, exactly as in pymanopt's
# ``FixedRankEmbedded``.
ours = FixedRankDeepLinear(m, n, k, depth=1, rng=3)
theirs = FixedRankEmbedded(m, n, k)
x = ours.random_point()
a, b = ours.random_tangent_vector(x), ours.random_tangent_vector(x)
frobenius = np.sum(ours.tangent_to_matrix(x, a) * ours.tangent_to_matrix(x, b))
ex2_inner_error = abs(ours.inner_product(x, a, b) - frobenius)
G = rng.standard_normal((m, n))
grad_ours = ours.tangent_to_matrix(x, ours.riemannian_gradient_from_matrix(x, G))
grad_theirs = ours.tangent_to_matrix(x, theirs.projection(x, G))  # (Up, M, Vp) -> m x n
ex2_gradient_error = np.linalg.norm(grad_ours - grad_theirs) / np.linalg.norm(grad_theirs)
print(
    f"|g_W(a, b) - <a, b>_F| = {ex2_inner_error:.1e}; "
    f"gradients differ by {ex2_gradient_error:.1e} (relative)"
)

# %%
# At depth 3 the same two numbers are of order one: the deep metric is a different
# metric.
deep = FixedRankDeepLinear(m, n, k, depth=3)
grad_deep = deep.tangent_to_matrix(x, deep.riemannian_gradient_from_matrix(x, G))
ex2_depth3_gradient_difference = np.linalg.norm(grad_deep - grad_theirs) / np.linalg.norm(
    grad_theirs
)
print(f"depth 3: gradients differ by {ex2_depth3_gradient_difference:.2f} (relative)")

# %%
# Exercise 3: the aligned ``N = 2`` flow in closed form
# -----------------------------------------------------
# With whitened data, ``L(W) = 1/2 ||W - Phi||^2``, and a start with the singular vectors
# of ``Phi``, each singular value solves the logistic equation
# ``d sigma/dt = -2 sigma (sigma - beta)``, whose solution is
#
# .. math::
#
#     \sigma(t) = \frac{\beta\,\sigma_0\, e^{2 \beta t}}{\beta - \sigma_0 + \sigma_0 e^{2 \beta t}}.
#
# We compare it with :func:`riemlin.riemannian_gradient_flow`.
U = np.linalg.qr(rng.standard_normal((m, 3)))[0]
V = np.linalg.qr(rng.standard_normal((n, 3)))[0]
beta = np.array([3.0, 1.5, 0.5])
sigma0 = np.array([0.1, 0.2, 0.05])
loss = RegressionLoss(np.eye(n), (U * beta) @ V.T)
t = np.linspace(0.0, 3.0 if fast else 6.0, 61)
flow = riemannian_gradient_flow((U * sigma0) @ V.T, loss, 2, t, rtol=1e-11, atol=1e-14)
e = np.exp(2 * np.outer(t, beta))
closed_form = beta * sigma0 * e / (beta - sigma0 + sigma0 * e)
# the flow sorts its singular values; the closed form keeps the order of beta
ex3_error = np.max(np.abs(np.sort(closed_form, axis=1)[:, ::-1] - flow.singular_values))
print(f"N = 2 aligned flow: max |sigma_flow(t) - sigma_closed(t)| = {ex3_error:.1e}")

fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
for i in range(3):
    ax.plot(t, closed_form[:, i], color=f"C{i}", lw=3, alpha=0.4)
    ax.plot(flow.t, flow.singular_values[:, i], "k--", lw=1)
ax.set_xlabel("t")
ax.set_ylabel("singular values")
ax.set_title("N = 2: closed form (thick) and riemannian_gradient_flow (dashed)")
plt.show()

# %%
# Exercise 4: check a gradient, and catch a wrong one
# ---------------------------------------------------
# :func:`riemlin.check_gradient` fits the slope of the Taylor remainder
# ``|f(R_W(t xi)) - f(W) - t g(grad f, xi)|``: 2 for a correct gradient. We write the
# problem ``f(W) = 1/2 ||W - Phi||^2 + 1/4 ||W||_4^4`` on ``M_2`` at depth 3 by hand, once
# with the right Riemannian gradient ``A_W(P_T G)`` and once with the projection
# ``P_T G`` alone (the embedded gradient, wrong for this metric).
Phi = rng.standard_normal((m, n))
manifold = FixedRankDeepLinear(m, n, k, depth=3, rng=5)


def make_problem(correct):
    @pymanopt.function.numpy(manifold)
    def cost(u, s, vt):
        W = (u * s) @ vt
        return 0.5 * np.sum((W - Phi) ** 2) + 0.25 * np.sum(W**4)

    @pymanopt.function.numpy(manifold)
    def riemannian_gradient(u, s, vt):
        W = (u * s) @ vt
        G = W - Phi + W**3
        if correct:
            return manifold.riemannian_gradient_from_matrix((u, s, vt), G)
        return manifold.projection((u, s, vt), G)

    return pymanopt.Problem(manifold, cost, riemannian_gradient=riemannian_gradient)


right = check_gradient(make_problem(True), rng=0)
wrong = check_gradient(make_problem(False), rng=0)
ex4_slope_right, ex4_slope_wrong = right.slope, wrong.slope
print(f"A_W(P_T G): slope {right.slope:.2f}, passed {right.passed}")
print(f"P_T G only: slope {wrong.slope:.2f}, passed {wrong.passed}")

# %%
# The same check through :func:`riemlin.matrix_problem`, which builds the gradient from
# an autograd cost on ``W``:
auto = check_gradient(
    riemlin.matrix_problem(
        manifold, lambda W: 0.5 * anp.sum((W - Phi) ** 2) + 0.25 * anp.sum(W**4)
    ),
    rng=0,
)
ex4_slope_autograd = auto.slope
print(f"matrix_problem (autograd): slope {auto.slope:.2f}, passed {auto.passed}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
right.plot(axes[0])
axes[0].set_title("gradient A_W(P_T G): slope 2")
wrong.plot(axes[1])
axes[1].set_title("gradient P_T G at depth 3: wrong")
for ax in axes:
    ax.set_ylim(bottom=1e-18)  # remainders at round-off (or exactly 0) are not informative
plt.show()

# %%
# Exercise 5: the layer flow conserves balancedness, the rank and the loss decreases
# ----------------------------------------------------------------------------------
# Train balanced layers by gradient flow and watch three numbers: the drift of the
# imbalance matrices (zero up to the integrator's accuracy), the rank of the product
# (``k`` throughout: the smallest nonzero singular value stays away from zero and the
# next one stays at round-off) and the loss (non-increasing).
loss = RegressionLoss(rng.standard_normal((n, 30)), rng.standard_normal((m, 30)))
W_start = 0.5 * rng.standard_normal((m, k)) @ rng.standard_normal((k, n)) / np.sqrt(n)
res = factor_gradient_flow(
    balanced_factors(W_start, (n, 4, 3, m), rng=2),
    loss,
    np.linspace(0.0, 2.0 if fast else 10.0, 41),
    rtol=1e-11,
    atol=1e-14,
)
ex5_max_drift = float(np.max(res.imbalance_drift))
ex5_min_sigma_k = float(np.min(res.singular_values[:, k - 1]))
ex5_max_sigma_k1 = float(np.max(res.singular_values[:, k] / res.singular_values[:, 0]))
ex5_max_loss_increase = float(np.max(np.diff(res.loss)))
print(
    f"max imbalance drift {ex5_max_drift:.1e}; min sigma_{k} {ex5_min_sigma_k:.2e}; "
    f"max sigma_{k + 1}/sigma_1 {ex5_max_sigma_k1:.1e}; "
    f"largest loss increase {ex5_max_loss_increase:.1e}"
)
