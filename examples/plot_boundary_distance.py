"""
How far is the rank-deficient boundary? Distance versus depth
=============================================================

The deep-linear metric ``g`` on ``M_k`` is incomplete: geodesics can reach matrices of
rank below ``k`` in finite time. The distance from ``W`` to them is

    d(W, rank < k) = sqrt(N) s_k^(1/N)

(``s_k`` the smallest singular value; see the geometry chapter of the guide for the
proof): ``s_k`` at depth 1, the Eckart-Young distance, and about ``sqrt(N)`` for deep
networks, whatever ``s_k``. Here we measure it three ways: the closed form, the length of
the geodesic that ``exp`` refuses to continue past the boundary, and distances to
nearer and nearer rank-deficient approximations computed by ``dist``.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from riemlin import FixedRankDeepLinear
from riemlin.geometry.geodesics import BoundaryError, boundary_distance

fast = os.environ.get("RIEMLIN_FAST") == "1"
m, n, k = 5, 4, 2
depths = np.array([1, 2, 3, 5, 10, 30] if fast else [1, 2, 3, 4, 5, 7, 10, 20, 30, 50, 100])
s = np.array([1.5, 0.2])  # s_k = 0.2
U = np.linalg.qr(np.random.default_rng(0).standard_normal((m, k)))[0]
V = np.linalg.qr(np.random.default_rng(1).standard_normal((n, k)))[0]
x = (U, s, V.T)

# %%
# The geodesic into the boundary
# ------------------------------
# The unit-speed geodesic that only moves ``s_k`` is
# ``s_k(t) = (s_k^(1/N) - t / sqrt(N))^N``. ``exp`` integrates the geodesic equation and
# refuses to go past the boundary: its error says at which ``t`` the rank drops (here
# extrapolated from where ``s_k / s_1`` falls below ``1e-8``). That ``t`` times the speed
# is the distance.
measured = []
for depth in depths:
    manifold = FixedRankDeepLinear(m, n, k, depth=depth)
    down = manifold.zero_vector(x)
    down[1][1, 1] = -1.0
    down = down / manifold.norm(x, down)  # unit speed
    try:
        manifold.exp(x, 2 * boundary_distance(x, depth) * down)
    except BoundaryError as err:  # a ValueError with the times where it happens
        measured.append(2 * boundary_distance(x, depth) * err.t_boundary)
        if depth == 3:
            print(f"depth 3: {err}")
print("depth:             ", " ".join(f"{d:7d}" for d in depths))
print("sqrt(N) s_k^(1/N): ", " ".join(f"{boundary_distance(x, d):7.4f}" for d in depths))
print("from exp's error:  ", " ".join(f"{v:7.4f}" for v in measured))

# %%
# Distances to rank-deficient approximations
# ------------------------------------------
# ``dist`` to ``u diag(s_1, eps s_k) v^T`` for decreasing ``eps`` (computed by shooting)
# is ``sqrt(N)(s_k^(1/N) - (eps s_k)^(1/N))`` on aligned matrices, below the boundary
# distance. For deep networks it even *decreases* with depth, like
# ``log(1/eps) / sqrt(N)``, while the boundary recedes like ``sqrt(N)``: almost all of the
# way to rank ``k - 1`` is the last stretch from ``eps s_k`` to zero, which costs
# ``sqrt(N) (eps s_k)^(1/N)``, close to ``sqrt(N)`` however small ``eps`` is.
eps_values = [1e-1, 1e-3] if fast else [1e-1, 1e-2, 1e-3, 1e-6]
fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
closed = np.array([boundary_distance(x, d) for d in depths])
ax.plot(depths, closed, "k-", lw=2, label="sqrt(N) s_k^(1/N)")
ax.plot(depths, measured, "C3o", mfc="none", label="geodesic refused by exp")
for i, eps in enumerate(eps_values):
    near = (U, np.array([s[0], eps * s[1]]), V.T)
    dists = [FixedRankDeepLinear(m, n, k, depth=d).dist(x, near) for d in depths]
    ax.plot(depths, dists, f"C{i}.--", label=f"dist to s_k -> {eps:g} s_k")
ax.plot(depths, np.sqrt(depths), ":", color="gray", label="sqrt(N)")
ax.set_xscale("log")
ax.set_xlabel("depth N")
ax.set_ylabel("distance in g")
ax.set_title(f"distance to rank < {k} from s = ({s[0]:g}, {s[1]:g})")
ax.legend(fontsize=8)
plt.show()

# %%
# Compared with the Euclidean picture
# -----------------------------------
# Relative to the Frobenius distance ``s_k`` (depth 1), the boundary is
# ``sqrt(N) s_k^(1/N - 1)`` times farther away: much farther for small ``s_k``. In the
# layers' picture each of the ``N`` balanced layers must lose rank, and each has ``k``-th
# singular value ``s_k^(1/N)``, close to one.
fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
for sk in (0.5, 0.1, 0.01):
    point = (U, np.array([s[0], sk]), V.T)
    ax.plot(depths, [boundary_distance(point, d) / sk for d in depths], ".-", label=f"s_k = {sk:g}")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("depth N")
ax.set_ylabel("distance / s_k")
ax.set_title("how much farther than in the Frobenius norm")
ax.legend()
plt.show()
