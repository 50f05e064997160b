"""Layer maps of riemlin.networks: O(N) cost of ``product_adjoint``.

``product_adjoint`` at widths ``d`` (all layers ``d x d``) and depths 25, 50 and 100,
timed interleaved in one run. With prefix and suffix products the cost is about
``3 N`` matrix products, so doubling the depth should double the time (ratio near 2;
an O(N^2) implementation would give 4).
"""

from __future__ import annotations

import numpy as np

from benchmarks._timing import compare
from riemlin.networks import product_adjoint


def _factors(d, depth, seed=0):
    rng = np.random.default_rng(seed)
    return [np.eye(d) + rng.standard_normal((d, d)) / (4 * np.sqrt(d)) for _ in range(depth)]


def run(quick: bool = False) -> list[dict]:
    d = 60 if quick else 200
    depths = (25, 50, 100)
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((d, d))
    problems = {N: _factors(d, N) for N in depths}
    t = compare(
        {f"N{N}": (lambda F=F: product_adjoint(F, Z)) for N, F in problems.items()},
        repeat=5 if quick else 9,
    )
    rows = []
    for lo, hi in ((25, 50), (50, 100)):
        ratio = t[f"N{hi}"] / t[f"N{lo}"]
        rows.append(
            {
                "benchmark": "factors",
                "name": f"product_adjoint depth {hi} / depth {lo}",
                "size": f"widths {d}",
                "ratio": ratio,
                "goal": "<= 2.5",
                "meets_goal": bool(ratio <= 2.5),
                "seconds": {f"N{lo}": t[f"N{lo}"], f"N{hi}": t[f"N{hi}"]},
            }
        )
    return rows
