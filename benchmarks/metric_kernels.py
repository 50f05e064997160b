"""Metric kernels of FixedRankDeepLinear against pymanopt's FixedRankEmbedded.

Compared, on the same point and tangent vectors:

* ``inner_product`` (depth 5) vs ``FixedRankEmbedded.inner_product``;
* ``riemannian_gradient_from_matrix`` with a low-rank ``G`` (depth 5) vs
  ``FixedRankEmbedded.projection`` of the same ``G`` (its Riemannian gradient);
* ``metric_operator`` (depth 5) vs scaling a tangent vector by a number. The embedded
  metric's operator is the identity, which pymanopt does not even call, so there is no
  embedded counterpart; scaling is the cheapest operation that builds a new tangent
  vector with the same memory traffic, a strict yardstick (reported, no goal). The row
  with ``check_finite=False`` shows the cost of the nan/inf test;
* ``riemannian_gradient_from_matrix`` with a dense ``G`` vs ``FixedRankEmbedded.projection``;
* ``metric_operator`` vs the dense fractional-power reference at ``m = n = 400``;
* depth 1000 vs depth 2 for the three kernels.
"""

from __future__ import annotations

import numpy as np
from pymanopt.manifolds import FixedRankEmbedded

from benchmarks._timing import compare
from riemlin import FixedRankDeepLinear
from riemlin.reference import metric_operator_dense


def _problem(m, n, k, depth, seed=0):
    manifold = FixedRankDeepLinear(m, n, k, depth, rng=seed)
    x = manifold.random_point()
    xi = manifold.random_tangent_vector(x)
    eta = manifold.random_tangent_vector(x)
    rng = np.random.default_rng(seed)
    G = (rng.standard_normal((m, 5)), np.diag(rng.standard_normal(5)), rng.standard_normal((n, 5)))
    return manifold, x, xi, eta, G


def run(quick: bool = False) -> list[dict]:
    m, n, k = (200, 150, 5) if quick else (2000, 1500, 10)
    rows = []
    deep, x, xi, eta, G = _problem(m, n, k, 5)
    emb = FixedRankEmbedded(m, n, k)
    unchecked = FixedRankDeepLinear(m, n, k, 5, check_finite=False)
    Gd = np.random.default_rng(1).standard_normal((m, n))
    t = compare(
        {
            "deep.inner_product": lambda: deep.inner_product(x, xi, eta),
            "emb.inner_product": lambda: emb.inner_product(x, xi, eta),
            "deep.grad_from_matrix": lambda: deep.riemannian_gradient_from_matrix(x, G),
            "emb.projection": lambda: emb.projection(x, G),
            "deep.metric_operator": lambda: deep.metric_operator(x, xi),
            "emb.scale": lambda: 2.0 * xi,
            "deep.metric_operator_unchecked": lambda: unchecked.metric_operator(x, xi),
            "deep.grad_dense": lambda: deep.riemannian_gradient_from_matrix(x, Gd),
            "emb.projection_dense": lambda: emb.projection(x, Gd),
        }
    )
    size = f"{m}x{n} k={k} N=5"
    rows.append(
        _row(
            "inner_product / FixedRankEmbedded.inner_product",
            size,
            t,
            "deep.inner_product",
            "emb.inner_product",
            1.5,
        )
    )
    rows.append(
        _row(
            "grad_from_matrix(lowrank G) / FixedRankEmbedded.projection",
            size,
            t,
            "deep.grad_from_matrix",
            "emb.projection",
            1.5,
        )
    )
    pairs = [
        (
            "grad_from_matrix(dense G) / FixedRankEmbedded.projection",
            "deep.grad_dense",
            "emb.projection_dense",
            1.5,
        ),
        ("metric_operator / tangent-vector scaling", "deep.metric_operator", "emb.scale", None),
        (
            "metric_operator(check_finite=False) / scaling",
            "deep.metric_operator_unchecked",
            "emb.scale",
            None,
        ),
    ]
    rows.extend(_row(name, size, t, a, b, bound) for name, a, b, bound in pairs)

    # against the dense reference
    md = 100 if quick else 400
    deep_d, xd, xid, _, _ = _problem(md, md, 10, 5)
    Wd = deep_d.point_to_matrix(xd)
    Zd = deep_d.tangent_to_matrix(xd, xid)
    t = compare(
        {
            "svd": lambda: deep_d.metric_operator(xd, xid),
            "dense": lambda: metric_operator_dense(Wd, Zd, 5),
        },
        repeat=5,
    )
    rows.append(
        _row(
            "dense reference / metric_operator",
            f"{md}x{md} k=10 N=5",
            t,
            "dense",
            "svd",
            None,
            higher_is_better=True,
            target=100,
        )
    )

    # depth independence
    d2, x2, xi2, eta2, G2 = _problem(m, n, k, 2)
    d1000 = FixedRankDeepLinear(m, n, k, 1000)
    fresh = [d2.random_point(rng=i) for i in range(8)]
    t = compare(
        {
            "N2.inner": lambda: d2.inner_product(x2, xi2, eta2),
            "N1000.inner": lambda: d1000.inner_product(x2, xi2, eta2),
            "N2.metric": lambda: d2.metric_operator(x2, xi2),
            "N1000.metric": lambda: d1000.metric_operator(x2, xi2),
            "N2.grad": lambda: d2.riemannian_gradient_from_matrix(x2, G2),
            "N1000.grad": lambda: d1000.riemannian_gradient_from_matrix(x2, G2),
            # new point every call: the weights are recomputed (no cache hit)
            "N2.weights": lambda: [d2.metric_operator(p, xi2) for p in fresh],
            "N1000.weights": lambda: [d1000.metric_operator(p, xi2) for p in fresh],
        }
    )
    size = f"{m}x{n} k={k}"
    for op in ("inner", "metric", "grad", "weights"):
        rows.append(_row(f"depth 1000 / depth 2 ({op})", size, t, f"N1000.{op}", f"N2.{op}", 1.2))
    return rows


def _row(name, size, times, num, den, bound, higher_is_better=False, target=None):
    ratio = times[num] / times[den]
    if higher_is_better:
        ok = ratio >= target
        goal = f">= {target}"
    elif bound is None:
        ok = True
        goal = "reported"
    else:
        ok = ratio <= bound
        goal = f"<= {bound}"
    return {
        "benchmark": "metric_kernels",
        "name": name,
        "size": size,
        "ratio": ratio,
        "goal": goal,
        "meets_goal": bool(ok),
        "seconds": {num: times[num], den: times[den]},
    }
