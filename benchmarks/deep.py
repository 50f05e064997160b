"""Deep networks: Riemannian descent on ``M_k`` vs gradient descent on the layers (issue 9).

Regression ``L(W) = 1/2 ||W X - Y||_F^2`` with ``m = n = 64``, 256 samples and a rank-16
target; ``k = 8``; balanced layers of hidden width 64 at depths 10, 30 and 100 from one
rank-8 start. Every method runs with the same step
``eta = 1 / (N s^{2(N-1)/N} ||X||_2^2)`` (``s`` bounds the singular values along the
path, so ``eta`` is below the inverse curvature of both iterations) until
``L - L* <= 1e-4 (L(0) - L*)``, with ``L*`` the minimum over rank ``<= 8``
(:meth:`riemlin.RegressionLoss.optimum`):

* ``riemlin.riemannian_gradient_descent`` (retraction descent on ``M_8`` under the
  depth-``N`` metric; cost per step independent of ``N``);
* ``riemlin.factor_gradient_descent`` (numpy, the ``N`` layers; it also checks the rank
  of the product by an SVD every step);
* a plain PyTorch loop on the layers (CPU, float64, autograd, one thread: the products
  are 64 x 64), if torch is installed (``pip install riemlin[bench]``).

The number of steps each method needs is found first, by running it until the loss is
below the tolerance (the wall time of these runs is recorded too, but they run one after
the other). Every method costs the same per step along the way, so the time to the
tolerance is the number of steps times the seconds per step, and the seconds per step
are measured side by side: runs of 200 steps (fewer if the method needs fewer) from the
same start, interleaved in three rounds (:func:`benchmarks._timing.compare`). The ratio
is layer time over Riemannian time. (Timing the full runs side by side would take hours
at depth 100, where the layers need ~12000 steps of ~50 ms.)
"""

from __future__ import annotations

import sys
import time
from functools import partial

import numpy as np

from benchmarks._timing import compare
from riemlin import RegressionLoss, balanced_factors
from riemlin.factor_flows import factor_gradient_descent
from riemlin.flows import riemannian_gradient_descent

try:
    import torch
except ImportError:  # optional: the ``bench`` extra
    torch = None


def _problem(m, k, rng):
    samples, rank = 4 * m, 2 * k
    X = rng.standard_normal((m, samples)) / np.sqrt(samples)
    U = np.linalg.qr(rng.standard_normal((m, rank)))[0]
    V = np.linalg.qr(rng.standard_normal((m, rank)))[0]
    Phi = (U * np.geomspace(2.0, 0.5, rank)) @ V.T
    loss = RegressionLoss(X, Phi @ X + 0.01 * rng.standard_normal((m, samples)))
    # rank-k start near the top singular subspaces of the target
    Us = np.linalg.qr(U[:, :k] + 0.5 * rng.standard_normal((m, k)) / np.sqrt(m))[0]
    Vs = np.linalg.qr(V[:, :k] + 0.5 * rng.standard_normal((m, k)) / np.sqrt(m))[0]
    W0 = (Us * np.linspace(1.0, 0.5, k)) @ Vs.T
    return loss, W0


def _steps_to(losses, target) -> int | None:
    hit = np.flatnonzero(np.asarray(losses) <= target)
    return int(hit[0]) if hit.size else None


def _steps_needed(descend, start, target, chunk, limit):
    """Steps until the loss is below ``target``, by chunks of ``chunk`` steps (untimed).

    ``descend(start, n)`` runs ``n`` steps and returns ``(losses, end)`` with the
    ``n + 1`` losses of the run and the state to continue from.
    """
    done = 0
    while done < limit:
        losses, start = descend(start, chunk)
        hit = _steps_to(losses, target)
        if hit is not None:
            return done + hit
        done += chunk
    raise RuntimeError(f"descent did not reach the tolerance in {limit} steps")


def _riemannian_chunk(loss, depth, k, step):
    def descend(point, n):
        res = riemannian_gradient_descent(point, loss, depth, step, n, k=k, output="point")
        assert res.status == 0, res.message
        return res.loss, res.W[-1]

    return descend


def _factor_chunk(loss, step):
    def descend(layers, n):
        res = factor_gradient_descent(layers, loss, step, n)
        assert res.status == 0, res.message
        return res.loss, res.factors

    return descend


