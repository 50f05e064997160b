"""Deep networks: Riemannian descent on ``M_k`` vs gradient descent on the layers.

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
* a plain PyTorch loop on the layers (CPU, float64, autograd), if torch is installed
  (``pip install riemlin[bench]``).

The methods run side by side to the tolerance: in chunks of 200 steps, taken in turn
(one chunk of each method, then the next chunk of each), each chunk timed, until every
method is below the tolerance. A method's time to the tolerance is the sum of its chunks,
the last one counted up to the step that reached the tolerance (pro rata). The numpy
layer runs keep only each chunk's last iterate (``record_every``), so the time is that of
the descent, not of ``FlowResult``'s per-iterate diagnostics. Interleaving spreads slow
phases of the machine over all methods (on average: chunks are equal in steps, not in
seconds, and the slower methods run alone once the faster ones are done), and no run is
repeated (at depth 100 the layers need ~12000 steps of 20-60 ms). All run
single-threaded (torch by ``torch.set_num_threads(1)``, BLAS by ``threadpoolctl`` when
installed, which the ``bench`` extra does): the products are 64 x 64, where threads only
add synchronization, and a threaded BLAS slows down several-fold whenever another
process holds a core.
The ratio is layer time over Riemannian time.
"""

from __future__ import annotations

import contextlib
import sys
import time

import numpy as np

from benchmarks._timing import blas_threads
from riemlin import RegressionLoss, balanced_factors
from riemlin.dynamics.layers import factor_gradient_descent
from riemlin.dynamics.riemannian import riemannian_gradient_descent

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


def _riemannian_chunk(loss, depth, k, step):
    def descend(point, n):
        res = riemannian_gradient_descent(point, loss, depth, step, n, k=k, output="point")
        assert res.status == 0, res.message
        return res.loss, res.W[-1]

    return descend


def _factor_chunk(loss, step, record=True):
    # record=False keeps only the chunk's last iterate: FlowResult computes diagnostics
    # (product, imbalance norms by SVD, singular values) for every recorded iterate,
    # which at depth 100 costs three times the descent itself.
    def descend(layers, n):
        res = factor_gradient_descent(layers, loss, step, n, record_every=1 if record else n)
        assert res.status == 0, res.message
        return res.loss, res.factors

    return descend


def _torch_chunk(X, Y, step):
    """Layer descent in PyTorch, by chunks; the state is the list of layer tensors."""
    torch.set_num_threads(1)  # 64 x 64 products: threads only add synchronization
    Xt, Yt = torch.tensor(X), torch.tensor(Y)

    def descend(Ws, n):
        if not isinstance(Ws[0], torch.Tensor):
            Ws = [torch.tensor(W, dtype=torch.float64, requires_grad=True) for W in Ws]
        losses = []
        for i in range(n + 1):
            out = Xt
            for W in Ws:
                out = W @ out
            value = 0.5 * torch.sum((out - Yt) ** 2)
            losses.append(float(value.detach()))
            if i == n:
                break
            grads = torch.autograd.grad(value, Ws)
            with torch.no_grad():
                for W, G in zip(Ws, grads):
                    W -= step * G
        return losses, Ws

    return descend


def _race(methods: dict, target: float, chunk: int, limit: int):
    """Run the methods in turn by chunks until each is below ``target``.

    ``methods[name] = (descend, start, locate)``: ``descend(state, n)`` runs ``n`` steps
    (timed) and returns the losses it recorded, first and last included, and the state
    to continue from. If it records only those two, ``locate(state, n)`` reruns the
    chunk in which the loss fell below ``target`` with every loss recorded (untimed), to
    find the exact step; descent with a step below the inverse curvature decreases the
    loss monotonically, so the chunk's last loss tells whether the target was crossed.
    Returns the steps to the tolerance and the seconds they took (the last chunk pro
    rata).
    """
    states = {name: start for name, (_, start, _) in methods.items()}
    done = dict.fromkeys(methods, 0)
    seconds = dict.fromkeys(methods, 0.0)
    steps = {}
    while len(steps) < len(methods):
        for name, (descend, _, locate) in methods.items():
            if name in steps:
                continue
            begin = time.perf_counter()
            losses, state = descend(states[name], chunk)
            elapsed = time.perf_counter() - begin
            if locate is not None and losses[-1] <= target:
                losses = locate(states[name], chunk)[0]
            hit = _steps_to(losses, target)
            if hit is not None:
                steps[name] = done[name] + hit
                seconds[name] += elapsed * hit / chunk
                continue
            seconds[name] += elapsed
            done[name] += chunk
            states[name] = state
            if done[name] >= limit:
                raise RuntimeError(f"{name} did not reach the tolerance in {limit} steps")
    return steps, seconds


def _blas_single_thread():
    """A context limiting BLAS to one thread (threadpoolctl), or a no-op without it."""
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return contextlib.nullcontext(), "default (threadpoolctl not installed)"
    return blas_threads(1), 1


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
    limits, blas_threads = _blas_single_thread()
    with limits:
        for depth in depths:
            step = 1.0 / (depth * s_path ** (2 * (depth - 1) / depth) * xnorm2)
            layers = balanced_factors(W0, (m,) + (hidden,) * (depth - 1) + (m,), rng=1)
            methods = {
                "riemannian": (_riemannian_chunk(loss, depth, k, step), W0, None),
                "layers (numpy)": (
                    _factor_chunk(loss, step, record=False),
                    layers,
                    _factor_chunk(loss, step),
                ),
            }
            if torch is not None:
                methods["layers (torch)"] = (_torch_chunk(loss.X, loss.Y, step), layers, None)
            steps, seconds = _race(methods, target, chunk, 200000)
            print(
                f"  deep N={depth}: steps {steps}, seconds "
                + ", ".join(f"{name} {v:.3g}" for name, v in seconds.items()),
                file=sys.stderr,
                flush=True,
            )
            common = {
                "benchmark": "deep",
                "size": f"N={depth} widths {hidden} m=n={m} k={k}",
                "goal": "> 1",
                "step": step,
                "tolerance": f"L - L* <= {rtol:g} (L(0) - L*)",
                "steps": steps,
                "seconds": seconds,
                "seconds_per_step": {name: seconds[name] / steps[name] for name in steps},
                "blas_threads": blas_threads,
                "initial_gap": float(gap0),
            }
            for name in methods:
                if name == "riemannian":
                    continue
                ratio = seconds[name] / seconds["riemannian"]
                extra = {}
                if name == "layers (torch)":
                    extra = {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
                rows.append(
                    {
                        **common,
                        "name": f"layer GD ({name[8:-1]}) / Riemannian GD, time to tolerance",
                        "ratio": ratio,
                        "meets_goal": bool(ratio > 1),
                        **extra,
                    }
                )
    return rows
