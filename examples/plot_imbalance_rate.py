"""
Imbalanced two-layer networks: their metric and their rate
==========================================================

Two layers ``W = W_2 W_1`` whose gradient flow starts with the imbalance
``Delta = W_2^T W_2 - W_1 W_1^T = chi I`` (hidden width ``k = rank W``) keep it, and their
product follows the Riemannian gradient flow of the metric ``g^chi`` with operator
``A^chi_W``: in SVD coordinates ``M_ab -> (kV_a + kU_b) M_ab``, ``Up -> Up diag(kU)``,
``Vp -> Vp diag(kV)``, with ``kU, kV = (-+chi + sqrt(chi^2 + 4 sigma^2)) / 2`` the
eigenvalues of ``W_1^T W_1`` and ``W_2 W_2^T`` (the user guide, chapter "Claims beyond
the theorem", derives it; ``chi = 0`` is the depth-2 metric of Bah et al.,
arXiv:1910.05505).

This example checks the derivation against the layer flow, then measures the claim of
Xu, Min, Tarmoun, Mallada, Vidal (AISTATS 2023) and Tarmoun et al. (ICML 2021) that the
linear rate of two-layer networks depends on, and improves with, the imbalance.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from riemlin import compare_flows, factor_gradient_flow
from riemlin.dynamics.imbalanced import compare_imbalanced_flows
from riemlin.dynamics.measures import linear_rate
from riemlin.losses import random_regression
from riemlin.networks.balance import balanced_factors, imbalance
from riemlin.networks.imbalanced import fibre_move, imbalanced_factors

fast = os.environ.get("RIEMLIN_FAST") == "1"

# %%
# The layer flow follows the flow of ``g^chi``
# --------------------------------------------
# From layers with ``Delta = chi I`` (any orthogonal factor ``R`` between them), the layer
# flow and the Riemannian flow of ``g^chi`` from the same product agree to the
# integrators' accuracy (both at ``rtol = 1e-10``).
loss, W0 = random_regression(3, 5, 2, 20, rng=0)
for chi in (-3.0, -0.5, 0.0, 1.0, 4.0):
    cmp = compare_imbalanced_flows(W0, loss, chi, np.linspace(0, 3, 7), rng=1)
    print(
        f"chi = {chi:5.1f}: max relative mismatch {cmp.max_relative_mismatch:.1e}, "
        f"drift of Delta {np.max(cmp.imbalance_drift):.1e}"
    )

# %%
# The linear rate against ``chi``
# -------------------------------
# For each shape, one regression problem and one rank-``k`` start ``W0`` with
# ``k = min(m, n)``; layers over ``W0`` with ``Delta = chi I``; the rate fitted to the
# excess loss of the layer flow once it has fallen by a factor 10. Square shapes see only
# ``|chi|`` (the weights ``kV_a + kU_b = (r_a + r_b) / 2`` with ``r = sqrt(chi^2 + 4 sigma^2)``
# do not depend on its sign); for ``m < n`` the weight ``kV = sigma^2 / kU`` of the
# ``V_p`` block shrinks like ``sigma^2 / |chi|`` when ``chi < 0``, and the rate falls.
chis = np.array([-4, -2, -1, 0, 1, 2, 4.0]) if fast else np.linspace(-4, 4, 17)
t = np.linspace(0, 30, 151 if fast else 301)
fig, ax = plt.subplots(figsize=(6.5, 4))
for j, (m, n) in enumerate([(3, 5), (5, 3), (4, 4)]):
    k = min(m, n)
    loss_mn, W_mn = random_regression(m, n, k, 20, rng=1, scale=0.3)
    _, optimum = loss_mn.optimum(k)
    rates = []
    for chi in chis:
        flow = factor_gradient_flow(imbalanced_factors(W_mn, chi, rng=2), loss_mn, t)
        excess = flow.loss - optimum
        rates.append(linear_rate(flow.t, excess, 1e-13 * flow.loss[0]))
    ax.plot(chis, rates, "o-", color=f"C{j}", label=f"m={m}, n={n}, k={k}")
ax.set(xlabel="chi  (W_2^T W_2 - W_1 W_1^T = chi I)", ylabel="linear rate of the flow")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# Imbalance that is not a multiple of the identity
# ------------------------------------------------
# Then the product's velocity is not a function of ``W`` alone. Balanced layers (hidden
# widths ``k``, so the product stays on ``M_k``) are moved along the fibre of the product
# map, ``W_j -> exp(h B_j) W_j``, ``W_{j+1} -> W_{j+1} exp(-h B_j)``; the product is
# unchanged and ``||Delta_j||_F`` grows with ``h``. The distance between the layer flow's
# product and the balanced Riemannian flow grows linearly with the imbalance until it is
# of the size of the curve itself.
loss, W0 = random_regression(3, 4, 2, 10, rng=3)
strengths = np.logspace(-4, 0, 5 if fast else 13)
fig, ax = plt.subplots(figsize=(6.5, 4))
for j, depth in enumerate((2, 3)):
    base = balanced_factors(W0, (4,) + (2,) * (depth - 1) + (3,), rng=4)
    sizes, gaps = [], []
    for h in strengths:
        layers = fibre_move(base, h, rng=5)
        sizes.append(max(np.linalg.norm(D) for D in imbalance(layers)))
        gaps.append(compare_flows(layers, loss, np.linspace(0, 3, 7)).max_relative_mismatch)
    ax.loglog(sizes, gaps, "o-", color=f"C{j}", label=f"depth {depth}")
ax.loglog(sizes, 0.25 * np.array(sizes), "k:", label="slope 1")
ax.set(xlabel="max_j ||Delta_j||_F at the start", ylabel="max_t relative distance of the products")
ax.legend()
fig.tight_layout()
plt.show()
