"""The on-manifold flow integrator at large sizes.

* Peak memory of ``riemannian_gradient_flow(formulation="manifold")`` at ``m = n = 20000``,
  ``k = 10``, depth 3, on ``L(W) = 1/2 ||W - T||_F^2`` with a rank-10 target ``T`` given
  as a triple (:func:`riemlin.low_rank_target_loss`, whose gradient ``W - T`` is returned
  in low-rank form). The ratio is the traced peak (tracemalloc) over the size of one
  ``m x n`` float64 array: below 1 means no such array was allocated during the run
  (any numpy allocation is traced). The peak is dominated by DOP853's 13 stage vectors
  and its dense-output stages, each of size ``(m + n) k + k^2``.
* Time of the dense integrator over the on-manifold one on the same problem at a size
  where the dense one still runs (``m = n = 400``), same tolerances.
* ``riemlin verify --depth 100`` (run in this process, so without the start-up of the
  interpreter and of the imports): wall-clock seconds of the whole command, with the
  seconds of its two flows (the layer flow, DOP853 on 100 layers, and the Riemannian
  flow with default arguments) from its JSON output.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import time
import tracemalloc

import numpy as np

from riemlin import FixedRankDeepLinear, low_rank_target_loss, riemannian_gradient_flow
from riemlin.cli import main as riemlin_main


def _problem(m, n, k, depth, seed=0):
    manifold = FixedRankDeepLinear(m, n, k, depth, rng=seed)
    T = manifold.random_point()
    loss = low_rank_target_loss((T[0], T[1], T[2].T))
    return loss, manifold.random_point()


def run(quick: bool = False) -> list[dict]:
    m, k, depth, t_end = (2000, 5, 3, 2.0) if quick else (20000, 10, 3, 5.0)
    loss, start = _problem(m, m, k, depth)
    tracemalloc.start()
    begin = time.perf_counter()
    res = riemannian_gradient_flow(
        start, loss, depth, [0.0, t_end], "manifold", rtol=1e-8, atol=1e-10, output="point"
    )
    seconds = time.perf_counter() - begin
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    dense_bytes = m * m * 8
    rows = [
        {
            "benchmark": "flows",
            "name": "manifold flow peak memory / one m x n array",
            "size": f"{m}x{m} k={k} N={depth}",
            "ratio": peak / dense_bytes,
            "goal": "< 1",
            "meets_goal": bool(peak < dense_bytes and res.status == 0),
            "seconds": {"manifold": seconds},
            "peak_bytes": peak,
            "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "nfev": res.nfev,
            "loss": [float(res.loss[0]), float(res.loss[-1])],
            "status": res.status,
        }
    ]

    md = 150 if quick else 400
    loss, start = _problem(md, md, 5, depth, seed=1)
    t = np.linspace(0.0, 1.0, 3)
    times = {}
    for method in ("dense", "manifold"):
        begin = time.perf_counter()
        out = riemannian_gradient_flow(start, loss, depth, t, method, rtol=1e-9, atol=1e-12)
        times[method] = time.perf_counter() - begin
        assert out.status == 0, out.message
    ratio = times["dense"] / times["manifold"]
    rows.append(
        {
            "benchmark": "flows",
            "name": "dense integrator / manifold integrator (time)",
            "size": f"{md}x{md} k=5 N={depth}",
            "ratio": ratio,
            "goal": ">= 2",
            "meets_goal": bool(ratio >= 2),
            "seconds": times,
        }
    )
    rows.append(_verify_row(12 if quick else 100))
    return rows


def _verify_row(depth):
    out = io.StringIO()
    begin = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = riemlin_main(["verify", "--depth", str(depth), "--plot", "", "--json"])
    seconds = time.perf_counter() - begin
    report = json.loads(out.getvalue())
    return {
        "benchmark": "flows",
        "name": f"riemlin verify --depth {depth}: wall seconds (in process)",
        "size": "m=5 n=4 k=2 widths 5",
        "ratio": seconds,
        "goal": "<= 10",
        "meets_goal": bool(seconds <= 10 and code == 0),
        "seconds_factor": report["seconds_factor"],
        "seconds_riemannian": report["seconds_riemannian"],
        "max_relative_mismatch": report["max_relative_mismatch"],
    }
