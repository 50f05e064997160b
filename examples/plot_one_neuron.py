"""
One-neuron-wide layers: where the flow ends, and how long it takes
==================================================================

When one hidden layer has width 1, the end-to-end matrix has rank one for all time:
``W(t) = sigma(t) u(t) v(t)^T``. For whitened data with target
``Phi = sum_i beta_i phi_i psi_i^T`` (distinct ``beta_i``) the gradient flow of balanced
layers ends at one of three places (Chen, Lin, Zhang, arXiv:2201.02761; Eftekhari,
arXiv:2002.09852; the rule below is riemlin's derived form, written out in the user guide,
section "One-neuron-wide layers: the trajectory and the limit rule"):

* the global minimizer ``beta_1 phi_1 psi_1^T`` if the start has a component along the
  top pair, ``phi_1^T u_0 + psi_1^T v_0 != 0``;
* otherwise the saddle ``beta_i phi_i psi_i^T`` of the first pair ``i`` it has a
  component along;
* the origin if it has none.

:func:`riemlin.theory.predict_limit` applies the rule to the layers,
:func:`riemlin.theory.classify_limit` names where a run actually ended, and
:func:`riemlin.theory.one_neuron_stages` predicts the stages of the run: decay while
``rho = u^T Phi v < 0``, a plateau near the origin, then linear convergence.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from riemlin import RegressionLoss, balanced_factors, factor_gradient_flow
from riemlin.theory import classify_limit, one_neuron_stages, one_neuron_trajectory, predict_limit

fast = os.environ.get("RIEMLIN_FAST") == "1"
Phi = np.diag([3.0, 2.0, 1.0, 0.0])
loss = RegressionLoss(np.eye(4), Phi)  # whitened: X = I, target Phi
e = np.eye(4)
depth = 3
widths = (4, 1, 1, 4)  # a one-neuron bottleneck
t = np.linspace(0.0, 8.0 if fast else 20.0, 161)

# %%
# Three starts, three limits
# --------------------------
# Each start is a small rank-one matrix ``0.05 u_0 v_0^T``. The first has a component
# along the top pair; the second only along pairs 2 and 3 (the rule says: the saddle at
# pair 2); the third only along the zero pair 4, so it decays to the origin.

starts = {
    "generic start": (e[0] - e[1] + e[2]) / np.sqrt(3),
    "no top component": (e[1] + 0.5 * e[2]) / np.sqrt(1.25),
    "only the zero pair": e[3],
}
fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
for label, d in starts.items():
    W0 = 0.05 * np.outer(d, d)
    layers = balanced_factors(W0, widths, rng=0)
    predicted = predict_limit(layers, loss)
    run = factor_gradient_flow(layers, loss, t, rtol=1e-10, atol=1e-12)
    # the origin is approached only algebraically, sigma ~ t^(-N/(2(N-1))) (derived in
    # the user guide, section "The aligned flow and its closed forms"), so the
    # classification tolerance is loose
    found = classify_limit(run, loss, tol=0.02)
    sigma = np.linalg.norm(run.W, axis=(1, 2), ord=2)
    ax.plot(t, sigma, label=f"{label}: {found.kind} {found.pair or ''}")
    print(
        f"{label:>20}: predicted {predicted.kind} {predicted.pair}, "
        f"run ended at {found.kind} {found.pair} (distance {found.distance:.1e})"
    )
    assert (predicted.kind, predicted.pair) == (found.kind, found.pair)
ax.set(xlabel="t", ylabel="sigma(t) = ||W(t)||", title=f"depth {depth}, widths {widths}")
ax.legend(fontsize=8)
plt.show()

# %%
# The stages of a run, predicted and measured
# -------------------------------------------
# A start pointing mostly *against* the target (``rho = u^T Phi v < 0``) first decays, then
# sits on a plateau near the origin while its direction turns, then escapes along the
# top pair and converges linearly. The closed-form trajectory
# (:func:`~riemlin.theory.one_neuron_trajectory`) lies on the measured run, and
# :func:`~riemlin.theory.one_neuron_stages` predicts the escape time to leading order in
# the size of the start.

u0 = (e[0] + 0.3 * e[1]) / np.hypot(1, 0.3)
v0 = (-e[0] + 0.5 * e[1]) / np.hypot(1, 0.5)  # phi_1^T u0 + psi_1^T v0 != 0
W0 = 1e-3 * np.outer(u0, v0)
layers = balanced_factors(W0, widths, rng=1)
t2 = np.linspace(0.0, 30.0 if fast else 60.0, 601)
run = factor_gradient_flow(layers, loss, t2, rtol=1e-11, atol=1e-14)
closed = one_neuron_trajectory(layers, loss, t2)
stages = one_neuron_stages(layers, loss)
sigma_run = np.linalg.norm(run.W, axis=(1, 2), ord=2)
gap = np.max(np.abs(closed.sigma - sigma_run) / np.maximum(closed.sigma, 1e-300))
print(f"closed form vs layer flow: max relative difference in sigma {gap:.1e}")
print(
    f"predicted limit {stages.kind} {stages.pair}: turn at t = {stages.turn_time:.2f}, "
    f"escape (sigma = beta/2) at t = {stages.escape_time:.2f}, final rate {stages.rate:.3f}"
)
measured_escape = t2[np.argmax(sigma_run >= stages.a / 2)]
print(f"measured escape time: {measured_escape:.2f}")
assert gap < 1e-6
fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
ax.semilogy(t2, sigma_run, label="layer flow")
ax.semilogy(t2, closed.sigma, "--", label="closed form")
ax.axvline(stages.turn_time, color="gray", lw=0.8, label="end of the decay (rho = 0)")
ax.axvline(stages.escape_time, color="k", lw=0.8, ls=":", label="predicted escape")
ax.set(xlabel="t", ylabel="sigma(t)", title="decay, plateau, escape")
ax.set_xlim(0.0, min(t2[-1], 2.0 * stages.escape_time))
ax.legend(fontsize=8)
plt.show()
