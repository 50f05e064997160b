r"""Where gradient descent and flows end (Nguegnang–Rauhut–Terstiege; Bah et al.).

* Nguegnang, Rauhut, Terstiege (arXiv:2108.02040): gradient descent on the layers with a
  small enough step converges to a critical point of :math:`L^N`; for ``N = 2`` and
  almost every start to a global minimizer; for :math:`N \ge 3` to a global minimizer
  of :math:`L` on :math:`\mathcal M_k` for some ``k`` not known in advance. Their exact
  step-size condition is **not** transcribed, and no constant is guessed.
  :func:`descent_limit` measures what a run reached.
* Bah, Rauhut, Terstiege, Westdickenberg (arXiv:1910.05505): for almost every balanced
  start the flow converges to a global minimizer of :math:`L` on :math:`\mathcal M_k`
  for some :math:`k \le r` that is not known in advance (at most the rank of the start),
  and :math:`W(t)` itself converges.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from riemlin._validation import check_factors, final_matrix
from riemlin.losses import RegressionLoss
from riemlin.networks.chain import chain_adjoint, chain_product

__all__ = ["DescentLimit", "descent_limit"]


class DescentLimit(NamedTuple):
    """What a run of descent or flow reached.

    Attributes
    ----------
    rank : int
        ``k``: singular values of the final ``W`` above ``rank_tol * s_1``.
    loss : float
        Final loss.
    optimum : float
        :math:`\\min_{\\operatorname{rank} W \\le k} L(W)`.
    gap : float
        ``loss - optimum``.
    distance : float
        :math:`\\|W - W^*_k\\|_F / \\|W^*_k\\|_F` to the minimizer on rank ``k``.
    gradient_norm : float
        :math:`(\\sum_j \\|\\nabla_{W_j} L^N\\|_F^2)^{1/2}` at the final layers, or the
        norm of :math:`\\nabla L(W)` projected on :math:`T_W \\mathcal M_k` when the run
        has no layers.
    """

    rank: int
    loss: float
    optimum: float
    gap: float
    distance: float
    gradient_norm: float


def descent_limit(result, loss: RegressionLoss, *, rank_tol: float = 1e-6) -> DescentLimit:
    r"""Measure the end of a run: the rank reached and the distance to the optimum there.

    Parameters
    ----------
    result : FlowResult
        From :func:`riemlin.factor_gradient_descent`, :func:`riemlin.factor_gradient_flow`
        or the Riemannian runs (``W`` as matrices, or as points with
        ``output="point"``).
    loss : RegressionLoss
        The loss of the run.
    rank_tol : float, default 1e-6
        Relative threshold for the numerical rank of the final ``W``. Singular values
        that tend to zero do so only in the limit (sublinearly for ``N >= 3``), so the
        threshold must sit well above the rounding level.

    Returns
    -------
    DescentLimit
        The numerical rank of the final ``W``, its loss, the optimum on that rank and
        the gap to it, the relative distance to the minimizer there, and the final
        gradient norm.

    Raises
    ------
    TypeError
        If ``loss`` is not a RegressionLoss or ``result`` has no matrices or points ``W``.
    ValueError
        If the run's matrices do not match the loss, are not finite, or ``rank_tol`` is
        not in (0, 1).

    References
    ----------
    Nguegnang, Rauhut, Terstiege, arXiv:2108.02040 (limits of descent); Bah et al.,
    arXiv:1910.05505 (limits of the flow).
    """
    if not isinstance(loss, RegressionLoss):
        raise TypeError(f"loss must be a RegressionLoss; got {type(loss).__name__}")
    if (
        isinstance(rank_tol, bool)
        or not isinstance(rank_tol, numbers.Real)
        or not (np.isfinite(rank_tol) and 0 < rank_tol < 1)
    ):
        raise ValueError(f"rank_tol must be in (0, 1); got {rank_tol!r}")
    W = final_matrix(result, "result")
    if W.shape != loss.shape:
        raise ValueError(
            f"result: the run's W has shape {W.shape} but the loss expects {loss.shape}"
        )
    u, sv, vt = np.linalg.svd(W, full_matrices=False)
    k = int(np.sum(sv > rank_tol * sv[0])) if sv[0] > 0 else 0
    value = loss.value(W)
    if k == 0:
        optimum, dist = loss.value(np.zeros_like(W)), float(np.linalg.norm(W))
    else:
        Wk, optimum = loss.optimum(k)
        dist = float(np.linalg.norm(W - Wk) / np.linalg.norm(Wk))
    G = loss.gradient(W)
    if getattr(result, "factors", None) is not None:
        F = check_factors(result.factors)
        gnorm = float(
            np.sqrt(sum(np.vdot(g, g) for g in chain_adjoint(F, loss.gradient(chain_product(F)))))
        )
    else:
        uk, vk = u[:, :k], vt[:k].T
        PG = uk @ (uk.T @ G) + (G @ vk) @ vk.T - uk @ (uk.T @ G @ vk) @ vk.T
        gnorm = float(np.linalg.norm(PG))
    return DescentLimit(k, value, optimum, value - optimum, dist, gnorm)
