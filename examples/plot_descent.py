"""
Gradient descent against the flow: step sizes and where descent breaks
======================================================================

The theorems about deep linear networks are stated for the gradient *flow*; training
uses gradient *descent*. riemlin has both discretizations of the flow on ``M_k``:

* layer descent, ``W_j <- W_j - eta grad_{W_j} L^N`` on balanced layers
  (:func:`riemlin.factor_gradient_descent`);
* Riemannian descent, ``W <- R_W(-eta A_W(P_T grad L(W)))`` on the end-to-end matrix
  (:func:`riemlin.riemannian_gradient_descent`, ``R`` the truncated-SVD retraction).

Both are first-order methods for the same flow (when the layers start balanced), so at a
fixed time they differ from it, and from each other, by ``O(eta)``.
:func:`riemlin.compare_descent` measures that and fits the order. Then we push the step
up until descent stops converging, and compare with the threshold predicted by
linearizing at the minimizer.

The problem is whitened regression, ``L(W) = 1/2 ||W - Phi||_F^2`` on ``5 x 3``
matrices of rank ``3``, with target singular values ``2, 1, 0.5``.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from riemlin import (
    RegressionLoss,
    balanced_factors,
    compare_descent,
    factor_gradient_descent,
    riemannian_gradient_descent,
    riemannian_gradient_flow,
)

fast = os.environ.get("RIEMLIN_FAST") == "1"
rng = np.random.default_rng(0)
m, n = 5, 3
U = np.linalg.qr(rng.standard_normal((m, n)))[0]
V = np.linalg.qr(rng.standard_normal((n, n)))[0]
s_target = np.array([2.0, 1.0, 0.5])
loss = RegressionLoss(np.eye(n), (U * s_target) @ V.T)
W0 = (U * np.array([1.0, 0.8, 0.6])) @ V.T + 0.1 * rng.standard_normal((m, n))
depth = 3
widths = (n, 4, 4, m)  # d_0 = 3 inputs, two hidden layers of width 4, d_3 = 5 outputs

# %%
# Layer descent against Riemannian descent: first order in the step
# ------------------------------------------------------------------
# ``compare_descent`` starts balanced layers at ``W0``, runs both descents to the same
# time ``t_end`` with ``t_end / eta`` steps each, and fits ``log mismatch`` against
# ``log eta``. It also reports how far the layers' imbalance matrices
# ``Delta_j = W_{j+1}^T W_{j+1} - W_j W_j^T`` moved: the flow conserves them exactly, descent
# moves them by ``O(eta^2)`` per step, ``O(eta)`` at a fixed time.
steps = np.geomspace(4e-3, 1e-1, 3) if fast else np.geomspace(1e-3, 1e-1, 7)
cmp = compare_descent(loss=loss, steps=steps, t_end=1.0, W0=W0, widths=widths, rng=1)
print(cmp.table())

# %%
# Each descent against the flow
# -----------------------------
# The reference is the Riemannian flow itself, integrated to ``1e-12`` relative
# accuracy. Both descents approach it at order one.
flow = riemannian_gradient_flow(W0, loss, depth, [0.0, 1.0], rtol=1e-12, atol=1e-14)
W_flow = flow.W[-1]
layers = balanced_factors(W0, widths, rng=1)
err_layers, err_riemannian = [], []
for eta in steps:
    n_steps = int(round(1.0 / eta))
    fac = factor_gradient_descent(layers, loss, 1.0 / n_steps, n_steps, record_every=n_steps)
    riem = riemannian_gradient_descent(W0, loss, depth, 1.0 / n_steps, n_steps)
    err_layers.append(np.linalg.norm(fac.W[-1] - W_flow) / np.linalg.norm(W_flow))
    err_riemannian.append(np.linalg.norm(riem.W[-1] - W_flow) / np.linalg.norm(W_flow))
order_layers = np.polyfit(np.log(steps), np.log(err_layers), 1)[0]
order_riemannian = np.polyfit(np.log(steps), np.log(err_riemannian), 1)[0]
print(
    f"fitted order against the flow: layer descent {order_layers:.2f}, "
    f"Riemannian descent {order_riemannian:.2f}"
)

fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
ax.loglog(steps, err_layers, "o-", label=f"layer descent vs flow (slope {order_layers:.2f})")
ax.loglog(steps, err_riemannian, "s-", label=f"Riemannian descent vs flow ({order_riemannian:.2f})")
ax.loglog(steps, cmp.mismatch, "^--", label=f"layer vs Riemannian ({cmp.mismatch_order:.2f})")
ax.loglog(steps, cmp.imbalance_drift, "v:", label=f"imbalance drift ({cmp.drift_order:.2f})")
ax.set_xlabel("step size eta")
ax.set_ylabel("relative difference at t = 1")
ax.set_title(f"Descent at depth {depth}: first order in the step")
ax.legend(fontsize=8)
plt.show()

# %%
# On this problem the two descents are about ten times closer to each other than either
# is to the flow: most of their ``O(eta)`` error against the flow is common to both.
#
# How large can the step be?
# --------------------------
# Near the minimizer ``W* = Phi`` the Riemannian descent map linearizes to
# ``xi -> xi - eta A_{W*}(xi)`` (the Euclidean Hessian of ``L`` is the identity here, and
# ``k = min(m, n)``, so the tangent space is everything). The largest eigenvalue of
# ``A_{W*}`` is ``N beta_1^{2(N-1)/N}`` (``beta_1 = 2`` the top singular value of the
# target), so descent converges locally for
#
# .. math::
#
#     \eta < \eta^* = \frac{2}{N\, \beta_1^{2(N-1)/N}},
#
# that is ``eta* = 2, 0.5, 0.177`` for ``N = 1, 2, 4`` (the same bound holds for layer
# descent at balanced minimizers, where ``Dpi Dpi^* = A_W``; the user guide derives both
# bounds in the section "Step bounds for descent"). We scan ``eta / eta*`` and
# record where each run ends: converged (final loss below ``1e-8``), stuck without
# converging, or diverged (riemlin's status ``-2``).
ratios = np.linspace(0.6, 2.4, 7) if fast else np.linspace(0.6, 2.6, 21)
n_steps = 300 if fast else 1000
fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
print(f"{'N':>2} {'eta*':>7}  first eta/eta* that does not converge / that diverges")
for N, color in zip((1, 2, 4), ("C0", "C1", "C2")):
    eta_star = 2.0 / (N * s_target[0] ** (2 * (N - 1) / N))
    widths_N = (n,) + (4,) * (N - 1) + (m,)
    layers_N = balanced_factors(W0, widths_N, rng=1)
    for method, marker in (("Riemannian", "o"), ("layers", "x")):
        final, status = [], []
        for r in ratios:
            if method == "Riemannian":
                res = riemannian_gradient_descent(W0, loss, N, r * eta_star, n_steps)
            else:
                res = factor_gradient_descent(
                    layers_N, loss, r * eta_star, n_steps, record_every=n_steps
                )
            final.append(res.loss[-1] if res.success else np.inf)
            status.append(res.status)
        final, status = np.array(final), np.array(status)
        stuck = ratios[final > 1e-8]
        blown = ratios[status == -2]
        first = [f"{x[0]:.2f}" if x.size else "none" for x in (stuck, blown)]
        print(f"{N:>2} {eta_star:7.3f}  {method:>10}: {first[0]} / {first[1]}")
        shown = np.where(np.isfinite(final), np.maximum(final, 1e-30), 1e3)
        ax.semilogy(
            ratios,
            shown,
            marker=marker,
            color=color,
            ls="-" if marker == "o" else ":",
            label=f"N = {N}, {method}",
        )
ax.axvline(1.0, color="gray", lw=1)
ax.set_xlabel("eta / eta*")
ax.set_ylabel(f"loss after {n_steps} steps (1e3: diverged)")
ax.set_title("Convergence, oscillation, divergence")
ax.legend(fontsize=8, ncol=2)
plt.show()

# %%
# Below ``eta*`` every run converges to the minimum (the loss reaches round-off).
# Above it, depth changes what happens. For ``N = 1`` descent on ``L`` is linear and
# blows up as soon as ``eta > eta*``. For ``N >= 2`` there is a window in which descent
# neither converges nor diverges: the top singular value cannot settle at ``beta_1``,
# because there the local curvature ``N sigma_1^{2(N-1)/N}`` is too large for the step,
# so it jumps back and forth across ``beta_1`` (in these runs a cycle of period two, e.g.
# between about 2.3 and 1.5 for ``N = 2`` at ``eta = 1.1 eta*``) while the other singular
# values converge, and the loss stays bounded away from zero. Only larger steps blow up.
# The bounded oscillation is reminiscent of the "edge of stability" of gradient descent
# on neural networks (Cohen, Kaur, Li, Kolter, Talwalkar, arXiv:2103.00065).
