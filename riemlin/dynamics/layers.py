r"""Gradient flow and gradient descent on the layers of a deep linear network.

The overparameterized loss :math:`L^N(W_1, \dots, W_N) = L(W_N \cdots W_1)` has the
layer gradients :math:`\nabla_{W_j} L^N = D\pi^*(\nabla L(W))_j` (see
:func:`riemlin.networks.factor_gradient`). Its gradient flow conserves the imbalance
matrices :math:`D_j = W_{j+1}^\top W_{j+1} - W_j W_j^\top`; started from balanced layers,
the product follows the Riemannian gradient flow of :mod:`riemlin.dynamics.riemannian` (the
equivalence theorem of Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505).
Gradient *descent* changes the imbalance by exactly
:math:`\eta^2 (G_{j+1}^\top G_{j+1} - G_j G_j^\top)` per step (``G_j`` the layer
gradients; derived in the user guide, section "Gradient descent changes the imbalance
by eta^2").

These functions return the same :class:`riemlin.dynamics.FlowResult` as the Riemannian
ones, with ``imbalance`` (the relative imbalance :func:`riemlin.networks.imbalance_norm`
over time), ``imbalance_drift`` (how far the imbalance matrices moved from their start)
and the final ``factors`` filled in.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate

from riemlin._validation import (
    check_factors,
    check_int,
    check_positive,
    check_times,
    numerical_rank,
)
from riemlin.dynamics.result import FlowResult
from riemlin.dynamics.stepping import DIVERGED, RANK_LOST, SUCCESS, Breakdown, guarded, march
from riemlin.geometry.ambient import ambient_matmul, ambient_rmatmul
from riemlin.losses.base import check_gradient_shape, check_loss, check_loss_shape
from riemlin.networks.balance import imbalance, imbalance_norm
from riemlin.networks.chain import chain_adjoint, chain_product

__all__ = ["factor_gradient_flow", "factor_gradient_descent"]

_INTEGRATORS = ("DOP853", "RK45", "RK23", "Radau", "BDF", "LSODA")
_EXPLICIT = ("DOP853", "RK45", "RK23")  # trial stages may overflow: rejected, not fatal


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
    with np.errstate(over="ignore", invalid="ignore"):
        Ws = np.array([chain_product(F) for F in snapshots])
        finite = [bool(np.all(np.isfinite(W))) for W in Ws]
        nan = np.full(min(Ws.shape[1:]), np.nan)  # a start that overflows has no SVD
        return FlowResult(
            t=times,
            loss=losses,
            matrices=Ws,
            status=status,
            message=message,
            nfev=nfev,
            imbalance=np.array(
                [imbalance_norm(F) if ok else np.nan for F, ok in zip(snapshots, finite)]
            ),
            imbalance_drift=np.array(
                [layers.drift(F) if ok else np.nan for F, ok in zip(snapshots, finite)]
            ),
            factors=[W.copy() for W in snapshots[-1]],
            singular_values=np.array(
                [np.linalg.svd(W, compute_uv=False) if ok else nan for W, ok in zip(Ws, finite)]
            ),
        )


def _start(factors, loss):
    """Validate the layers and the loss; return the layers and the start's product."""
    F = check_factors(factors)
    check_loss(loss)
    with np.errstate(over="ignore", invalid="ignore"):
        W = chain_product(F)
    check_loss_shape(loss, W.shape, "the product of factors")
    if getattr(loss, "shape", None) is None and np.all(np.isfinite(W)):
        check_gradient_shape(loss.gradient(W), W.shape)
    return F, W


def _layer_gradients(factors, loss):
    r"""The layer gradients :math:`S_j^\top \nabla L(W) P_{j-1}^\top` by backpropagation.

    One forward pass forms the prefixes :math:`P_j = W_j \cdots W_1` (the last is the
    product :math:`W` the loss is evaluated at) and one backward pass the products
    :math:`B_j = S_j^\top \nabla L(W)` by :math:`B_{j-1} = W_j^\top B_j`: ``3N - 3``
    matrix products in all, against about ``5N`` for :func:`riemlin.networks.chain_product`
    followed by :func:`riemlin.networks.chain_adjoint`, which form the prefixes twice and
    the suffixes :math:`S_j` as well. The gradient is used in whatever form the loss
    returns it (dense, sparse or low-rank) for the first products only.
    """
    prefix = [factors[0]]
    for W in factors[1:]:
        prefix.append(W @ prefix[-1])
    G = loss.gradient(prefix[-1])
    N = len(factors)
    if N == 1:
        return chain_adjoint(factors, G)
    grads = [None] * N
    grads[-1] = ambient_matmul(G, prefix[-2].T)
    B = ambient_rmatmul(G, factors[-1]).T  # S_{N-1}^T G = W_N^T G
    for j in range(N - 2, 0, -1):
        grads[j] = B @ prefix[j - 1].T
        B = factors[j].T @ B
    grads[0] = B
    return grads