def _torch_descent(layers, X, Y, step, target, max_steps, check=True):
    torch.set_num_threads(1)  # 64 x 64 products: threads only add synchronization
    Ws = [torch.tensor(W, dtype=torch.float64, requires_grad=True) for W in layers]
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    for i in range(max_steps + 1):
        out = Xt
        for W in Ws:
            out = W @ out
        value = 0.5 * torch.sum((out - Yt) ** 2)
        if float(value.detach()) <= target:
            return i
        grads = torch.autograd.grad(value, Ws)
        with torch.no_grad():
            for W, G in zip(Ws, grads):
                W -= step * G
    if not check:
        return max_steps
    raise RuntimeError(f"torch layer descent did not reach the tolerance in {max_steps} steps")


def _per_step(functions: dict, steps: dict) -> dict:
    """Seconds per step of each method, measured side by side on runs of ``steps[name]`` steps."""
    seconds = compare(functions, repeat=3, min_time=0.0)
    return {name: seconds[name] / steps[name] for name in functions}


def run(quick: bool = False) -> list[dict]:
    full = ((10, 30, 100), 64, 64, 8, 1e-4, 200)
    depths, hidden, m, k, rtol, chunk = ((2, 4), 8, 8, 2, 1e-3, 50) if quick else full
    rng = np.random.default_rng(0)
    loss, W0 = _problem(m, k, rng)
    _, best = loss.optimum(k)
    gap0 = loss.value(W0) - best
    target = best + rtol * gap0
    xnorm2 = np.linalg.norm(loss.X, 2) ** 2
    W_opt = loss.optimum(k)[0]
    s_path = 1.1 * max(np.linalg.norm(W0, 2), np.linalg.norm(W_opt, 2))
    rows = []
    for depth in depths:
        step = 1.0 / (depth * s_path ** (2 * (depth - 1) / depth) * xnorm2)
        layers = balanced_factors(W0, (m,) + (hidden,) * (depth - 1) + (m,), rng=1)
        steps, full_run = {}, {}
        for name, descend, start in (
            ("riemannian", _riemannian_chunk(loss, depth, k, step), W0),
            ("layers (numpy)", _factor_chunk(loss, step), layers),
        ):
            begin = time.perf_counter()
            steps[name] = _steps_needed(descend, start, target, 50, 200000)
            full_run[name] = time.perf_counter() - begin
        if torch is not None:
            begin = time.perf_counter()
            steps["layers (torch)"] = _torch_descent(layers, loss.X, loss.Y, step, target, 200000)
            full_run["layers (torch)"] = time.perf_counter() - begin
        # the timed runs: the same number of steps for each, from the same start
        n = {name: min(chunk, max(count, 1)) for name, count in steps.items()}
        functions = {
            "riemannian": partial(
                riemannian_gradient_descent,
                W0,
                loss,
                depth,
                step,
                n["riemannian"],
                k=k,
                output="point",
            ),
            "layers (numpy)": partial(
                factor_gradient_descent,
                layers,
                loss,
                step,
                n["layers (numpy)"],
                record_every=n["layers (numpy)"],
            ),
        }
        if torch is not None:
            functions["layers (torch)"] = partial(
                _torch_descent,
                layers,
                loss.X,
                loss.Y,
                step,
                -np.inf,
                n["layers (torch)"],
                check=False,
            )
        per_step = _per_step(functions, n)
        seconds = {name: per_step[name] * steps[name] for name in per_step}
        size = f"N={depth} widths {hidden} m=n={m} k={k}"
        common = {
            "benchmark": "deep",
            "size": size,
            "goal": "> 1",
            "step": step,
            "tolerance": f"L - L* <= {rtol:g} (L(0) - L*)",
            "steps": steps,
            "seconds_per_step": per_step,
            "seconds": seconds,
            "full_run_seconds": full_run,
            "initial_gap": float(gap0),
        }
        print(
            f"  deep N={depth}: steps {steps}, s/step "
            + ", ".join(f"{name} {v:.3g}" for name, v in per_step.items()),
            file=sys.stderr,
            flush=True,
        )
        for name in functions:
            if name == "riemannian":
                continue
            ratio = seconds[name] / seconds["riemannian"]
            rows.append(
                {
                    **common,
                    "name": f"layer GD ({name[8:-1]}) / Riemannian GD, time to tolerance",
                    "ratio": ratio,
                    "meets_goal": bool(ratio > 1),
                    **(
                        {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
                        if name == "layers (torch)"
                        else {}
                    ),
                }
            )
    return rows
