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
* The Riemannian flow of the equivalence benchmark (depth 20, ``m = n = 30``, ``k = 5``,
  ``[0, 2]``, default tolerances): ``integrator="DOP853"`` (the default before) over the
  default ``"auto"``, both with single-threaded BLAS, three interleaved rounds, CPU time;
  the row also reports the default with the default (threaded) BLAS.
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

from benchmarks._timing import blas_threads
from riemlin import (
    FixedRankDeepLinear,
    RegressionLoss,
    low_rank_target_loss,
    riemannian_gradient_flow,
)
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
    rows.append(_default_row(*((8, 2, 6) if quick else (30, 5, 20))))
    rows.append(_verify_row(12 if quick else 100))
    return rows


def _default_row(m, k, depth, rounds=3):
    rng = np.random.default_rng(0)
    loss = RegressionLoss(rng.standard_normal((m, 3 * m)), rng.standard_normal((m, 3 * m)))
    W0 = rng.standard_normal((m, k)) @ rng.standard_normal((k, m)) / m
    runs = {
        "DOP853": ("DOP853", 1),
        "auto": ("auto", 1),
        "auto, default BLAS threads": ("auto", None),
    }
    cpu = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (integrator, threads) in runs.items():
            with blas_threads(threads):
                begin = time.process_time()
                res = riemannian_gradient_flow(W0, loss, depth, [0.0, 2.0], integrator=integrator)
                cpu[name].append(time.process_time() - begin)
            assert res.status == 0, res.message
    ratios = np.array(cpu["DOP853"]) / np.array(cpu["auto"])
    ratio = float(np.median(ratios))
    return {
        "benchmark": "flows",
        "name": f"Riemannian flow DOP853 / default (auto), depth {depth} (CPU)",
        "size": f"{m}x{m} k={k} N={depth}",
        "ratio": ratio,
        "goal": "> 1",
        "meets_goal": bool(ratio > 1),
        "ratios": ratios.tolist(),
        "seconds_cpu": {name: float(np.median(v)) for name, v in cpu.items()},
    }


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
