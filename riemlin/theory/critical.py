r"""Critical points of the regression loss on :math:`\mathcal M_k` and their index.

With :math:`Q = (XX^\top)^{1/2}` and :math:`B = YX^\top Q^{-1} = \sum_i b_i p_i q_i^\top`
(distinct :math:`b_1 > b_2 > \dots > 0`), the critical points of
:math:`L(W) = \tfrac12\|WX - Y\|_F^2` restricted to :math:`\mathcal M_k` are

.. math::

    W_S = \Big(\sum_{i \in S} b_i p_i q_i^\top\Big) Q^{-1}, \qquad |S| = k, \qquad
    L(W_S) = \tfrac12\Big(\|Y\|_F^2 - \sum_{i\in S} b_i^2\Big)

(Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505; Kawaguchi, arXiv:1605.07110,
and Baldi–Hornik 1989 for the unconstrained landscape). Only :math:`S = \{1..k\}` is a
minimizer; every other :math:`W_S` is a strict saddle.

*Derived* (written out in the user guide, section "Critical points and their index",
and checked by ``tests/test_theorems.py``): in the whitened
case the Hessian form of :math:`L|_{\mathcal M_k}` at :math:`W_S`, in the Frobenius-
orthonormal tangent coordinates ``(Up, M, Vp)``, is
:math:`\|M\|^2 + \sum_{i \in S, j \notin S} (a_{ji}^2 + c_{ji}^2 - 2\,(b_j / b_i)\,
a_{ji} c_{ji}) + \dots` (``a``, ``c`` the coordinates of ``Up``, ``Vp`` along
:math:`p_j e_i^\top`, :math:`q_j e_i^\top`; the remaining directions have weight 1), so
its eigenvalues are 1 and :math:`1 \pm b_j/b_i`, and its index is
:math:`\#\{(i, j) : i \in S,\ j \notin S,\ b_j > b_i\}`. At a critical point the
Hessian *form* does not depend on the metric, so this index is the same under
:math:`g` for every depth.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np
import scipy.linalg

from riemlin._validation import (
    check_array,
    check_int,
    check_point,
    check_positive,
    numerical_rank,
)
from riemlin.geometry.ambient import is_triple
from riemlin.geometry.manifold import FixedRankDeepLinear, FixedRankPoint, FixedRankTangentVector
from riemlin.losses import RegressionLoss

__all__ = [
    "CriticalPoint",
    "HessianIndex",
    "critical_points",
    "critical_point_index",
]


class CriticalPoint(NamedTuple):
    """A critical point ``W_S`` of the loss on ``M_k``.

    Attributes
    ----------
    subset : tuple of int
        ``S``, 0-based indices into the singular values ``b`` of ``B`` (descending).
    W : ndarray, shape (m, n)
        ``W_S``.
    value : float
        ``L(W_S)``.
    predicted_index : int
        ``#{(i, j): i in S, j not in S, b_j > b_i}`` (derived in the user guide, section
        "Critical points and their index"). ``W -> W Q`` maps the problem onto the
        whitened one with target ``B`` and is a diffeomorphism of ``M_k``, which preserves
        critical points and their index.
    """

    subset: tuple
    W: np.ndarray
    value: float
    predicted_index: int


class HessianIndex(NamedTuple):
    """Inertia of the Riemannian Hessian at a point.

    Attributes
    ----------
    negative, zero, positive : int
        Counts of eigenvalues ``< -tol``, in ``[-tol, tol]``, ``> tol``.
    eigenvalues : ndarray
        Eigenvalues of the Hessian operator (self-adjoint for ``g``), ascending.
    asymmetry : float
        ``max |H - H^T| / max |H|`` of the matrix ``g(e_i, Hess e_j)`` in a basis; a
        self-adjoint Hessian gives rounding level.
    """

    negative: int
    zero: int
    positive: int
    eigenvalues: np.ndarray
    asymmetry: float


def _whitening(loss: RegressionLoss):
    """``B = Y X^T Q^{-1}`` and ``Q^{-1}`` from the thin SVD ``X = P diag(sig) R^T``."""
    P, sig, Rt = np.linalg.svd(loss.X, full_matrices=False)
    B = (loss.Y @ Rt.T) @ P.T
    Qinv = (P / sig) @ P.T
    return B, Qinv


def critical_points(loss: RegressionLoss, k: int, *, max_points: int = 10_000) -> list:
    r"""All critical points :math:`W_S` of :math:`L` on :math:`\mathcal M_k`, best first.

    Parameters
    ----------
    loss : RegressionLoss
        The loss :math:`\tfrac12\|WX - Y\|_F^2`, ``X X^T`` invertible.
    k : int
        Rank, at most the number ``r`` of positive singular values of ``B``.
    max_points : int, default 10000
        Refuse to enumerate more than this many subsets (``C(r, k)`` of them).

    Returns
    -------
    list of CriticalPoint
        Sorted by loss value; the first is the global minimizer on :math:`\mathcal M_k`.

    Raises
    ------
    TypeError
        If ``loss`` is not a :class:`~riemlin.RegressionLoss`.
    ValueError
        If ``k > r``, the positive singular values of ``B`` are not distinct (relative gap
        ``<= 1e-10``; the critical set is then not a finite set of points) or there are
        more than ``max_points`` subsets.

    References
    ----------
    Bah et al., arXiv:1910.05505 (critical points of :math:`L` on
    :math:`\mathcal M_k`); the user guide, section "Critical points and their index".
    """
    if not isinstance(loss, RegressionLoss):
        raise TypeError(f"loss must be a RegressionLoss; got {type(loss).__name__}")
    k = check_int(k, "k")
    max_points = check_int(max_points, "max_points")
    B, Qinv = _whitening(loss)
    Pb, b, Qbt = np.linalg.svd(B, full_matrices=False)
    r = numerical_rank(b, B.shape)
    if k > r:
        raise ValueError(f"k={k} exceeds the rank r={r} of B = Y X^T (X X^T)^(-1/2)")
    gaps = -np.diff(b[: r + 1 if r < b.size else r]) / b[0]
    if np.any(gaps <= 1e-10):
        raise ValueError(
            "the singular values of B = Y X^T (X X^T)^(-1/2) must be distinct; got "
            f"{b[: r + 1]} (equal values give a continuum of critical points)"
        )
    count = math.comb(r, k)
    if count > max_points:
        raise ValueError(f"C(r={r}, k={k}) = {count} subsets exceed max_points={max_points}")
    y2 = float(np.vdot(loss.Y, loss.Y))
    bb = np.concatenate((b, np.zeros(max(0, min(B.shape) - b.size))))
    out = []
    for S in itertools.combinations(range(r), k):
        idx = list(S)
        W = ((Pb[:, idx] * b[idx]) @ Qbt[idx]) @ Qinv
        value = 0.5 * (y2 - float(np.sum(b[idx] ** 2)))
        outside = [j for j in range(bb.size) if j not in S]
        index = sum(1 for i in S for j in outside if bb[j] > bb[i])
        out.append(CriticalPoint(tuple(S), W, value, index))
    out.sort(key=lambda c: c.value)
    return out


def _tangent_basis(point):
    """A Frobenius-orthonormal basis of the tangent space, as (Up, M, Vp) triples."""
    u, _, vt = point
    m, k = u.shape
    n = vt.shape[1]
    Uperp = scipy.linalg.null_space(u.T)
    Vperp = scipy.linalg.null_space(vt)
    basis = []
    for a in range(k):
        for b in range(k):
            M = np.zeros((k, k))
            M[a, b] = 1.0
            basis.append(FixedRankTangentVector(np.zeros((m, k)), M, np.zeros((n, k))))
    for a in range(Uperp.shape[1]):
        for b in range(k):
            Up = np.zeros((m, k))
            Up[:, b] = Uperp[:, a]
            basis.append(FixedRankTangentVector(Up, np.zeros((k, k)), np.zeros((n, k))))
    for a in range(Vperp.shape[1]):
        for b in range(k):
            Vp = np.zeros((n, k))
            Vp[:, b] = Vperp[:, a]
            basis.append(FixedRankTangentVector(np.zeros((m, k)), np.zeros((k, k)), Vp))
    return basis


def critical_point_index(
    W, loss: RegressionLoss, depth: int, k: int | None = None, *, hessian=None, tol=1e-8
) -> HessianIndex:
    r"""Inertia of the Riemannian Hessian of :math:`L` on :math:`(\mathcal M_k, g)` at ``W``.

    Builds the matrix :math:`H_{ij} = g_W(e_i, \operatorname{Hess}^g L(W)[e_j])` and the
    Gram matrix :math:`\Gamma_{ij} = g_W(e_i, e_j)` in a Frobenius-orthonormal basis of
    :math:`T_W\mathcal M_k` (dimension :math:`k(m+n-k)`) and solves
    :math:`H x = \lambda \Gamma x`. The counts of negative, zero and positive
    :math:`\lambda` are the index, nullity and co-index (Sylvester); a strict saddle has
    ``negative >= 1``, a nondegenerate local minimizer ``negative == zero == 0``.

    Parameters
    ----------
    W : ndarray, shape (m, n), or FixedRankPoint
        The point (typically a critical point from :func:`critical_points`).
    loss : RegressionLoss
        Supplies :math:`G = \nabla L(W)` and :math:`H_\xi = \xi X X^\top`.
    depth : int
        Depth ``N`` of the metric.
    k : int, optional
        Rank; defaults to the numerical rank of ``W``.
    hessian : callable, optional
        ``hessian(manifold, point, G, H_xi, xi) -> FixedRankTangentVector``. Default:
        :meth:`riemlin.FixedRankDeepLinear.riemannian_hessian_from_matrix`.
    tol : float, default 1e-8
        Eigenvalues with :math:`|\lambda| \le` ``tol * max|lambda|`` count as zero.

    Returns
    -------
    HessianIndex
        The counts of negative, zero and positive eigenvalues (index, nullity,
        co-index), the eigenvalues in ascending order and the asymmetry of the Hessian
        matrix in the basis.

    Raises
    ------
    TypeError
        If ``loss`` is not a RegressionLoss, or ``W`` holds non-real data.
    ValueError
        For a matrix or point that is not finite, not of rank ``k`` (a point: not
        orthonormal, see :func:`riemlin._validation.check_point`) or whose shape does not
        match the loss.

    References
    ----------
    Absil, Mahony, Sepulchre 2008, section 5.5 (the Hessian at a critical point); the user
    guide, sections "A derivation through the layers" (the Hessian under :math:`g`) and
    "Critical points and their index".
    """
    if not isinstance(loss, RegressionLoss):
        raise TypeError(f"loss must be a RegressionLoss; got {type(loss).__name__}")
    depth = check_int(depth, "depth")
    if is_triple(W):
        point = FixedRankPoint(*check_point(W, "W"))
        m, n, kk = point[0].shape[0], point[2].shape[1], point[1].size
        if k is not None and check_int(k, "k") != kk:
            raise ValueError(f"k={k} does not match the rank {kk} of the point W")
    else:
        Wd = check_array(W, "W", ndim=2)
        m, n = Wd.shape
        if k is None:
            k = numerical_rank(np.linalg.svd(Wd, compute_uv=False), (m, n))
            if k == 0:
                raise ValueError("W is the zero matrix, which is on no M_k (k >= 1)")
        kk = check_int(k, "k")
        if kk > min(m, n):
            raise ValueError(f"k={kk} exceeds min(m, n) = {min(m, n)} for W of shape {(m, n)}")
        point = None
    if (m, n) != loss.shape:
        raise ValueError(f"W has shape {(m, n)} but the loss expects {loss.shape}")
    tol = check_positive(tol, "tol")
    if hessian is not None and not callable(hessian):
        raise TypeError(f"hessian must be callable or None; got {type(hessian).__name__}")
    manifold = FixedRankDeepLinear(m, n, kk, depth)
    if point is None:
        point = manifold.point_from_matrix(Wd)
    if hessian is None:

        def hessian(man, p, G, H, xi):
            return man.riemannian_hessian_from_matrix(p, G, H, xi)

    try:
        return _index(manifold, point, loss, hessian, tol)
    except ValueError as exc:  # e.g. metric weights that overflow at an extreme point
        raise ValueError(f"W: {exc}") from None


def _index(manifold, point, loss, hessian, tol) -> HessianIndex:
    Wm = manifold.point_to_matrix(point)
    G = loss.gradient(Wm)
    XXt = loss.X @ loss.X.T
    basis = _tangent_basis(point)
    images = []
    for e in basis:
        xi = manifold.tangent_to_matrix(point, e)
        images.append(hessian(manifold, point, G, xi @ XXt, e))
    d = len(basis)
    H = np.empty((d, d))
    Gram = np.empty((d, d))
    for i, ei in enumerate(basis):
        for j in range(d):
            H[i, j] = manifold.inner_product(point, ei, images[j])
            Gram[i, j] = manifold.inner_product(point, ei, basis[j])
    scale = float(np.max(np.abs(H))) or 1.0
    asym = float(np.max(np.abs(H - H.T))) / scale
    lam = scipy.linalg.eigh(0.5 * (H + H.T), 0.5 * (Gram + Gram.T), eigvals_only=True)
    cut = tol * float(np.max(np.abs(lam)))
    return HessianIndex(
        int(np.sum(lam < -cut)),
        int(np.sum(np.abs(lam) <= cut)),
        int(np.sum(lam > cut)),
        lam,
        asym,
    )
