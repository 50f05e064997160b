"""
Balancedness, and what breaks without it
========================================

The equivalence theorem (Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505) has
one hypothesis on the layers: they start *balanced*,
``W_{j+1}^T W_{j+1} = W_j W_j^T`` for ``j = 1..N-1``. The gradient flow of the layers
conserves each imbalance matrix ``Delta_j = W_{j+1}^T W_{j+1} - W_j W_j^T``, so a balanced
start stays balanced, and then ``Dpi Dpi^* = A_W``: the product follows the Riemannian
gradient flow on ``M_k`` and keeps rank ``k``.

This example takes the hypothesis away in a controlled way (the product is kept fixed
and only the imbalance changes), measures how the two flows separate, shows what goes
wrong in the long run, and checks that gradient *descent* creates imbalance at the rate
``eta^2`` per step.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from scipy.linalg import expm

from riemlin import (
    RegressionLoss,
    balanced_factors,
    compare_flows,
    factor_gradient,
    factor_gradient_descent,
    factor_gradient_flow,
    imbalance,
    imbalance_norm,
    product,
)

fast = os.environ.get("RIEMLIN_FAST") == "1"
rng = np.random.default_rng(0)
widths = (5, 4, 4, 4)  # depth 3, bottleneck 4
loss = RegressionLoss(rng.standard_normal((5, 20)), rng.standard_normal((4, 20)))
W0 = 0.5 * rng.standard_normal((4, 2)) @ rng.standard_normal((2, 5)) / np.sqrt(5)  # rank 2
k = 2
balanced = balanced_factors(W0, widths, rng=1)
_, L_k = loss.optimum(k)
_, L_full = loss.optimum(4)
print(f"imbalance of balanced_factors: {imbalance_norm(balanced):.1e}")
print(f"optimum on rank <= 2: {L_k:.6f};  on rank <= 4 (the bottleneck): {L_full:.6f}")


# %%
# Changing the imbalance without changing the product
# ---------------------------------------------------
# Insert ``O_j O_j^{-1}`` between layers ``j`` and ``j + 1``: ``W_j -> O_j W_j``,
# ``W_{j+1} -> W_{j+1} O_j^{-1}`` (a gauge change). The product is unchanged. An
# orthogonal ``O_j`` is a symmetry of the network (it keeps the layers balanced); a
# symmetric positive ``O_j = exp(eps B_j)`` rescales the hidden units and makes the layers
# unbalanced by an amount proportional to ``eps``.
def regauge(layers, eps, symmetric=True):
    out = [W.copy() for W in layers]
    for j in range(len(out) - 1):
        B = np.random.default_rng(7 + j).standard_normal((out[j].shape[0],) * 2)
        A = (B + B.T) / 2 if symmetric else (B - B.T) / 2
        G = expm(eps * A)  # symmetric A: SPD rescaling; skew A: a rotation
        out[j] = G @ out[j]
        out[j + 1] = np.linalg.solve(G.T, out[j + 1].T).T
    return out


for symmetric in (False, True):
    F = regauge(balanced, 0.1, symmetric)
    change = np.linalg.norm(product(F) - W0) / np.linalg.norm(W0)
    kind = "symmetric (rescaling)" if symmetric else "skew (rotation)     "
    print(
        f"G = exp(0.1 A), A {kind}: product changes by {change:.1e}, "
        f"imbalance {imbalance_norm(F):.2e}"
    )

# %%
# The mismatch grows in proportion to the imbalance
# -------------------------------------------------
# ``compare_flows`` runs the layer flow from the regauged layers and the Riemannian flow
# from their (common) product. The largest relative mismatch over ``0 <= t <= 3`` is
# plotted against the initial imbalance; a slope of one on the log-log plot means the
# mismatch is linear in the imbalance.
eps_values = np.geomspace(1e-3, 1e-1, 2) if fast else np.geomspace(1e-4, 1e-1, 7)
t = np.linspace(0.0, 3.0, 31)
start_imbalance, mismatch = [], []
for eps in eps_values:
    F = regauge(balanced, eps)
    cmp = compare_flows(F, loss, t, rtol=1e-11, atol=1e-14)
    start_imbalance.append(imbalance_norm(F))
    mismatch.append(cmp.max_relative_mismatch)
cmp0 = compare_flows(balanced, loss, t, rtol=1e-11, atol=1e-14)
slope = np.polyfit(np.log(start_imbalance), np.log(mismatch), 1)[0]
print(f"balanced start: max mismatch {cmp0.max_relative_mismatch:.1e}")
for a, b in zip(start_imbalance, mismatch):
    print(f"imbalance {a:.2e}: max mismatch {b:.2e}")
print(f"fitted slope of log mismatch against log imbalance: {slope:.2f}")

fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
ax.loglog(start_imbalance, mismatch, "o-", label=f"regauged layers (slope {slope:.2f})")
ax.axhline(cmp0.max_relative_mismatch, color="gray", ls=":", label="balanced layers")
ax.set_xlabel("initial imbalance  max_j ||Delta_j|| / max_j ||W_j||^2")
ax.set_ylabel("max_t ||W_layers - W_riem|| / ||W_layers||")
ax.set_title("Layer flow vs Riemannian flow, 0 <= t <= 3")
ax.legend()
plt.show()

# %%
# What breaks: the rank, and the limit
# ------------------------------------
# The product starts at rank 2 inside a network whose bottleneck is 4. From balanced
# layers it keeps rank 2 forever (its zero singular values stay at zero) and converges
# to the best rank-2 fit, ``L*_2``. From unbalanced layers, the third and fourth
# singular values of the product start to grow: the product leaves ``M_2``, and the
# loss drops below ``L*_2`` towards the optimum ``L*_4`` of the whole bottleneck. The
# smaller the imbalance, the later it escapes, but it does escape.
t_long = np.concatenate(([0.0], np.geomspace(1e-2, 50.0 if fast else 300.0, 50)))
fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
for i, eps in enumerate((0.0, 1e-1) if fast else (0.0, 1e-3, 1e-2, 1e-1)):
    res = factor_gradient_flow(regauge(balanced, eps), loss, t_long, rtol=1e-10, atol=1e-14)
    assert res.success, res.message
    label = "balanced" if eps == 0 else f"eps = {eps:g}"
    axes[0].loglog(
        res.t[1:], np.maximum(res.singular_values[1:, 2], 1e-17), color=f"C{i}", label=label
    )
    axes[1].semilogx(res.t[1:], res.loss[1:] - L_full, color=f"C{i}", label=label)
    print(
        f"{label:>12}: sigma_3 at the end {res.singular_values[-1, 2]:.2e}, "
        f"final loss {res.loss[-1]:.6f}"
    )
axes[0].set_title("third singular value of the product")
axes[1].axhline(L_k - L_full, color="k", ls=":", label="L*_2 (rank-2 optimum)")
axes[1].set_title("L(W(t)) - L*_4")
for ax in axes:
    ax.set_xlabel("t")
    ax.legend(fontsize=8)
plt.show()

# %%
# Gradient descent creates imbalance at the rate eta^2
# ----------------------------------------------------
# One descent step changes the imbalance matrices *exactly* by
# ``Delta_j -> Delta_j + eta^2 (nabla_{j+1}^T nabla_{j+1} - nabla_j nabla_j^T)`` with
# ``nabla_j`` the layer gradients (the first-order terms cancel because
# ``W_{j+1}^T nabla_{j+1} = nabla_j W_j^T``; the user guide, section "Gradient descent
# changes the imbalance by eta^2"). We check the
# formula on one step from balanced layers, then fit the order of the drift in ``eta``:
# 2 for one step, 1 at a fixed time ``t = n eta = 0.2`` (``n = t / eta`` steps of size
# ``eta^2``), which is why descent stays close to the flow for small steps.
G = factor_gradient(balanced, loss.gradient(product(balanced)))
predicted = [Gn.T @ Gn - Gj @ Gj.T for Gj, Gn in zip(G[:-1], G[1:])]
steps = np.geomspace(1e-4, 1e-2, 3 if fast else 5)
t_end = 0.2
one_step, fixed_time, formula_error = [], [], []
for eta in steps:
    res = factor_gradient_descent(balanced, loss, eta, 1)
    D = imbalance(res.factors)
    formula_error.append(
        max(
            np.linalg.norm(Dj - eta**2 * Pj) / np.linalg.norm(eta**2 * Pj)
            for Dj, Pj in zip(D, predicted)
        )
    )
    one_step.append(res.imbalance_drift[-1])
    n_steps = int(round(t_end / eta))
    res = factor_gradient_descent(balanced, loss, t_end / n_steps, n_steps, record_every=n_steps)
    assert res.success, res.message
    fixed_time.append(res.imbalance_drift[-1])
order_one = np.polyfit(np.log(steps), np.log(one_step), 1)[0]
order_fixed = np.polyfit(np.log(steps), np.log(fixed_time), 1)[0]
print(f"exact one-step formula: largest relative error {max(formula_error):.1e}")
print(f"drift order in eta: one step {order_one:.2f}, fixed time t = {t_end} {order_fixed:.2f}")

fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
ax.loglog(steps, one_step, "o-", label=f"after one step (slope {order_one:.2f})")
ax.loglog(steps, fixed_time, "s-", label=f"at time t = {t_end} (slope {order_fixed:.2f})")
ax.set_xlabel("step size eta")
ax.set_ylabel("imbalance drift")
ax.set_title("Layer descent leaves the balanced set slowly")
ax.legend()
plt.show()
