"""Geodesics of (M_k, g): exp, log, transport and curvature against a retraction and across depths.

Rows (each a ratio of times measured side by side in one run with
:func:`benchmarks._timing.compare`, except the counts):

* ``exp`` along a geodesic of unit ``g``-length / one retraction (SVD, same tangent
  vector), depth 3: the price of the exact exponential. ``exp`` costs
  :math:`O((m+n)k^2)` (two QR factorizations, the reduction to ``2k x 2k``) plus a small
  integration whose cost does not grow with ``m`` and ``n``, so the ratio falls towards
  a small constant as the matrices grow;
* ``exp`` at depth 1000 / depth 2 (same point, unit-length tangent vectors): the
  integration's right-hand side costs :math:`O(k^3 \\log N)` (the tables of the
  connection), so the goal is a ratio near one;
* ``log`` in geodesic integrations per call (a count) for points at distance 0.5, and its
  time / one ``exp``;
* ``parallel_transport`` / ``exp`` (the transported vector rides along);
* ``sectional_curvature`` at depth 1000 / depth 2 (O'Neill's formula costs
  :math:`O(Nk^3)`: reported);
* ``exp`` at 20000 x 20000, ``k = 10`` (full mode; ``2000 x 2000`` in quick mode) /
  one retraction.
"""

from __future__ import annotations

from benchmarks._timing import compare
from riemlin import FixedRankDeepLinear


def _setup(m, n, k, depth, seed=0):
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=seed)
    # singular values in [0.5, 2]: unit-length geodesics stay clear of the boundary, which
    # lies at distance sqrt(N) s_k^(1/N) >= 1.37 for N >= 3
    x = manifold.random_point(spread=4.0)
    return manifold, x, manifold.random_tangent_vector(x)


def _row(name, size, ratio, goal=None, seconds=None, **extra):
    return {
        "benchmark": "geodesics",
        "name": name,
        "size": size,
        "ratio": float(ratio),
        "goal": "reported" if goal is None else f"<= {goal}",
        "meets_goal": True if goal is None else bool(ratio <= goal),
        "seconds": seconds or {},
        **extra,
    }


def run(quick: bool = False) -> list[dict]:
    repeat, min_time = (3, 0.01) if quick else (7, 0.05)
    m, n, k = (200, 150, 5) if quick else (2000, 1500, 10)
    size = f"{m}x{n} k={k}"
    rows = []

    manifold, x, xi = _setup(m, n, k, 3)
    eta = manifold.random_tangent_vector(x)
    near = manifold.exp(x, 0.5 * xi)
    deep = FixedRankDeepLinear(m, n, k, depth=1000)
    shallow = FixedRankDeepLinear(m, n, k, depth=2)
    xi_deep = xi / deep.norm(x, xi)
    xi_shallow = xi / shallow.norm(x, xi)
    eta_deep = eta / deep.norm(x, eta)
    t = compare(
        {
            "exp": lambda: manifold.exp(x, xi),
            "retraction": lambda: manifold.retraction(x, xi),
            "exp N=1000": lambda: deep.exp(x, xi_deep),
            "exp N=2": lambda: shallow.exp(x, xi_shallow),
            "log": lambda: manifold.log(x, near),
            "exp (half)": lambda: manifold.exp(x, 0.5 * xi),
            "transport": lambda: manifold.parallel_transport(x, xi, eta),
            "curvature N=1000": lambda: deep.sectional_curvature(x, xi_deep, eta_deep),
            "curvature N=2": lambda: shallow.sectional_curvature(x, xi_shallow, eta),
        },
        repeat=repeat,
        min_time=min_time,
    )

    ratios = [
        ("exp (unit length) / retraction, N=3", "exp", "retraction", None),
        ("exp depth 1000 / depth 2 (unit length)", "exp N=1000", "exp N=2", 3.0),
        ("log / exp (distance 0.5), N=3", "log", "exp (half)", None),
        ("parallel_transport / exp, N=3", "transport", "exp", None),
        ("sectional_curvature depth 1000 / depth 2", "curvature N=1000", "curvature N=2", None),
    ]
    for name, num, den, goal in ratios:
        seconds = {num: t[num], den: t[den]}
        rows.append(_row(name, size, t[num] / t[den], goal=goal, seconds=seconds))
    result = manifold.log(x, near, full_output=True)
    rows.append(
        _row(
            "log: geodesic integrations per call (distance 0.5), N=3",
            size,
            result.exps,
            residual=result.residual,
            iterations=result.iterations,
        )
    )

    # scale: exp on large matrices
    big = 2000 if quick else 20000
    manifold, x, xi = _setup(big, big, 10, 3, seed=1)
    t = compare(
        {"exp": lambda: manifold.exp(x, xi), "retraction": lambda: manifold.retraction(x, xi)},
        repeat=3 if quick else 5,
        min_time=min_time,
    )
    rows.append(
        _row(
            "exp (unit length) / retraction at scale, N=3",
            f"{big}x{big} k=10",
            t["exp"] / t["retraction"],
            seconds=dict(t),
        )
    )
    return rows
