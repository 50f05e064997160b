"""
Large steps find flatter minima
===============================

Beneventano and Woodworth (arXiv:2501.09137) study gradient descent on a depth-2 linear
network with one input and one output, ``a^T b ~ Phi``. Their abstract states that
descent converges at a linear rate even with a step of about ``2 / sharpness``, that
its limit has lower norm and sharpness than the gradient flow's limit from the same
start, and that larger steps trade speed of convergence for more of this implicit
regularization. The flow conserves the imbalance ``Delta = W_2^T W_2 - W_1 W_1^T``;
descent does not.

This example measures all of it on one seeded start: the sharpness (largest eigenvalue of
the layer-loss Hessian, by Lanczos on exact Hessian-vector products,
:func:`riemlin.networks.sharpness.layer_sharpness`), the norm and the imbalance along
descent (:func:`riemlin.dynamics.measures.descent_trace`), for steps given in units of
``2 / S_flow``, with ``S_flow`` the sharpness of the flow's limit.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from riemlin import RegressionLoss, factor_gradient_descent, factor_gradient_flow
from riemlin.dynamics.measures import descent_trace
from riemlin.networks.balance import imbalance
from riemlin.networks.sharpness import layer_sharpness

fast = os.environ.get("RIEMLIN_FAST") == "1"
rng = np.random.default_rng(3)
width, Phi = 8, 1.0
loss = RegressionLoss(np.ones((1, 1)), np.full((1, 1), Phi))  # L = (a^T b - Phi)^2 / 2
b = rng.standard_normal((width, 1)) * np.exp(-0.5)  # W_1 = b, W_2 = a^T, tilted apart
a = rng.standard_normal((1, width)) / np.sqrt(width) * np.exp(0.5)
layers = [b, a]

flow = factor_gradient_flow(layers, loss, [0.0, 100.0])
S_flow = layer_sharpness(flow.factors, loss)
norm = lambda F: float(np.sqrt(sum(np.sum(W**2) for W in F)))  # noqa: E731
print(
    f"flow's limit: loss {flow.loss[-1]:.1e}, sharpness {S_flow:.4f}, norm {norm(flow.factors):.4f}"
)
print(
    f"imbalance ||Delta||_F: start {np.linalg.norm(imbalance(layers)[0]):.4f}, "
    f"flow's limit {np.linalg.norm(imbalance(flow.factors)[0]):.4f}"
)
print(f"smallest sharpness of any minimizer: 2 |Phi| = {2 * abs(Phi):.1f}")

# %%
# Descent with steps up to and past ``2 / S_flow``
# ------------------------------------------------
# Each panel follows one quantity along descent; the dashed lines of the middle panel are
# the stability thresholds ``2 / eta`` of the steps (same colours). A limit is linearly
# stable only if its sharpness is below ``2 / eta``: descent with a step past
# ``2 / S_flow`` cannot end at the flow's limit, and finds a flatter one.
ratios = [0.5, 1.0, 1.5] if fast else [0.25, 0.5, 1.0, 1.25, 1.5]
n_steps = 40 if fast else 80
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
for j, r in enumerate(ratios):
    eta = r * 2 / S_flow
    tr = descent_trace(layers, loss, eta, n_steps, every=1, rng=0)
    axes[0].semilogy(tr.steps, np.maximum(tr.loss, 1e-32), color=f"C{j}", label=f"{r} x 2/S_flow")
    axes[1].plot(tr.steps, tr.sharpness, color=f"C{j}")
    axes[1].axhline(2 / eta, color=f"C{j}", ls="--", lw=0.8)
    axes[2].plot(tr.steps, tr.imbalance[:, 0], color=f"C{j}")
axes[1].axhline(S_flow, color="k", lw=1, label="flow's limit")
axes[0].set(xlabel="step", ylabel="loss", title="loss (linear convergence)")
axes[1].set(xlabel="step", ylabel="sharpness", title="sharpness; dashed: 2 / eta", ylim=(0, None))
axes[2].set(xlabel="step", ylabel="||Delta||_F", title="imbalance (conserved by the flow)")
axes[0].legend(title="step")
axes[1].legend()
fig.tight_layout()
plt.show()

# %%
# The limit against the step
# --------------------------
# Ratios of descent's limit to the flow's limit from the same start, and the number of
# steps until the loss is ``1e-10`` of its start (printed below the figure). On this start
# the sharpness falls until it reaches ``2 |Phi|``, the flattest minimizer, a little past
# ``2 / S_flow``; larger steps end at sharper minimizers again, then diverge (the start's
# own sharpness is that of the flow's limit, and the first steps overshoot). Past about
# half of ``2 / S_flow`` the steps to converge grow with the step while the limit gets
# flatter: the trade-off of the abstract.
grid = np.linspace(0.1, 2.2, 8 if fast else 22)
rows = []
for r in grid:
    eta = r * 2 / S_flow
    res = factor_gradient_descent(layers, loss, eta, 1500)
    if res.status != 0:
        rows.append((r, np.nan, np.nan, np.nan, np.nan))
        continue
    hit = np.nonzero(res.loss <= 1e-10 * res.loss[0])[0]
    rows.append(
        (
            r,
            layer_sharpness(res.factors, loss) / S_flow,
            norm(res.factors) / norm(flow.factors),
            np.linalg.norm(imbalance(res.factors)[0]) / np.linalg.norm(imbalance(layers)[0]),
            hit[0] if hit.size else np.nan,
        )
    )
rows = np.array(rows)
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
axes[0].plot(rows[:, 0], rows[:, 1], "o-", label="sharpness")
axes[0].plot(rows[:, 0], rows[:, 2], "s-", label="norm")
axes[0].plot(rows[:, 0], rows[:, 3], "^-", label="||Delta||_F")
axes[0].axhline(2 * abs(Phi) / S_flow, color="gray", ls=":", label="flattest minimizer")
axes[0].set(xlabel="step x S_flow / 2", ylabel="descent's limit / flow's limit")
axes[0].legend()
axes[1].plot(rows[:, 0], rows[:, 4], "o-")
axes[1].set(xlabel="step x S_flow / 2", ylabel="steps to 1e-10", yscale="log")
for ax in axes:
    ax.axvline(1.0, color="gray", lw=0.8, ls="--")
fig.tight_layout()
plt.show()
for r, s, nrm, imb, steps in rows:
    print(
        f"step {r:4.2f} x 2/S_flow: sharpness {s:.3f}, norm {nrm:.3f}, imbalance {imb:.3f}, "
        f"steps {steps:.0f}"
    )
