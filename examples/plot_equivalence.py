"""
The equivalence theorem in pictures
===================================

The equivalence theorem of Bah, Rauhut, Terstiege and Westdickenberg (arXiv:1910.05505):
train the layers of a deep linear network by gradient flow, starting from *balanced*
layers, and the product ``W(t) = W_N(t) ... W_1(t)`` follows the Riemannian gradient flow
of the loss on the manifold ``M_k`` of rank-``k`` matrices, under the metric
``g_W(xi, zeta) = <A_W^{-1} xi, zeta>``.

We integrate both flows from the same start and watch them agree to the accuracy of the
integrators; then we break balancedness and watch them separate.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from riemlin import RegressionLoss, balanced_factors, compare_flows

fast = os.environ.get("RIEMLIN_FAST") == "1"
rng = np.random.default_rng(0)
widths = (5, 3, 6, 2, 4)  # d_0 = 5 inputs, d_4 = 4 outputs, bottleneck 2
loss = RegressionLoss(rng.standard_normal((5, 20)), rng.standard_normal((4, 20)))
W0 = 0.5 * rng.standard_normal((4, 2)) @ rng.standard_normal((2, 5)) / np.sqrt(5)
t = np.linspace(0, 2.0 if fast else 5.0, 21)

# %%
# Balanced layers: the two flows coincide
# ---------------------------------------
balanced = balanced_factors(W0, widths, rng=1)
cmp = compare_flows(balanced, loss, t, rtol=1e-11, atol=1e-14)
print(cmp.table())
cmp.plot()

# %%
# Unbalanced layers: the theorem's hypothesis matters
# ---------------------------------------------------
# Perturb every layer a little. The product barely moves, but the layers are no longer
# balanced, and the layer flow leaves the Riemannian flow at a rate set by the imbalance.
fig, ax = plt.subplots(figsize=(6, 4))
for eps in (0.0, 1e-3, 1e-2, 1e-1):
    noise = np.random.default_rng(5)
    layers = [W + eps * noise.standard_normal(W.shape) for W in balanced]
    c = compare_flows(layers, loss, t, rtol=1e-11, atol=1e-14)
    ax.semilogy(c.t, np.maximum(c.mismatch, 1e-17), label=f"perturbation {eps:g}")
ax.set_xlabel("t")
ax.set_ylabel("||W_layers - W_riemannian|| / ||W_layers||")
ax.set_title("Mismatch of the two flows")
ax.legend()
plt.show()
