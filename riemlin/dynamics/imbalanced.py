r"""The Riemannian gradient flow of an imbalanced two-layer network, and its check.

Two layers of hidden width ``k`` with imbalance :math:`W_2^\top W_2 - W_1 W_1^\top =
\lambda I` (conserved by their gradient flow) move their product by

.. math:: \dot W = -\mathcal A^\lambda_W(P_T \nabla L(W)),

the Riemannian gradient flow of :math:`L` on :math:`\mathcal M_k` under the metric of
:class:`riemlin.geometry.imbalanced.FixedRankImbalancedTwoLayer` (derived in the user
guide, chapter "Claims beyond the theorem"). :func:`imbalanced_gradient_flow` integrates it
on the dense matrix; :func:`compare_imbalanced_flows` runs it beside the layer flow from
layers with exactly that imbalance (:func:`riemlin.networks.imbalanced.imbalanced_factors`),
as :func:`riemlin.compare_flows` does for balanced layers. For imbalances that are not a
multiple of the identity the product's velocity is not a function of ``W`` alone;
:func:`riemlin.compare_flows` then measures how far the layer flow's product leaves the
balanced Riemannian flow.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.integrate import DOP853

from riemlin._validation import check_positive, check_real, check_times, numerical_rank
from riemlin.dynamics.equivalence import Comparison
from riemlin.dynamics.layers import factor_gradient_flow
from riemlin.dynamics.result import FlowResult
from riemlin.dynamics.stepping import DIVERGED, RANK_LOST, SUCCESS, Breakdown, guarded, march
from riemlin.geometry.imbalanced import apply_imbalanced_metric, imbalanced_weights
from riemlin.geometry.tangent import project_products, tangent_matrix
from riemlin.losses.base import check_loss, check_loss_shape, gradient_products
from riemlin.networks.balance import svd_of
from riemlin.networks.chain import chain_product
from riemlin.networks.imbalanced import imbalanced_factors

__all__ = ["imbalanced_gradient_flow", "compare_imbalanced_flows"]


def _velocity(W, k, lam, loss):
    u, s, vt = np.linalg.svd(W, full_matrices=False)
    u, s, vt = u[:, :k], s[:k], vt[:k]
    GV, GtU = gradient_products(loss, (u, s, vt), vt.T, u)
    Up, M, Vp = apply_imbalanced_metric(
        imbalanced_weights(s, lam), project_products(u, vt, GV, GtU)
    )
    return -tangent_matrix((u, s, vt), (Up, M, Vp)), s


def imbalanced_gradient_flow(
    W0,
    loss,
    lam: float,
    t_eval,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    *,
    rank_tol: float = 1e-13,
    max_loss_ratio: float = 1e8,
) -> FlowResult:
    r"""Integrate :math:`\dot W = -\mathcal A^\lambda_W(P_T \nabla L(W))` on :math:`\mathcal M_k`.

    DOP853 on the ``m x n`` matrix (a thin SVD per evaluation: small sizes), with the
    stepping rule and status codes of :func:`riemlin.riemannian_gradient_flow`
    (:mod:`riemlin.dynamics.stepping`).

    Parameters
    ----------
    W0 : array_like, shape (m, n)
        The start; its numerical rank is ``k``.
    loss : loss protocol object
        See :mod:`riemlin.losses`.
    lam : float
        The imbalance :math:`\lambda` of the layers the flow describes.
    t_eval : array_like
        Strictly increasing output times.
    rtol, atol : float
        Tolerances of DOP853.
    rank_tol : float, default 1e-13
        Status ``-3`` once ``s_k / s_1`` falls below it.
    max_loss_ratio : float, default 1e8
        Status ``-2`` once ``|L| > max_loss_ratio * max(|L(W0)|, 1)``.

    Returns
    -------
    FlowResult
        Matrices at the output times; ``imbalance`` and ``factors`` are ``None``.

    Raises
    ------
    ValueError, TypeError
        For bad arguments (as :func:`riemlin.riemannian_gradient_flow`).

    References
    ----------
    Bah et al., arXiv:1910.05505 (``lam = 0``); Tarmoun, França, Haeffele, Vidal, ICML
    2021, PMLR 139 (the conserved imbalance of two-layer networks).
    """
    lam = check_real(lam, "lam")
    t = check_times(t_eval)
    rtol = check_positive(rtol, "rtol")
    atol = check_positive(atol, "atol")
    rank_tol = check_positive(rank_tol, "rank_tol")
    max_loss_ratio = check_positive(max_loss_ratio, "max_loss_ratio")
    check_loss(loss)
    u0, s0, vt0 = svd_of(W0, "W0")
    if s0.size == 0:
        raise ValueError("W0 must have rank at least one")
    W_start = (u0 * s0) @ vt0
    check_loss_shape(loss, W_start.shape, "W0")
    k = s0.size
    shape = W_start.shape
    nfev = 0

    def rhs(_t, y):
        nonlocal nfev
        nfev += 1
        return _velocity(y.reshape(shape), k, lam, loss)[0].ravel()

    loss0 = loss.value(W_start)
    times, losses, mats = [t[0]], [loss0], [W_start]
    limit = max_loss_ratio * max(abs(loss0), 1.0)

    def after_step(tt, y):
        s = np.linalg.svd(y.reshape(shape), compute_uv=False)
        if not s[k - 1] > rank_tol * s[0]:
            raise Breakdown(
                RANK_LOST, f"loss of rank at t={tt:.6g}: s_k/s_1 = {s[k - 1] / s[0]:.3g}"
            )
        if not abs(loss.value(y.reshape(shape))) <= limit:
            raise Breakdown(DIVERGED, f"divergence at t={tt:.6g}")

    def record(tt, y):
        W = y.reshape(shape).copy()
        times.append(tt)
        losses.append(loss.value(W))
        mats.append(W)

    def make_solver():
        return DOP853(guarded(rhs), t[0], W_start.ravel(), t[-1], rtol=rtol, atol=atol)

    status, message = SUCCESS, "The flow reached the end of t_eval."
    if t.size > 1:
        status, message = march(make_solver, t, record, after_step)
    Ws = np.array(mats)
    svals = np.array([np.linalg.svd(W, compute_uv=False)[:k] for W in Ws])
    return FlowResult(
        t=times,
        loss=losses,
        matrices=Ws,
        status=status,
        message=message,
        nfev=nfev,
        singular_values=svals,
    )


def compare_imbalanced_flows(
    W0, loss, lam: float, t_eval, rng=None, *, rtol: float = 1e-10, atol: float = 1e-12
) -> Comparison:
    r"""The layer flow from imbalance :math:`\lambda I` against the flow of :math:`g^\lambda`.

    Draws two layers over ``W0`` of hidden width ``k = rank W0`` with
    :math:`W_2^\top W_2 - W_1 W_1^\top = \lambda I`
    (:func:`riemlin.networks.imbalanced.imbalanced_factors`), runs their gradient flow
    (:func:`riemlin.factor_gradient_flow`) and :func:`imbalanced_gradient_flow` from
    ``W0``, and compares the products as :func:`riemlin.compare_flows` does. The
    mismatch is at the integrators' accuracy when the derivation holds.

    Parameters
    ----------
    W0 : array_like, shape (m, n)
        The start; its numerical rank ``k`` is the hidden width.
    loss : loss protocol object
        See :mod:`riemlin.losses`.
    lam : float
        The imbalance :math:`\lambda`.
    t_eval : array_like
        Strictly increasing output times.
    rng : None, int, SeedSequence or Generator, optional
        Draws the free orthogonal factor of the layers.
    rtol, atol : float
        Tolerances of both integrators.

    Returns
    -------
    Comparison
        With ``depth = 2``; ``imbalance_drift`` measures how well the layer flow kept
        :math:`Q = \lambda I`.

    Examples
    --------
    >>> import numpy as np
    >>> from riemlin import RegressionLoss
    >>> rng = np.random.default_rng(0)
    >>> loss = RegressionLoss(rng.standard_normal((4, 10)), rng.standard_normal((3, 10)))
    >>> W0 = rng.standard_normal((3, 2)) @ rng.standard_normal((2, 4))
    >>> cmp = compare_imbalanced_flows(W0, loss, 1.5, np.linspace(0, 1, 5), rng=1)
    >>> cmp.max_relative_mismatch < 1e-7
    True
    """
    layers = imbalanced_factors(W0, lam, rng)
    W_start = chain_product(layers)
    k = numerical_rank(np.linalg.svd(W_start, compute_uv=False), W_start.shape)
    start = time.perf_counter()
    fac = factor_gradient_flow(layers, loss, t_eval, rtol=rtol, atol=atol)
    seconds_factor = time.perf_counter() - start
    start = time.perf_counter()
    riem = imbalanced_gradient_flow(W_start, loss, lam, t_eval, rtol=rtol, atol=atol)
    seconds_riemannian = time.perf_counter() - start
    return Comparison.from_runs(layers, loss, fac, riem, k, seconds_factor, seconds_riemannian)
