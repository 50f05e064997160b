"""
Sectional curvature of random planes against depth
==================================================

``sectional_curvature(x, xi, eta)`` gives the curvature of ``(M_k, g)`` on the plane
spanned by two tangent vectors, in closed form: the Gauss formula of the embedded
``M_k`` at depth 1, O'Neill's formula for the balanced layers at depth ``N >= 2`` (see
the geometry chapter of the guide). Here we sample random planes at one point and watch
the distribution of their curvatures change with depth.

At depth 1 the embedded ``M_k`` is curved mostly negatively; with depth the
distribution moves up until almost every plane is positively curved, and it settles for
large ``N``, as the rank-one formula ``(N - 1) / (N s^(2/N))`` for a plane that turns one
singular vector does (it tends to 1).
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from riemlin import FixedRankDeepLinear

fast = os.environ.get("RIEMLIN_FAST") == "1"
m, n, k = 6, 5, 2
planes = 30 if fast else 300
depths = [1, 2, 3, 5, 10] if fast else [1, 2, 3, 5, 10, 30, 100]
rng = np.random.default_rng(0)
point = FixedRankDeepLinear(m, n, k, depth=1, rng=1).random_point(spread=4.0)
u, s, vt = point
print(f"point with singular values {np.round(s, 3)}")

# %%
# Random planes: Gaussian coordinates ``(Up, M, Vp)`` projected on the tangent space,
# the same pairs at every depth.
pairs = []
for _ in range(planes):
    pair = []
    for _ in range(2):
        Up = rng.standard_normal((m, k))
        Vp = rng.standard_normal((n, k))
        pair.append((Up - u @ (u.T @ Up), rng.standard_normal((k, k)), Vp - vt.T @ (vt @ Vp)))
    pairs.append(pair)

curvatures = {}
for depth in depths:
    manifold = FixedRankDeepLinear(m, n, k, depth=depth)
    curvatures[depth] = np.array([manifold.sectional_curvature(point, a, b) for a, b in pairs])
    K = curvatures[depth]
    print(
        f"depth {depth:3d}: median K = {np.median(K):+.3f}, range [{K.min():+.3f}, "
        f"{K.max():+.3f}], positive on {np.mean(K > 0):.0%} of the planes"
    )

# %%
# Of the two terms O'Neill's formula adds to the curvature of the balanced layers, the
# term ``3 |A|^2`` of the submersion is never negative; the balanced layers' own
# curvature can have either sign. The measured distributions move up with depth.
fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
positions = np.arange(len(depths))
axes[0].violinplot([curvatures[d] for d in depths], positions, showmedians=True)
axes[0].axhline(0, color="gray", lw=0.8)
axes[0].set_ylabel("sectional curvature K")
axes[0].set_title(f"{planes} random planes at one point of M_{k} ({m}x{n})")
axes[1].plot(depths, [np.mean(curvatures[d] > 0) for d in depths], "o-")
axes[1].set_xscale("log")
axes[1].set_ylim(0, 1.05)
axes[1].set_ylabel("fraction of planes with K > 0")
axes[1].set_title("from negative to positive curvature")
axes[0].set_xticks(positions, [str(d) for d in depths])
for ax in axes:
    ax.set_xlabel("depth N")
plt.show()
