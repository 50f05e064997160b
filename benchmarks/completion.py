"""Low-rank matrix completion with pymanopt's ConjugateGradient.

:func:`riemlin.random_completion` at ``m = n = 50000``, ``k = 10`` (about
``5 k (m + n - k)`` = 5.0e6 observed entries), spectral start
(:meth:`~riemlin.CompletionLoss.initial_point`), ConjugateGradient with
:class:`riemlin.CompletionLineSearcher` on ``FixedRankDeepLinear`` at depths 1, 2 and 4
until the relative error to the ground truth
is below ``1e-6`` (the run stops when the gradient norm falls below ``1e-9`` times its
initial value; if the error is still above the target, it continues from there with a
hundred times smaller threshold). Reported per run: iterations, seconds, the relative
error reached, and the peak of traced numpy memory (``tracemalloc``) against the size of
one ``m x n`` float64 array. The solves' seconds include the tracing, which at full size
costs 20-38% per iteration; the per-iteration ratios below are measured untraced.

Per-iteration time ratios are measured side by side (:func:`benchmarks._timing.compare`,
interleaved rounds of a fixed number of CG iterations from the same start, no
tracemalloc):

* depth 1 vs pymanopt's ``FixedRankEmbedded``. pymanopt's ``transport`` computes
  ``U @ S @ V.T @ matrix`` from left to right, which forms the dense ``m x n`` matrix
  ``U S V^T`` at every iteration (20 GB at ``m = n = 50000``, more than this machine
  has). So the shipped class is compared at ``m = n = 5000``, and at full size against
  a subclass whose ``_apply_ambient`` is re-associated right to left
  (``U @ (S @ (V.T @ matrix))``), i.e. ``FixedRankEmbedded`` with that one fix.
* depth 4 vs depth 1.

Last, the effect of the line search: iterations to the target with pymanopt's default
``AdaptiveLineSearcher`` against ``CompletionLineSearcher`` at ``1000 x 1000``, ``k = 10``,
depths 1 and 4 (capped at 2000 iterations).
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc

import numpy as np
import pymanopt
from pymanopt.manifolds import FixedRankEmbedded

from benchmarks._timing import compare
from riemlin import FixedRankDeepLinear, FixedRankPoint, FixedRankTangentVector, random_completion
from riemlin.losses.completion import CompletionLineSearcher, CompletionLoss, relative_error

TARGET = 1e-6
#: Entries per block, and the number of terms from which whole rows are gathered, in the
#: kernel before the blocked einsum (:func:`_rowdot_before`).
_CHUNK_BEFORE, _ROW_GATHER_BEFORE = 1 << 14, 16


def _rowdot_before(A_t, B_t, rows, cols):
    """The sampled entries of ``A_t^T B_t`` as riemlin computed them before the blocked einsum.

    Per-term gathers from the rows of ``A_t`` (``k x m``) and ``B_t`` (``k x n``) in blocks
    of entries below 16 terms, whole rows of the transposes and ``numpy.add.reduce`` from
    16 terms on (the line search's ``2k = 20`` terms). Kept as the baseline of the
    side-by-side rows.
    """
    k = A_t.shape[0]
    out = np.empty(rows.size)
    if k >= _ROW_GATHER_BEFORE:
        A, B = np.ascontiguousarray(A_t.T), np.ascontiguousarray(B_t.T)
        for start in range(0, rows.size, _CHUNK_BEFORE):
            block = A.take(rows[start : start + _CHUNK_BEFORE], axis=0)
            block *= B.take(cols[start : start + _CHUNK_BEFORE], axis=0)
            np.add.reduce(block, axis=1, out=out[start : start + block.shape[0]])
        return out
    for start in range(0, rows.size, _CHUNK_BEFORE):
        r = rows[start : start + _CHUNK_BEFORE]
        c = cols[start : start + _CHUNK_BEFORE]
        acc = A_t[0][r] * B_t[0][c]
        for a in range(1, k):
            term = A_t[a][r]
            term *= B_t[a][c]
            acc += term
        out[start : start + r.size] = acc
    return out


class CompletionLossBefore(CompletionLoss):
    """:class:`riemlin.CompletionLoss` with the sampled entries of the kernel before."""

    def sampled(self, X, Y):
        return _rowdot_before(
            np.ascontiguousarray(X.T), np.ascontiguousarray(Y.T), self.rows, self.cols
        )


def _before(loss):
    return CompletionLossBefore(loss.rows, loss.cols, loss.values, loss.shape)


class FixedRankEmbeddedLowRank(FixedRankEmbedded):
    """pymanopt's ``FixedRankEmbedded`` with its low-rank products associated right to left."""

    def _apply_ambient(self, vector, matrix):
        if isinstance(vector, (list, tuple)):
            return vector[0] @ (vector[1] @ (vector[2].T @ matrix))
        return vector @ matrix

    def _apply_ambient_transpose(self, vector, matrix):
        if isinstance(vector, (list, tuple)):
            return vector[2] @ (vector[1].T @ (vector[0].T @ matrix))
        return vector.T @ matrix


def _solve(loss, truth, manifold, x0, max_iterations, line_search=True, trace=True):
    """CG until the relative error is below TARGET; returns a dict of statistics.

    With ``trace`` the run is under ``tracemalloc`` (its peak memory is reported; the
    tracing slows the iterations down).
    """
    problem = loss.problem(manifold)
    g0 = manifold.norm(x0, problem.riemannian_gradient(x0))
    threshold, point, iterations, seconds = 1e-9, x0, 0, 0.0
    if trace:
        tracemalloc.start()
    while True:
        opt = pymanopt.optimizers.ConjugateGradient(
            verbosity=0,
            min_gradient_norm=threshold * g0,
            max_iterations=max_iterations - iterations,
            min_step_size=0.0,
            line_searcher=CompletionLineSearcher(loss) if line_search else None,
        )
        begin = time.perf_counter()
        res = opt.run(problem, initial_point=point)
        seconds += time.perf_counter() - begin
        point, iterations = res.point, iterations + int(res.iterations)
        error = relative_error(point, truth)
        print(
            f"  completion {manifold!r}: {iterations} iterations, {seconds:.1f} s, "
            f"relative error {error:.2e}",
            file=sys.stderr,
            flush=True,
        )
        if error <= TARGET or iterations >= max_iterations or threshold < 1e-15:
            break
        threshold *= 1e-2
    peak = None
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {
        "iterations": iterations,
        "seconds": seconds,
        "seconds_per_iteration": seconds / max(iterations, 1),
        "relative_error": error,
        "peak_bytes": peak,
        "stopping_criterion": str(res.stopping_criterion),
    }


def _per_iteration(loss, x0, manifolds: dict, iterations: int, repeat: int) -> dict:
    """Interleaved median seconds per CG iteration for each manifold, from one start."""
    problems = {name: loss.problem(m) for name, m in manifolds.items()}
    counts = {}

    def runner(name):
        solve = _cg(loss, problems[name], x0, iterations)

        def fn():
            counts[name] = int(solve().iterations)

        return fn

    times = compare({name: runner(name) for name in problems}, repeat=repeat, min_time=0.0)
    return {name: times[name] / max(counts[name], 1) for name in times}


def _evaluation(loss, x0, seed=0):
    """One evaluation at a new point: ``loss.value``, then ``G V`` and ``G^T U``."""
    rng = np.random.default_rng(seed)

    def evaluate():
        u, s, vt = x0
        point = FixedRankPoint(u, s * (1.0 + 1e-3 * rng.random()), vt)  # a cache miss
        loss.value(point)
        G = loss.gradient(point)
        return G @ vt.T, G.T @ u

    return evaluate


def _cg(loss, problem, x0, iterations):
    """A function running ``iterations`` CG iterations from ``x0``; it returns the result."""

    def solve():
        return pymanopt.optimizers.ConjugateGradient(
            verbosity=0,
            max_iterations=iterations,
            min_gradient_norm=0.0,
            min_step_size=0.0,
            line_searcher=CompletionLineSearcher(loss),
        ).run(problem, initial_point=x0)

    return solve


def _iteration_units(losses: dict, x0, depth, iterations, repeat) -> dict:
    """Seconds per CG iteration and per evaluation of each loss, side by side.

    An iteration's time is the difference of runs of ``1 + iterations`` and of one
    iteration from the same start, over ``iterations`` (the first cost and gradient
    cancel); all runs of all losses alternate in rounds (:func:`benchmarks._timing.compare`).
    """
    m, n = next(iter(losses.values())).shape
    manifold = FixedRankDeepLinear(m, n, x0[1].size, depth=depth)
    functions = {}
    for name, loss in losses.items():
        problem = loss.problem(manifold)
        functions[(name, "evaluation")] = _evaluation(loss, x0)
        functions[(name, "short")] = _cg(loss, problem, x0, 1)
        functions[(name, "long")] = _cg(loss, problem, x0, 1 + iterations)
    parts = _iteration_parts(next(iter(losses.values())), manifold, x0)
    functions.update({("parts", part): fn for part, fn in parts.items()})
    t = compare(functions, repeat=repeat, min_time=0.0)
    out = {}
    for name in losses:
        per_iteration = (t[(name, "long")] - t[(name, "short")]) / iterations
        out[name] = {
            "seconds_per_iteration": per_iteration,
            "seconds_per_evaluation": t[(name, "evaluation")],
            "units": per_iteration / t[(name, "evaluation")],
        }
    first = next(iter(losses))
    evaluation = t[(first, "evaluation")]
    out["parts_in_evaluations"] = {part: t[("parts", part)] / evaluation for part in parts}
    return out


def _iteration_parts(loss, manifold, x0):
    """The pieces of one CG iteration besides the new point's evaluation, as functions.

    At ``x0`` along the Riemannian gradient ``d``: the line search's product (the observed
    entries of ``d``, ``2k`` terms), one retraction, the two transports of
    Hestenes-Stiefel's ``beta`` (the old gradient and the old direction), and the
    Riemannian gradient from the sparse one (at a point whose gradient is cached: the
    conversion with the loss's products ``G V`` and ``G^T U``, timed alone too: they are
    part of the evaluation). A copy of the loss keeps ``x0``'s residual in its cache, as
    in a CG iteration (the evaluations timed beside it evaluate other points).
    """
    loss = CompletionLoss(loss.rows, loss.cols, loss.values, loss.shape)
    problem = loss.problem(manifold)
    d = FixedRankTangentVector(*(-x for x in problem.riemannian_gradient(x0)))
    searcher = CompletionLineSearcher(loss)
    t = searcher.linearized_step(x0, d)
    step = FixedRankTangentVector(*(t * x for x in d))
    new = manifold.retraction(x0, step)
    G = loss.gradient(x0)
    return {
        "line search product (2k terms)": lambda: searcher.linearized_step(x0, d),
        "retraction": lambda: manifold.retraction(x0, step),
        "two transports": lambda: (manifold.transport(x0, new, d), manifold.transport(x0, new, d)),
        "Riemannian gradient from G": lambda: manifold.riemannian_gradient_from_matrix(x0, G),
        "G V and G^T U (in the evaluation)": lambda: (G @ x0[2].T, G.T @ x0[0]),
    }


def _unit_rows(quick: bool) -> list[dict]:
    """CG iterations in units of one evaluation, and against the kernel before."""
    m, k, iterations, repeat = (300, 3, 4, 3) if quick else (20000, 10, 10, 3)
    loss, _ = random_completion(m, m, k, rng=6)
    x0 = loss.initial_point(k, rng=7)
    losses = {"now": loss, "before": _before(loss)}
    rows = []
    for depth in (1, 4):
        units = _iteration_units(losses, x0, depth, iterations, repeat)
        now, before = units["now"], units["before"]
        rows.append(
            {
                "benchmark": "completion",
                "name": f"CG iteration / one evaluation (value, G V, G^T U), depth {depth}",
                "size": f"{m}x{m} k={k} nnz={loss.nnz}",
                "ratio": now["units"],
                "goal": "<= 2.2",
                "meets_goal": bool(now["units"] <= 2.2),
                "now": now,
                "before": before,
                "parts_in_evaluations": units["parts_in_evaluations"],
            }
        )
        ratio = before["seconds_per_iteration"] / now["seconds_per_iteration"]
        rows.append(
            {
                "benchmark": "completion",
                "name": f"CG s/iteration, kernel before / now, depth {depth}",
                "size": f"{m}x{m} k={k} nnz={loss.nnz}",
                "ratio": ratio,
                "goal": "> 1",
                "meets_goal": bool(ratio > 1),
                "seconds_per_iteration": {
                    "now": now["seconds_per_iteration"],
                    "before": before["seconds_per_iteration"],
                },
            }
        )
    return rows


def run(quick: bool = False) -> list[dict]:
    m, k, small, iters, repeat, max_it = (
        (200, 2, 150, 4, 3, 3000) if quick else (50000, 10, 5000, 10, 3, 3000)
    )
    size = f"{m}x{m} k={k}"
    begin = time.perf_counter()
    loss, truth = random_completion(m, m, k, rng=0)
    x0 = loss.initial_point(k, rng=1)
    setup = time.perf_counter() - begin
    dense_bytes = m * m * 8
    rows, runs = [], {}
    for depth in (1, 2, 4):
        manifold = FixedRankDeepLinear(m, m, k, depth=depth, rng=0)
        stats = runs[depth] = _solve(loss, truth, manifold, x0, max_it)
        rows.append(
            {
                "benchmark": "completion",
                "name": f"completion CG depth {depth}: relative error reached",
                "size": f"{size} nnz={loss.nnz}",
                "ratio": stats["relative_error"],
                "goal": f"<= {TARGET:g}",
                "meets_goal": bool(stats["relative_error"] <= TARGET),
                **stats,
            }
        )
    # The solve side by side with the kernel before, untraced (tracing slows the
    # iterations), this code first.
    side = {
        "now": _solve(loss, truth, FixedRankDeepLinear(m, m, k, depth=1), x0, max_it, trace=False),
        "before": _solve(
            _before(loss), truth, FixedRankDeepLinear(m, m, k, depth=1), x0, max_it, trace=False
        ),
    }
    ratio = side["before"]["seconds"] / side["now"]["seconds"]
    rows.append(
        {
            "benchmark": "completion",
            "name": "completion solve depth 1, seconds before / now (untraced)",
            "size": f"{size} nnz={loss.nnz}",
            "ratio": ratio,
            "goal": ">= 2",
            "meets_goal": bool(ratio >= 2 and side["now"]["relative_error"] <= TARGET),
            **{
                name: {key: side[name][key] for key in ("iterations", "seconds", "relative_error")}
                for name in side
            },
        }
    )
    peak = max(s["peak_bytes"] for s in runs.values())
    rows.append(
        {
            "benchmark": "completion",
            "name": "completion CG peak traced memory / one m x n array",
            "size": size,
            "ratio": peak / dense_bytes,
            "goal": "< 1",
            "meets_goal": bool(peak < dense_bytes),
            "peak_bytes": peak,
            "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "setup_seconds": setup,
        }
    )

    manifolds = {
        "depth 1": FixedRankDeepLinear(m, m, k, depth=1),
        "depth 2": FixedRankDeepLinear(m, m, k, depth=2),
        "depth 4": FixedRankDeepLinear(m, m, k, depth=4),
        "FixedRankEmbedded (re-associated)": FixedRankEmbeddedLowRank(m, m, k),
    }
    per_it = _per_iteration(loss, x0, manifolds, iters, repeat)
    ref = "FixedRankEmbedded (re-associated)"
    for name, other, goal in (
        ("depth 1", ref, 1.2),
        ("depth 4", "depth 1", 1.2),
        ("depth 2", "depth 1", 1.2),
    ):
        ratio = per_it[name] / per_it[other]
        rows.append(
            {
                "benchmark": "completion",
                "name": f"CG s/iteration {name} / {other}",
                "size": size,
                "ratio": ratio,
                "goal": f"<= {goal}",
                "meets_goal": bool(ratio <= goal),
                "seconds_per_iteration": {name: per_it[name], other: per_it[other]},
            }
        )

    # pymanopt's FixedRankEmbedded as shipped (dense U S V^T in transport), smaller size.
    loss_s, _ = random_completion(small, small, k, rng=2)
    x0_s = loss_s.initial_point(k, rng=3)
    per_small = _per_iteration(
        loss_s,
        x0_s,
        {
            "depth 1": FixedRankDeepLinear(small, small, k, depth=1),
            "FixedRankEmbedded": FixedRankEmbedded(small, small, k),
        },
        iters,
        repeat,
    )
    tracemalloc.start()
    pymanopt.optimizers.ConjugateGradient(verbosity=0, max_iterations=2).run(
        loss_s.problem(FixedRankEmbedded(small, small, k)), initial_point=x0_s
    )
    shipped_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    ratio = per_small["depth 1"] / per_small["FixedRankEmbedded"]
    rows.append(
        {
            "benchmark": "completion",
            "name": "CG s/iteration depth 1 / FixedRankEmbedded (as shipped)",
            "size": f"{small}x{small} k={k}",
            "ratio": ratio,
            "goal": "<= 1.2",
            "meets_goal": bool(ratio <= 1.2),
            "seconds_per_iteration": per_small,
            "shipped_peak_over_dense": shipped_peak / (small * small * 8),
        }
    )
    rows.extend(_unit_rows(quick))
    rows.extend(_line_search_rows(quick))
    return rows


def _line_search_rows(quick: bool) -> list[dict]:
    """CG iterations to TARGET with pymanopt's default line search vs CompletionLineSearcher."""
    m, k, cap = (200, 2, 300) if quick else (1000, 10, 2000)
    loss, truth = random_completion(m, m, k, rng=4)
    x0 = loss.initial_point(k, rng=5)
    rows = []
    for depth in (1, 4):
        manifold = FixedRankDeepLinear(m, m, k, depth=depth)
        exact = _solve(loss, truth, manifold, x0, cap)
        default = _solve(loss, truth, manifold, x0, cap, line_search=False)
        reached = default["relative_error"] <= TARGET
        ratio = default["iterations"] / exact["iterations"]
        rows.append(
            {
                "benchmark": "completion",
                "name": f"CG iterations depth {depth}: default / CompletionLineSearcher",
                "size": f"{m}x{m} k={k}",
                "ratio": ratio,
                "goal": "> 1",
                "meets_goal": bool(ratio > 1 and exact["relative_error"] <= TARGET),
                "default_reached_target": bool(reached),
                "iteration_cap": cap,
                "exact": exact,
                "default": default,
            }
        )
    return rows
