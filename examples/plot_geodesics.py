"""
Geodesic, straight line and retraction between two matrices
===========================================================

Between two rank-``k`` matrices ``A`` and ``B`` there are three natural paths:

* the **straight line** ``(1 - t) A + t B``, which leaves ``M_k`` (its rank is up to ``2k``
  in between);
* the **retraction curve** ``[(1 - t) A + t B]_k``, the straight line projected back onto
  ``M_k`` by a truncated SVD (the metric-projection retraction applied along the way);
* the **geodesic** of the deep-linear metric ``g``, ``t -> exp_A(t log_A(B))``, which
  depends on the depth ``N``.

At depth 1 (the embedded metric) the geodesic stays close to the retraction curve. With
depth it bends further away from the straight line: ``g`` makes the rotation of a
singular pair cheap when its singular value is small, so the geodesic shrinks the second
singular value early and turns it while it is small.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from riemlin import FixedRankDeepLinear

fast = os.environ.get("RIEMLIN_FAST") == "1"
rng = np.random.default_rng(3)
m, n, k = 6, 5, 2
samples = 9 if fast else 41
t = np.linspace(0.0, 1.0, samples)

# Two rank-2 matrices: B shares A's leading singular pair, rotates its second one and
# shrinks it.
U, _ = np.linalg.qr(rng.standard_normal((m, 3)))
V, _ = np.linalg.qr(rng.standard_normal((n, 3)))
A = (U[:, :2] * [2.0, 0.8]) @ V[:, :2].T
c, s = np.cos(0.9), np.sin(0.9)
u2 = c * U[:, 1] + s * U[:, 2]
v2 = c * V[:, 1] + s * V[:, 2]
B = 2.0 * np.outer(U[:, 0], V[:, 0]) + 0.3 * np.outer(u2, v2)
span = B - A


def shape(W):
    """Coordinates of W - A along B - A and orthogonal to it (in units of |B - A|)."""
    D = W - A
    along = np.sum(D * span) / np.sum(span**2)
    across = np.linalg.norm(D - along * span) / np.linalg.norm(span)
    return along, across


def truncated(W):
    u, sv, vt = np.linalg.svd(W, full_matrices=False)
    return (u[:, :k] * sv[:k]) @ vt[:k]


def g_length(manifold, path, nodes=12 if fast else 24, h=1e-5):
    """g-length of a path on [0, 1] (a function returning matrices): Gauss-Legendre
    quadrature, velocities by central differences projected on the tangent spaces."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    total = 0.0
    for xi, wi in zip(0.5 * (x + 1), 0.5 * w):
        p = manifold.point_from_matrix(path(xi))
        velocity = manifold.projection(p, (path(xi + h) - path(xi - h)) / (2 * h))
        total += wi * manifold.norm(p, velocity)
    return total


# %%
# The three paths at depths 1, 2 and 5
# ------------------------------------
# Top row: each path in the plane of ``B - A`` and the direction orthogonal to it (the
# straight line is the horizontal axis). Bottom row: the second singular value along
# each path and the third singular value of the straight line, which shows it leaving
# ``M_2``. Lengths are measured in ``g``; the geodesic is the shortest.
depths = (1, 2, 5)
fig, axes = plt.subplots(2, 3, figsize=(12, 7), constrained_layout=True, sharex="row")
for col, depth in enumerate(depths):
    manifold = FixedRankDeepLinear(m, n, k, depth=depth)
    a, b = manifold.point_from_matrix(A), manifold.point_from_matrix(B)
    result = manifold.log(a, b, full_output=True)
    geodesic = [manifold.point_to_matrix(p) for p in manifold.geodesic(a, result.tangent_vector, t)]
    retraction = [truncated((1 - ti) * A + ti * B) for ti in t]
    line = [(1 - ti) * A + ti * B for ti in t]

    length = g_length(manifold, lambda ti: truncated((1 - ti) * A + ti * B))
    dist = manifold.norm(a, result.tangent_vector)
    print(
        f"depth {depth}: dist(A, B) = {dist:.4f} (log residual {result.residual:.1e}, "
        f"{result.exps} geodesic integrations); g-length of the retraction curve {length:.4f}"
    )

    ax = axes[0, col]
    for curve, style, label in (
        (line, "k--", "straight line"),
        (retraction, "C1-", "retraction curve"),
        (geodesic, "C0-", "geodesic of g"),
    ):
        xy = np.array([shape(W) for W in curve])
        ax.plot(xy[:, 0], xy[:, 1], style, label=label)
    ax.set_title(f"depth {depth}: dist = {dist:.3f}")
    ax.set_xlabel("along B - A")
    ax = axes[1, col]
    ax.plot(t, [np.linalg.svd(W, compute_uv=False)[1] for W in geodesic], "C0-", label="geodesic")
    ax.plot(
        t, [np.linalg.svd(W, compute_uv=False)[1] for W in retraction], "C1-", label="retraction"
    )
    ax.plot(t, [np.linalg.svd(W, compute_uv=False)[2] for W in line], "k--", label="line: s_3")
    ax.set_xlabel("t")
axes[0, 0].set_ylabel("orthogonal to B - A")
axes[1, 0].set_ylabel("s_2 (s_3 for the line)")
axes[0, 0].legend()
axes[1, 0].legend()
fig.suptitle("Paths from A to B in M_2: straight line, retraction curve, geodesic of g")
plt.show()

# %%
# Under ``g`` a singular value ``s`` costs ``ds^2 / (N s^(2 - 2/N))`` to move and the
# rotation of its singular vectors costs ``s^(2/N)`` per unit angle squared (see the
# geometry chapter of the guide): the deeper the network, the more it pays to rotate a
# singular pair while it is small. So the geodesic lowers ``s_2`` sooner than the
# retraction curve does, and it is shorter in ``g`` than the retraction curve at every
# depth (the printed lengths). The straight line is not a curve in ``M_2`` at all: its
# third singular value is positive for ``0 < t < 1``.