def factor_gradient_flow(
    factors,
    loss,
    t_eval,
    integrator: str = "DOP853",
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
    integrator : str, default "DOP853"
        Any explicit or implicit integrator of :func:`scipy.integrate.solve_ivp` (as in
        :func:`riemlin.riemannian_gradient_flow`, whose ``formulation`` picks the
        coordinates and ``integrator`` the scheme).
    rtol, atol : float
        Tolerances of :func:`scipy.integrate.solve_ivp`.
    max_loss_ratio : float, default 1e8
        The run stops with status ``-2`` once ``|L| > max_loss_ratio * max(|L(0)|, 1)``.

    Returns
    -------
    FlowResult
        ``W`` holds the products at the output times, ``imbalance`` the relative
        imbalance, ``imbalance_drift`` the change of the imbalance matrices (zero for the
        exact flow), ``factors`` the final layers. Status ``-2`` for a non-finite
        gradient or state or an exploding loss (also a start whose loss is not finite:
        a one-point result), ``-1`` when the integrator fails or would need more than
        ``1e7`` further steps (:mod:`riemlin.dynamics.stepping`); a single output time gives the
        start.

    Raises
    ------
    ValueError, TypeError
        For bad arguments: layers that are not a list of finite real 2-D arrays whose
        shapes chain, a loss whose shape (or gradient at the start) does not fit their
        product, bad ``t_eval``, ``integrator`` or tolerances.

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
    >>> res.success, round(float(res.loss[-1]), 8)
    (True, 0.0)
    """
    t = check_times(t_eval)
    if integrator not in _INTEGRATORS:
        raise ValueError(f"integrator must be one of {_INTEGRATORS}; got {integrator!r}")
    rtol = check_positive(rtol, "rtol")
    atol = check_positive(atol, "atol")
    max_loss_ratio = check_positive(max_loss_ratio, "max_loss_ratio")
    F0, W0 = _start(factors, loss)
    with np.errstate(over="ignore", invalid="ignore"):
        layers = _Layers(F0)
    snapshots = [F0]
    with np.errstate(over="ignore", invalid="ignore"):
        loss0 = loss.value(W0)
    losses = [loss0]
    nfev = 0
    if not np.isfinite(loss0):
        message = f"divergence at t={t[0]:.6g}: the loss at the start is {loss0}"
        return _result(t[:1], losses, snapshots, layers, DIVERGED, message, nfev)
    limit = max_loss_ratio * max(abs(loss0), 1.0)

    def rhs(_t, y):
        nonlocal nfev
        nfev += 1
        grads = _layer_gradients(layers.unpack(y), loss)
        return -layers.pack(grads)

    def value_at(tt, factors_):
        value = loss.value(chain_product(factors_))
        if not abs(value) <= limit:
            raise Breakdown(
                DIVERGED, f"divergence at t={tt:.6g}: loss {value:.3g} above {limit:.3g}"
            )
        return value

    def record(tt, y):
        F = layers.unpack(y.copy())
        losses.append(value_at(tt, F))
        snapshots.append(F)

    guard = guarded(rhs, reject_trials=integrator in _EXPLICIT)

    def make_solver():
        solver = getattr(integrate, integrator)
        return solver(guard, t[0], layers.pack(F0), t[-1], rtol=rtol, atol=atol)

    status, message = SUCCESS, "The flow reached the end of t_eval."
    if t.size > 1:
        status, message = march(
            make_solver,
            t,
            record,
            lambda tt, y: value_at(tt, layers.unpack(y)),
            trial_guard=guard,
        )
    return _result(t[: len(snapshots)], losses, snapshots, layers, status, message, nfev)


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
        :class:`~riemlin.dynamics.FlowResult` (the product, its singular values, imbalance
        norms that take an SVD per layer), which cost more than a step. Record sparsely
        in long runs.

    Returns
    -------
    FlowResult
        ``t = step * iteration``. Status ``-2`` for a non-finite gradient, layers or loss
        or an exploding loss, ``-3`` when the product loses rank.

    Raises
    ------
    ValueError, TypeError
        For bad arguments, as in :func:`factor_gradient_flow`.

    References
    ----------
    Nguegnang, Rauhut, Terstiege, arXiv:2108.02040 (convergence of descent on the
    layers); Arora et al., arXiv:1810.02281 (linear rate from balanced starts).
    """
    step = check_positive(step, "step")
    n_steps = check_int(n_steps, "n_steps", minimum=0)
    record_every = check_int(record_every, "record_every")
    rank_tol = check_positive(rank_tol, "rank_tol")
    max_loss_ratio = check_positive(max_loss_ratio, "max_loss_ratio")
    F, W = _start(factors, loss)
    with np.errstate(over="ignore", invalid="ignore"):
        layers = _Layers(F)
        loss0 = loss.value(W)
    times, losses, snapshots = [0.0], [loss0], [[W_.copy() for W_ in F]]
    status, message, nfev = SUCCESS, f"{n_steps} steps done.", 0
    if not np.isfinite(loss0):
        status, message = DIVERGED, f"divergence at step 0: the loss at the start is {loss0}"
        return _result(times, losses, snapshots, layers, status, message, nfev)
    k = numerical_rank(np.linalg.svd(W, compute_uv=False), W.shape)
    limit = max_loss_ratio * max(abs(loss0), 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(1, n_steps + 1):
            grads = _layer_gradients(F, loss)
            nfev += 1
            F = [W_ - step * G_ for W_, G_ in zip(F, grads)]
            W = chain_product(F)
            value = loss.value(W)
            if not all(np.all(np.isfinite(W_)) for W_ in F) or not np.all(np.isfinite(W)):
                status = DIVERGED
                message = f"divergence at step {i}: non-finite layers (non-finite gradient?)"
                break
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
