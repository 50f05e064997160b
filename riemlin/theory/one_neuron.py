r"""Where a network with a one-neuron-wide layer ends: prediction and classification.

Whitened data, target :math:`\Phi = \sum_i s_i u_i v_i^\top` with distinct
:math:`s_1 > s_2 > \dots > 0`, balanced layers one of which has width 1, so
:math:`W(t) = \sigma(t)\, u(t) v(t)^\top \in \mathcal M_1`. The candidate limits are the
critical points of :math:`L` on :math:`\mathcal M_1` and the origin: the global minimizer
:math:`s_1 u_1 v_1^\top`, the saddles :math:`s_i u_i v_i^\top` (:math:`i \ge 2`) and 0
(Chen, Lin, Zhang, arXiv:2201.02761; Eftekhari, arXiv:2002.09852).

*Derived rule* (user guide, section "One-neuron-wide layers: the trajectory and the limit
rule"; checked by ``tests/test_theorems.py`` on seeded ensembles): with
:math:`W(0) = \sigma_0 u_0 v_0^\top` let
:math:`i^* = \min\{i : u_i^\top u_0 + v_i^\top v_0 \ne 0\}`. Then the limit is the global
minimizer if :math:`i^* = 1`, the saddle :math:`s_{i^*} u_{i^*} v_{i^*}^\top` if
:math:`i^* \ge 2`, and the origin if no such ``i`` exists. Reason: in the time
:math:`\tau` with :math:`d\tau/dt = \sigma^{(N-2)/N}` the direction follows the linear
flow :math:`(x; y)' = [[0, \Phi], [\Phi^\top, 0]](x; y)`, whose growing modes
:math:`(u_i; v_i)` carry the coefficients :math:`(u_i^\top u_0 + v_i^\top v_0)/\sqrt 2`.
The exact conditions stated by Chen et al. and by Eftekhari are not transcribed;
:func:`predict_limit` implements the derived rule.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from riemlin._validation import check_factors, check_positive, final_matrix, numerical_rank
from riemlin.losses import RegressionLoss
from riemlin.networks.balance import is_balanced
from riemlin.networks.chain import chain_product

__all__ = ["Limit", "classify_limit", "predict_limit"]


class Limit(NamedTuple):
    """A limit of a one-neuron-wide run.

    Attributes
    ----------
    kind : str
        ``"global"``, ``"saddle"``, ``"origin"`` or (for :func:`classify_limit` only)
        ``"undecided"`` when the final matrix is not within ``tol`` of any candidate.
    pair : int or None
        1-based index ``i`` of the singular pair ``s_i u_i v_i^T`` (``1`` for
        ``"global"``), ``None`` for the origin.
    distance : float
        :func:`classify_limit`: distance of the final matrix to the candidate, relative
        to :math:`\\|\\Phi\\|_F`; :func:`predict_limit`: the coefficient
        :math:`|u_{i^*}^\\top u_0 + v_{i^*}^\\top v_0|` that decided (0 for the origin).
    """

    kind: str
    pair: int | None
    distance: float


def _target_pairs(loss):
    if not isinstance(loss, RegressionLoss):
        raise TypeError(f"loss must be a RegressionLoss; got {type(loss).__name__}")
    if not loss.is_whitened:
        raise ValueError("loss must have whitened data (X X^T = I); see RegressionLoss")
    Phi = loss.target
    U, s, Vt = np.linalg.svd(Phi, full_matrices=False)
    r = numerical_rank(s, Phi.shape)
    if r == 0:
        raise ValueError("the target Y X^T is zero; every start is then attracted to 0")
    if r > 1 and np.any(-np.diff(s[:r]) <= 1e-10 * s[0]):
        raise ValueError(f"the target's singular values must be distinct; got {s[:r]}")
    return Phi, U[:, :r], s[:r], Vt[:r]


def _kind(i):
    return "global" if i == 1 else "saddle"


def predict_limit(factors, loss: RegressionLoss, *, tol: float = 1e-10) -> Limit:
    r"""Predict the limit of the balanced flow from a rank-one start by the :math:`i^*` rule.

    Parameters
    ----------
    factors : list of ndarray
        Balanced layers (relative imbalance ``<= 1e-8``) whose product has rank 1.
    loss : RegressionLoss
        Whitened, with distinct nonzero singular values of the target.
    tol : float, default 1e-10
        :math:`|u_i^\top u_0 + v_i^\top v_0| \le` ``tol`` counts as zero.

    Returns
    -------
    Limit
        ``kind`` ``"global"``, ``"saddle"`` or ``"origin"``.

    Raises
    ------
    ValueError
        If the layers are not balanced, the product is not of rank one or does not match
        the loss, or the loss is not whitened.

    References
    ----------
    The user guide, section "One-neuron-wide layers: the trajectory and the limit rule"
    (the derived rule); Chen, Lin, Zhang, arXiv:2201.02761, and Eftekhari,
    arXiv:2002.09852, for the statements it is compared with.
    """
    F = check_factors(factors)
    Phi, U, s, Vt = _target_pairs(loss)
    if not is_balanced(F, rtol=1e-8):
        raise ValueError("factors must be balanced (relative imbalance <= 1e-8)")
    W = chain_product(F)
    if W.shape != Phi.shape:
        raise ValueError(f"the product has shape {W.shape} but the loss expects {Phi.shape}")
    u0s, sv, v0t = np.linalg.svd(W, full_matrices=False)
    if sv[0] == 0 or (sv.size > 1 and sv[1] > 1e-10 * sv[0]):
        raise ValueError(f"the product of the factors must have rank one; singular values {sv}")
    u0, v0 = u0s[:, 0], v0t[0]
    coeff = U.T @ u0 + Vt @ v0
    big = np.flatnonzero(np.abs(coeff) > tol)
    if big.size == 0:
        return Limit("origin", None, 0.0)
    i = int(big[0]) + 1
    return Limit(_kind(i), i, float(abs(coeff[big[0]])))


def classify_limit(result, loss: RegressionLoss, *, tol: float = 1e-3) -> Limit:
    r"""Name the candidate limit closest to the last matrix of a run.

    Candidates: :math:`s_i u_i v_i^\top` for each singular pair of the target (pair 1 is
    the global minimizer on :math:`\mathcal M_1`) and the origin. The run's final ``W``
    is assigned to the nearest one if it lies within ``tol`` :math:`\|\Phi\|_F`, else
    the kind is ``"undecided"`` (the run has not converged).

    Parameters
    ----------
    result : FlowResult or ndarray
        A run of :func:`riemlin.riemannian_gradient_flow` (``k = 1``),
        :func:`riemlin.factor_gradient_flow` or a descent; or the final matrix itself.
    loss : RegressionLoss
        Whitened.
    tol : float, default 1e-3
        Relative distance for a decision.

    Returns
    -------
    Limit
        ``kind`` (``"global"``, ``"saddle"``, ``"origin"`` or ``"undecided"``), the
        index ``pair`` of the singular pair for the first two, and ``distance``, the
        distance to the nearest candidate relative to :math:`\|\Phi\|_F`.

    Raises
    ------
    TypeError
        If ``loss`` is not a RegressionLoss, ``result`` holds no real matrix, or ``tol``
        is not a real number.
    ValueError
        If the loss is not whitened, its target is zero or has repeated singular values,
        the final ``W`` has another shape than the target or is not finite, or ``tol``
        is not positive and finite.

    References
    ----------
    Chen, Lin, Zhang, arXiv:2201.02761; Eftekhari, arXiv:2002.09852; the user guide,
    section "One-neuron-wide layers: the trajectory and the limit rule".
    """
    Phi, U, s, Vt = _target_pairs(loss)
    W = final_matrix(result, "result")
    if W.shape != Phi.shape:
        raise ValueError(
            f"result: the run's W has shape {W.shape} but the loss expects {Phi.shape}"
        )
    tol = check_positive(tol, "tol")
    scale = float(np.linalg.norm(Phi))
    dists = [np.linalg.norm(W - s[i] * np.outer(U[:, i], Vt[i])) / scale for i in range(s.size)]
    dists.append(np.linalg.norm(W) / scale)
    best = int(np.argmin(dists))
    if dists[best] > tol:
        return Limit("undecided", None, float(dists[best]))
    if best == s.size:
        return Limit("origin", None, float(dists[best]))
    return Limit(_kind(best + 1), best + 1, float(dists[best]))
