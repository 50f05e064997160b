"""
What depth does to the flow: speed and the bias towards low rank
================================================================

The Riemannian gradient flow ``dW/dt = -A_W(grad L(W))`` on ``M_k`` is what the product
of a depth-``N`` linear network follows when its balanced layers are trained by
gradient flow (Bah et al., arXiv:1910.05505). Depth enters only through the operator
``A_W``. In the SVD coordinates ``W = U Sigma V^T`` it multiplies

* the core block ``M`` (which moves the singular values) by
  ``K_ab = sum_j p_a^{N-j} p_b^{j-1}``, ``p_a = sigma_a^{2/N}``: about ``N`` times the
  logarithmic mean of ``sigma_a^2`` and ``sigma_b^2`` for large ``N``, and
  ``N sigma_a^{2(N-1)/N}`` on the diagonal;
* the blocks ``Up, Vp`` (which rotate the singular subspaces) by
  ``kappa_a = sigma_a^{2(N-1)/N}``, which tends to ``sigma_a^2`` and does *not* grow
  with ``N``.

Two consequences, measured below on ``L(W) = 1/2 ||W - Phi||_F^2`` (whitened regression,
``X = I``) with a target ``Phi`` of singular values ``beta = (4, 2, 1, 0.5)``: depth
speeds up the singular values (time scale ``~1/N``) but not the turning of the singular
subspaces, and from a small start the singular values are learned one after the other,
large ones first, the more sharply the deeper the network (the user guide, section
"Large depth: the singular values speed up, the subspaces do not").
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from riemlin import RegressionLoss, riemannian_gradient_flow

fast = os.environ.get("RIEMLIN_FAST") == "1"
rng = np.random.default_rng(0)
m, n, k = 8, 6, 4
U = np.linalg.qr(rng.standard_normal((m, k)))[0]
V = np.linalg.qr(rng.standard_normal((n, k)))[0]
s_target = np.array([4.0, 2.0, 1.0, 0.5])
Phi = (U * s_target) @ V.T
loss = RegressionLoss(np.eye(n), Phi)  # L(W) = 1/2 ||W - Phi||^2, minimum 0 on M_4
depths = (1, 2, 4) if fast else (1, 2, 4, 8)

# %%
# Speed: the singular values speed up with depth, the subspaces do not
# ---------------------------------------------------------------------
# Two starts with singular values of order one: one *aligned* with ``Phi`` (same
# singular vectors, all singular values 1), for which only the singular values move,
# and a generic one, whose singular subspaces also have to rotate. We plot the loss
# against the rescaled time ``N t``.
W_aligned = U @ V.T
W_generic = rng.standard_normal((m, k)) @ rng.standard_normal((k, n)) / np.sqrt(k * n)
T = 4.0
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, constrained_layout=True)
print(f"{'start':>8} {'N':>3} {'L at N t = 1':>13} {'L at N t = 4':>13}")
for ax, (name, W0) in zip(axes, (("aligned", W_aligned), ("generic", W_generic))):
    for N in depths:
        t = np.linspace(0.0, T / N, 81)
        res = riemannian_gradient_flow(W0, loss, N, t, rtol=1e-8, atol=1e-12)
        assert res.success, res.message
        ax.semilogy(N * res.t, res.loss, label=f"N = {N}")
        print(f"{name:>8} {N:>3} {res.loss[20]:13.4e} {res.loss[-1]:13.4e}")
    ax.set_title(f"{name} start")
    ax.set_xlabel("rescaled time N t")
axes[0].set_ylabel("L(W(t))")
axes[0].legend()
plt.show()

# %%
# From the aligned start the curves against ``N t`` approach one limit as ``N`` grows:
# the singular values obey ``d sigma_a/dt = -N sigma_a^{2(N-1)/N} (sigma_a - beta_a)``,
# and ``sigma^{2(N-1)/N} -> sigma^2``. From the generic start they do not: the rotation
# of the singular subspaces runs at the rate ``kappa_a ~ sigma_a^2`` whatever ``N``, so
# on the rescaled clock the deeper flows need longer to turn ``U`` and ``V`` towards
# those of ``Phi``. Depth speeds up the singular values, not the subspaces.
#
# Implicit bias towards low rank
# ------------------------------
# Now start small, ``W(0) = 0.01 x`` a random rank-4 matrix, and follow the singular
# values. For ``N = 1`` (the embedded metric) all of them grow at once, at the rate
# ``1`` each. For ``N >= 2`` the growth rate of ``sigma_a`` is (once the singular
# vectors are aligned with those of ``Phi``)
# ``N sigma_a^{2(N-1)/N} (beta_a - sigma_a)``: tiny while ``sigma_a`` is tiny, so each
# singular value idles on a plateau whose length grows as ``beta_a`` shrinks, then rises
# quickly. In between, ``W(t)`` is close to a matrix of *lower* rank: gradient flow on a
# deep network fits the target one singular value at a time.
W_small = 0.01 * rng.standard_normal((m, k)) @ rng.standard_normal((k, n)) / np.sqrt(k)
t = np.geomspace(1e-2, 60.0 if fast else 200.0, 161 if fast else 321)
t = np.concatenate(([0.0], t))
fig, axes = plt.subplots(1, len(depths), figsize=(3.4 * len(depths), 3.6), sharey=True)
fig.set_layout_engine("constrained")
print(f"{'N':>3}  t_half: sigma_a reaches beta_a / 2 (a = 1..4)   10%-90% rise time / t_half")
for ax, N in zip(axes, depths):
    res = riemannian_gradient_flow(W_small, loss, N, t, rtol=1e-8, atol=1e-12)
    assert res.success, res.message
    sv = res.singular_values
    for a in range(k):
        ax.semilogx(res.t[1:], sv[1:, a], color=f"C{a}")
        ax.axhline(s_target[a], color=f"C{a}", ls=":", lw=1)
    frac = sv / s_target
    half = [res.t[np.argmax(frac[:, a] >= 0.5)] if frac[-1, a] >= 0.5 else np.nan for a in range(k)]
    rise = [
        res.t[np.argmax(frac[:, a] >= 0.9)] - res.t[np.argmax(frac[:, a] >= 0.1)]
        if frac[-1, a] >= 0.9
        else np.nan
        for a in range(k)
    ]
    print(
        f"{N:>3}  "
        + " ".join(f"{x:7.3g}" for x in half)
        + "   "
        + " ".join(f"{r / h:5.2f}" for r, h in zip(rise, half))
    )
    ax.set_title(f"N = {N}")
    ax.set_xlabel("t")
axes[0].set_ylabel("singular values of W(t) (dotted: targets)")
plt.show()

# %%
# The table gives the time at which each singular value reaches half its target. For
# ``N = 1`` the four times coincide; for ``N >= 2`` they spread out, the smallest target
# being learned last, and the transitions sharpen: the rise of ``sigma_a`` from 10% to
# 90% of its target, as a fraction of ``t_half`` (last columns), is about 3 for
# ``N = 1`` and well below 1 for ``N >= 2``, smaller at ``N = 4`` than at ``N = 2``.
# At ``N = 8`` the smallest target is not reached by ``t = 200``: for a long time
# ``W(t)`` is effectively of rank 3 (the test suite runs this script in a fast mode that
# stops at ``N = 4`` and ``t = 60``). Small initialization plus depth is the classical
# mechanism behind the "incremental learning" of deep linear networks (Saxe, McClelland,
# Ganguli, arXiv:1312.6120; Arora, Cohen, Hu, Luo, arXiv:1905.13655).
