r"""Gradient flow and gradient descent on the layers of a deep linear network.

The overparameterized loss :math:`L^N(W_1, \dots, W_N) = L(W_N \cdots W_1)` has the
layer gradients :math:`\nabla_{W_j} L^N = D\pi^*(\nabla L(W))_j` (see
:func:`riemlin.factors.factor_gradient`). Its gradient flow conserves the imbalance
matrices :math:`D_j = W_{j+1}^\top W_{j+1} - W_j W_j^\top`; started from balanced layers,
the product follows the Riemannian gradient flow of :mod:`riemlin.flows` (the
equivalence theorem of Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505).
Gradient *descent* changes the imbalance by exactly
:math:`\eta^2 (G_{j+1}^\top G_{j+1} - G_j G_j^\top)` per step (``G_j`` the layer
gradients; derived in the user guide, section "Gradient descent changes the imbalance
by eta^2").

These functions return the same :class:`riemlin.flows.FlowResult` as the Riemannian
ones, with ``imbalance`` (the relative imbalance :func:`riemlin.factors.imbalance_norm`
over time), ``imbalance_drift`` (how far the imbalance matrices moved from their start)
and the final ``factors`` filled in.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from riemlin._validation import check_int, numerical_rank
from riemlin.factors import _adjoint, _check_factors, _product, imbalance, imbalance_norm
from riemlin.flows import (
    DIVERGED,
    FAILED,
    RANK_LOST,
    SUCCESS,
    FlowResult,
    _check_loss,
    _check_positive,
    _check_times,
)

__all__ = ["factor_gradient_flow", "factor_gradient_descent"]

_METHODS = ("DOP853", "RK45", "RK23", "Radau", "BDF", "LSODA")


class _Layers:
    """Packing of ``[W_1, ..., W_N]`` into one state vector, and what is recorded."""

    def __init__(self, factors):
        self.shapes = [W.shape for W in factors]
        self.offsets = np.cumsum([0] + [W.size for W in factors])
        self.D0 = imbalance(factors)
        self.scale = max(np.linalg.norm(W, 2) ** 2 for W in factors) or 1.0

    def pack(self, factors) -> np.ndarray:
        return np.concatenate([W.ravel() for W in factors])

    def unpack(self, y) -> list[np.ndarray]:
        o = self.offsets
        return [y[o[j] : o[j + 1]].reshape(shape) for j, shape in enumerate(self.shapes)]

    def drift(self, factors) -> float:
        """``max_j ||D_j - D_j(0)||_F`` relative to ``max_j ||W_j(0)||_2^2``."""
        if not self.D0:
            return 0.0
        D = imbalance(factors)
        return float(max(np.linalg.norm(a - b) for a, b in zip(D, self.D0)) / self.scale)


def _result(times, losses, snapshots, layers, status, message, nfev):
    Ws = np.array([_product(F) for F in snapshots])
    return FlowResult(
        t=np.asarray(times, dtype=float),
        loss=np.asarray(losses, dtype=float),
        W=Ws,
        status=status,
        message=message,
        nfev=nfev,
        imbalance=np.array([imbalance_norm(F) for F in snapshots]),
        imbalance_drift=np.array([layers.drift(F) for F in snapshots]),
        factors=[W.copy() for W in snapshots[-1]],
        singular_values=np.array([np.linalg.svd(W, compute_uv=False) for W in Ws]),
    )


def _layer_gradients(factors, loss):
    return _adjoint(factors, loss.gradient(_product(factors)))


def factor_gradient_flow(
    factors,
    loss,
    t_eval,
    method: str = "DOP853",
    rtol: float = 1e-9,
    atol: float = 1e-12,
    *,
    max_loss_ratio: float = 1e8,
) -> FlowResult:
    r"""Integrate the gradient flow :math:`\dot W_j = -\nabla_{W_j} L^N` of the layers.

    Parameters
    ----------
    factors : list of ndarray
        Initial layers ``[W_1, ..., W_N]``, ``W_j`` of shape ``d_j x d_{j-1}``.
    loss : loss protocol object
        :class:`riemlin.RegressionLoss`, :class:`riemlin.MatrixLoss` or any object of the
        protocol of :mod:`riemlin.losses`; ``loss.gradient`` is evaluated at the dense
        product (dense, sparse or low-rank gradients are all accepted).
    t_eval : array_like
        Strictly increasing output times; the flow starts at ``t_eval[0]``.
    method : str, default "DOP853"
        Any explicit or implicit method of :func:`scipy.integrate.solve_ivp`.
    rtol, atol : float
        Tolerances of :func:`scipy.integrate.solve_ivp`.
    max_loss_ratio : float, default 1e8
        The run stops with status ``-2`` once ``|L| > max_loss_ratio * max(|L(0)|, 1)``.

    Returns
    -------
    FlowResult
        ``W`` holds the products at the output times, ``imbalance`` the relative
        imbalance, ``imbalance_drift`` the change of the imbalance matrices (zero for the
        exact flow), ``factors`` the final layers.

    References
    ----------
    Bah et al., arXiv:1910.05505 (the flow and the conservation of the imbalance);
    Arora, Cohen, Hazan, arXiv:1802.06509 (the same conservation law); the user guide,
    section "Balancedness and the conservation law".

    Examples
    --------
    >>> import numpy as np
    >>> from riemlin import RegressionLoss, balanced_factors
    >>> loss = RegressionLoss(np.eye(3), np.diag([3.0, 2.0, 1.0]))
    >>> layers = balanced_factors(np.diag([1.0, 1.0, 0.5]), (3, 3, 3), rng=0)
    >>> res = factor_gradient_flow(layers, loss, [0.0, 30.0])
    >>> res.status, round(float(res.loss[-1]), 8)
    (0, 0.0)
    """
    F0 = _check_factors(factors)
    _check_loss(loss)
    t = _check_times(t_eval)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}")
    rtol = _check_positive(rtol, "rtol")
    atol = _check_positive(atol, "atol")
    max_loss_ratio = _check_positive(max_loss_ratio, "max_loss_ratio")
    layers = _Layers(F0)
    loss0 = loss.value(_product(F0))
    limit = max_loss_ratio * max(abs(loss0), 1.0)
    nfev = 0

    def rhs(_t, y):
        nonlocal nfev
        nfev += 1
        grads = _layer_gradients(layers.unpack(y), loss)
        return -layers.pack(grads)

    def diverged(_t, y):
        value = loss.value(_product(layers.unpack(y)))
        return limit - abs(value) if np.isfinite(value) else -1.0

    diverged.terminal = True
    status, message = SUCCESS, "The flow reached the end of t_eval."
    with np.errstate(over="ignore", invalid="ignore"):
        sol = solve_ivp(
            rhs,
            (t[0], t[-1]),
            layers.pack(F0),
            method=method,
            t_eval=t,
            rtol=rtol,
            atol=atol,
            events=diverged,
        )
    snapshots = [layers.unpack(y) for y in sol.y.T] or [F0]
    finite = [all(np.all(np.isfinite(W)) for W in F) for F in snapshots]
    if not all(finite):
        snapshots = snapshots[: finite.index(False)] or [F0]
        status, message = DIVERGED, "divergence: the layers became non-finite"
    elif sol.status == 1:
        status = DIVERGED
        message = f"divergence at t={sol.t_events[0][0]:.6g}: loss above {limit:.3g}"
    elif sol.status != 0:
        status, message = FAILED, f"integrator failed: {sol.message}"
    times = t[: len(snapshots)]
    losses = [loss.value(_product(F)) for F in snapshots]
    return _result(times, losses, snapshots, layers, status, message, nfev)


def factor_gradient_descent(
    factors,
    loss,
    step: float,
    n_steps: int,
    *,
    rank_tol: float = 1e-13,
    max_loss_ratio: float = 1e8,
    record_every: int = 1,
) -> FlowResult:
    r"""Gradient descent :math:`W_j \leftarrow W_j - \eta \nabla_{W_j} L^N` on the layers.

    Parameters
    ----------
    factors : list of ndarray
        Initial layers ``[W_1, ..., W_N]``.
    loss : loss protocol object
        See :func:`factor_gradient_flow`.
    step : float
        Step size :math:`\eta > 0`.
    n_steps : int
        Number of steps.
    rank_tol : float, default 1e-13
        Status ``-3`` when the product's rank (the rank of the start) is lost:
        ``s_k / s_1 < rank_tol``.
    max_loss_ratio : float, default 1e8
        Status ``-2`` once the loss exceeds ``max_loss_ratio * max(|L(0)|, 1)`` or is
        not finite.
    record_every : int, default 1
        Record every ``record_every``-th iterate (the last one is always recorded).
        Each recorded iterate gets the diagnostics of
        :class:`~riemlin.flows.FlowResult` (the product, its singular values, imbalance
        norms that take an SVD per layer), which cost more than a step: about three
        steps at depth 100 with 64 x 64 layers. Record sparsely in long runs.

    Returns
    -------
    FlowResult
        ``t = step * iteration``.

    References
    ----------
    Nguegnang, Rauhut, Terstiege, arXiv:2108.02040 (convergence of descent on the
    layers); Arora et al., arXiv:1810.02281 (linear rate from balanced starts).
    """
    F = _check_factors(factors)
    _check_loss(loss)
    step = _check_positive(step, "step")
    n_steps = check_int(n_steps, "n_steps", minimum=0)
    record_every = check_int(record_every, "record_every")
    rank_tol = _check_positive(rank_tol, "rank_tol")
    max_loss_ratio = _check_positive(max_loss_ratio, "max_loss_ratio")
    layers = _Layers(F)
    W = _product(F)
    sv = np.linalg.svd(W, compute_uv=False)
    k = numerical_rank(sv, W.shape)
    loss0 = loss.value(W)
    limit = max_loss_ratio * max(abs(loss0), 1.0)
    times, losses, snapshots = [0.0], [loss0], [[W_.copy() for W_ in F]]
    status, message, nfev = SUCCESS, f"{n_steps} steps done.", 0
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(1, n_steps + 1):
            grads = _layer_gradients(F, loss)
            nfev += 1
            F = [W_ - step * G_ for W_, G_ in zip(F, grads)]
            W = _product(F)
            value = loss.value(W)
            if not (np.isfinite(value) and abs(value) <= limit):
                status = DIVERGED
                message = f"divergence at step {i}: loss {value:.3g} (step too large?)"
                break
            if k > 0:
                sv = np.linalg.svd(W, compute_uv=False)
                if not sv[k - 1] > rank_tol * sv[0]:
                    status = RANK_LOST
                    message = f"loss of rank at step {i}: s_{k}/s_1 = {sv[k - 1] / sv[0]:.3g}"
                    break
            if i % record_every == 0 or i == n_steps:
                times.append(i * step)
                losses.append(value)
                snapshots.append(F)
    return _result(times, losses, snapshots, layers, status, message, nfev)
