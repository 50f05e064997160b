"""Layer flow vs Riemannian flow for deep, narrow networks, each at its best.

Depths 20 and 100, hidden widths 50, ``m = n = 30``, a rank-5 balanced start: the
gradient flow of the layers (``N * 50 * 50`` unknowns) against the Riemannian flow on
``M_5`` with **default arguments** (``riemannian_gradient_flow(W0, loss, N, t)``: the
factored coordinates, ``(m + n + k) k = 325`` unknowns, ``integrator="auto"``, which is
LSODA with a saved Jacobian at this size, ``rtol = 1e-9``, ``atol = 1e-12``) on
``[0, 2]``. Both flows are stiff: the core block of the Riemannian flow has Jacobian
eigenvalues down to about ``-2400`` at depth 20, and the stiffness grows with the depth.

Same accuracy: every end point is compared with a reference (the Riemannian flow with
DOP853 at ``rtol = 1e-13``, ``atol = 1e-16``; the layer flow follows the same curve by
the equivalence theorem). The layer flow is run at *its* best: each explicit scipy
integrator (DOP853, RK45, RK23; an implicit one would need the Jacobian of all
``N * 2500`` unknowns) over a ladder of tolerances ``rtol = 1e-7, 3e-8, 1e-8, ..., 1e-11``
(``atol = 1e-3 rtol``), keeping for each integrator the loosest tolerance whose
end-point error is at most twice the Riemannian flow's (an integrator whose runs already
take longer than the best one found is dropped), and of those the fastest. The timed
runs use single-threaded BLAS on both sides (``threadpoolctl``), so that process CPU
time measures the work; the row also records one wall-clock run of the chosen layer
configuration with the default (threaded) BLAS beside a single-threaded one, to show
what a second core gives the layer flow. The search runs at depth 20; depth 100 uses the
integrator found there and climbs the same ladder, from three steps looser, until the
error matches. Each row also reports ``ratio_looser``, the ratio against the next looser
tolerance of the ladder (a layer run *less* accurate than the Riemannian one, from the
search): the same-accuracy ratio lies between the two.

The timed runs alternate (Riemannian, layers, Riemannian, ...) for three rounds at depth
20 and one at depth 100 (a layer run takes minutes there). Each row reports the median
of the per-round ratios of process CPU time (the work, free of waits for a CPU on a
shared machine) as ``ratio``, and the wall-clock ratios beside it.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks._timing import blas_threads
from riemlin import RegressionLoss, balanced_factors, product
from riemlin.dynamics.layers import factor_gradient_flow
from riemlin.dynamics.riemannian import riemannian_gradient_flow

LAYER_INTEGRATORS = ("DOP853", "RK45", "RK23")
LADDER = (1e-7, 3e-8, 1e-8, 3e-9, 1e-9, 3e-10, 1e-10, 3e-11, 1e-11)
GOALS = {20: 10.0, 100: 50.0}


def _timed(fn):
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - cpu


def _problem(depth, hidden, m, k):
    rng = np.random.default_rng(0)
    loss = RegressionLoss(rng.standard_normal((m, 3 * m)), rng.standard_normal((m, 3 * m)))
    W0 = rng.standard_normal((m, k)) @ rng.standard_normal((k, m)) / m
    layers = balanced_factors(W0, (m,) + (hidden,) * (depth - 1) + (m,), rng=1)
    return loss, W0, layers


class _Case:
    """One depth: the problem, the reference end point, and timed runs of both flows."""

    def __init__(self, depth, hidden, m, k, t_end):
        self.depth = depth
        self.size = f"N={depth} widths {hidden} m=n={m} k={k}"
        self.loss, self.W0, self.layers = _problem(depth, hidden, m, k)
        self.t = [0.0, t_end]
        with blas_threads(1):
            ref = riemannian_gradient_flow(
                self.W0, self.loss, depth, self.t, rtol=1e-13, atol=1e-16, integrator="DOP853"
            )
        self.W_ref = ref.W[-1]

    def error(self, W):
        return float(np.linalg.norm(W - self.W_ref) / np.linalg.norm(self.W_ref))

    def riemannian(self):
        with blas_threads(1):
            res, wall, cpu = _timed(
                lambda: riemannian_gradient_flow(self.W0, self.loss, self.depth, self.t)
            )
        assert res.status == 0, res.message
        return {"wall": wall, "cpu": cpu, "error": self.error(res.W[-1]), "nfev": res.nfev}

    def layer(self, integrator, rtol, threads=1):
        with blas_threads(threads):
            res, wall, cpu = _timed(
                lambda: factor_gradient_flow(
                    self.layers, self.loss, self.t, integrator, rtol=rtol, atol=rtol * 1e-3
                )
            )
        assert res.status == 0, res.message
        error = self.error(product(res.factors))
        return {"wall": wall, "cpu": cpu, "error": error, "nfev": res.nfev}


def _climb(case, integrator, target, ladder, budget=np.inf):
    """The loosest tolerance of ``ladder`` whose error is at most ``target``, and its run.

    Tighter tolerances only cost more, so the climb stops (``None``) once a run takes
    more CPU time than ``budget``: that integrator cannot be the fastest.
    """
    tried = {}
    for rtol in ladder:
        run = tried[rtol] = case.layer(integrator, rtol)
        if run["error"] <= target:
            return rtol, run, tried
        if run["cpu"] > budget:
            break
    return None, None, tried


def _best_layer(case, target):
    """Search integrators and tolerances, then the thread setting (see the module doc)."""
    found, searched = {}, {}
    for integrator in LAYER_INTEGRATORS:
        budget = min((run["cpu"] for _, run in found.values()), default=np.inf)
        rtol, run, tried = _climb(case, integrator, target, LADDER, budget)
        searched[integrator] = {f"{r:g}": v for r, v in tried.items()}
        if rtol is not None:
            found[integrator] = (rtol, run)
    integrator = min(found, key=lambda name: found[name][1]["cpu"])
    rtol = found[integrator][0]
    threads = {
        "default BLAS threads, wall seconds": case.layer(integrator, rtol, threads=None)["wall"],
        "one BLAS thread, wall seconds": case.layer(integrator, rtol, threads=1)["wall"],
    }
    return integrator, rtol, threads, searched


def _row(case, integrator, rtol, threads, rounds, search):
    runs = {"riemannian": [], "layers": []}
    for _ in range(rounds):
        runs["riemannian"].append(case.riemannian())
        runs["layers"].append(case.layer(integrator, rtol, threads=1))
    cpu = np.array([a["cpu"] / b["cpu"] for a, b in zip(runs["layers"], runs["riemannian"])])
    wall = np.array([a["wall"] / b["wall"] for a, b in zip(runs["layers"], runs["riemannian"])])
    errors = {name: runs[name][-1]["error"] for name in runs}
    ratio = float(np.median(cpu))
    goal = GOALS.get(case.depth, 1.0)
    looser = LADDER[LADDER.index(rtol) - 1] if LADDER.index(rtol) > 0 else None
    looser_run = search.get(integrator, {}).get(f"{looser:g}") if looser else None
    riemannian_cpu = float(np.median([r["cpu"] for r in runs["riemannian"]]))
    return {
        "benchmark": "equivalence",
        "name": f"layer flow (its best) / Riemannian flow (defaults), depth {case.depth}",
        "size": case.size,
        "ratio": ratio,
        "goal": f">= {goal:g}",
        "meets_goal": bool(ratio >= goal and errors["layers"] <= 2 * errors["riemannian"]),
        "ratio_looser": None if looser_run is None else looser_run["cpu"] / riemannian_cpu,
        "error_looser": None if looser_run is None else looser_run["error"],
        "cpu_ratios": cpu.tolist(),
        "wall_ratios": wall.tolist(),
        "seconds_cpu": {name: float(np.median([r["cpu"] for r in runs[name]])) for name in runs},
        "seconds_wall": {name: float(np.median([r["wall"] for r in runs[name]])) for name in runs},
        "errors": errors,
        "nfev": {name: runs[name][-1]["nfev"] for name in runs},
        "layer_flow": {
            "integrator": integrator,
            "rtol": rtol,
            "atol": rtol * 1e-3,
            "blas_threads": 1,
        },
        "threads_check": threads,
        "search": search,
        "rounds": rounds,
    }


def run(quick: bool = False) -> list[dict]:
    if quick:
        plan = [((6, 12, 8, 2, 1.0), 1), ((12, 12, 8, 2, 1.0), 1)]
    else:
        plan = [((20, 50, 30, 5, 2.0), 3), ((100, 50, 30, 5, 2.0), 1)]
    rows, choice = [], None
    for shape, rounds in plan:
        case = _Case(*shape)
        target = 2 * case.riemannian()["error"]
        if choice is None:
            integrator, rtol, threads, search = _best_layer(case, target)
            choice = integrator, rtol, threads
        else:
            integrator, rtol0, threads = choice
            start = max(LADDER.index(rtol0) - 3, 0)
            rtol, _, tried = _climb(case, integrator, target, LADDER[start:])
            search = {integrator: {f"{r:g}": v for r, v in tried.items()}}
            rtol = rtol or LADDER[-1]
            threads = None
        rows.append(_row(case, integrator, rtol, threads, rounds, search))
    return rows
