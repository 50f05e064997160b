r"""Tangent vectors of :math:`\mathcal M_k` and the metric-projection retraction, as formulas.

At :math:`W = u\,\mathrm{diag}(s)\,v^\top` a tangent vector is
:math:`\xi = u M v^\top + U_p v^\top + u V_p^\top` with :math:`u^\top U_p = 0`,
:math:`v^\top V_p = 0` (pymanopt's ``(Up, M, Vp)``; Vandereycken, SIAM J. Optim. 23
(2013), for these coordinates). These functions are plain numpy with no input checks;
:class:`riemlin.FixedRankDeepLinear` checks and calls them. Everything costs
:math:`O((m + n)k^2)` at most and never forms an ``m x n`` array, except
:func:`tangent_matrix`.
"""

from __future__ import annotations

import numpy as np

from riemlin.geometry.ambient import ambient_matmul, ambient_rmatmul

__all__ = [
    "project_products",
    "project",
    "to_tangent_space",
    "tangent_matrix",
    "tangent_low_rank",
    "metric_projection",
]


def project_products(u, vt, ZV, ZtU):
    r"""The Frobenius projection onto :math:`T_W\mathcal M_k` from the products ``Z v``, ``Z^T u``.

    .. math:: M = u^\top Z v, \qquad U_p = Z v - u M, \qquad V_p = Z^\top u - v M^\top .

    Parameters
    ----------
    u, vt : ndarray
        Singular vectors of the point, ``(m, k)`` and ``(k, n)``.
    ZV, ZtU : ndarray
        :math:`Z v` (``m x k``) and :math:`Z^\top u` (``n x k``).

    Returns
    -------
    tuple of ndarray
        The tangent vector ``(Up, M, Vp)``, shapes ``(m, k)``, ``(k, k)``, ``(n, k)``.
    """
    M = u.T @ ZV
    return ZV - u @ M, M, ZtU - vt.T @ M.T


def project(point, Z):
    r"""The Frobenius projection :math:`P_{T_W} Z` of a dense, sparse or low-rank ``Z``.

    Only the products ``Z v`` and ``Z^T u`` are formed
    (:func:`riemlin.geometry.ambient.ambient_matmul`), so ``Z`` is never densified.

    Parameters
    ----------
    point : tuple (u, s, vt)
        The point :math:`W = u\,\mathrm{diag}(s)\,v^\top`: ``u`` ``(m, k)`` and ``vt``
        ``(k, n)`` with orthonormal columns and rows, ``s`` ``(k,)`` positive.
    Z : ndarray, scipy.sparse matrix or tuple (U, S, V)
        The ambient ``m x n`` matrix: dense, sparse or a low-rank triple
        ``Z = U @ S @ V.T``.

    Returns
    -------
    tuple of ndarray
        The tangent vector ``(Up, M, Vp)`` with ``u^T Up = 0`` and ``v^T Vp = 0``:
        ``M = u^T Z v``, ``Up = Z v - u M``, ``Vp = Z^T u - v M^T``.
    """
    u, _, vt = point
    return project_products(u, vt, ambient_matmul(Z, vt.T), ambient_rmatmul(Z, u))


def to_tangent_space(point, xi):
    r"""Re-impose :math:`u^\top U_p = 0` and :math:`v^\top V_p = 0` on a near-tangent ``xi``.

    Parameters
    ----------
    point : tuple (u, s, vt)
        The point :math:`W = u\,\mathrm{diag}(s)\,v^\top`: ``u`` ``(m, k)`` and ``vt``
        ``(k, n)`` with orthonormal columns and rows, ``s`` ``(k,)`` positive.
    xi : tuple (Up, M, Vp)
        Tangent vector at ``W``: ``Up`` ``(m, k)``, ``M`` ``(k, k)``, ``Vp`` ``(n, k)``.

    Returns
    -------
    tuple of ndarray
        ``(Up - u u^T Up, M, Vp - v v^T Vp)``.
    """
    u, _, vt = point
    Up, M, Vp = xi
    return Up - u @ (u.T @ Up), M, Vp - vt.T @ (vt @ Vp)


def tangent_matrix(point, xi) -> np.ndarray:
    r"""The dense ``m x n`` matrix :math:`u M v^\top + U_p v^\top + u V_p^\top`.

    Parameters
    ----------
    point : tuple (u, s, vt)
        The point :math:`W = u\,\mathrm{diag}(s)\,v^\top`: ``u`` ``(m, k)`` and ``vt``
        ``(k, n)`` with orthonormal columns and rows, ``s`` ``(k,)`` positive.
    xi : tuple (Up, M, Vp)
        Tangent vector at ``W``: ``Up`` ``(m, k)``, ``M`` ``(k, k)``, ``Vp`` ``(n, k)``.

    Returns
    -------
    ndarray, shape (m, n)
        The ambient matrix of ``xi``; costs :math:`O(mnk)` and ``m n`` floats.
    """
    u, _, vt = point
    Up, M, Vp = xi
    return (u @ M + Up) @ vt + u @ Vp.T


def tangent_low_rank(point, xi):
    r"""The ambient matrix of ``xi`` as a rank-``2k`` triple ``(U, S, V)``, ``U @ S @ V.T = xi``.

    ``U = [u M + Up, u]``, ``S`` the ``2k x 2k`` identity, ``V = [v, Vp]``: the form of
    pymanopt's ``FixedRankEmbedded.embedding``.

    Parameters
    ----------
    point : tuple (u, s, vt)
        The point :math:`W = u\,\mathrm{diag}(s)\,v^\top`: ``u`` ``(m, k)`` and ``vt``
        ``(k, n)`` with orthonormal columns and rows, ``s`` ``(k,)`` positive.
    xi : tuple (Up, M, Vp)
        Tangent vector at ``W``: ``Up`` ``(m, k)``, ``M`` ``(k, k)``, ``Vp`` ``(n, k)``.

    Returns
    -------
    tuple of ndarray
        ``(U, S, V)`` of shapes ``(m, 2k)``, ``(2k, 2k)``, ``(n, 2k)``.
    """
    u, _, vt = point
    Up, M, Vp = xi
    k = M.shape[0]
    return np.hstack((u @ M + Up, u)), np.eye(2 * k), np.hstack((vt.T, Vp))


def metric_projection(point, xi):
    r"""The rank-``k`` truncated SVD of :math:`W + \xi`: the metric-projection retraction.

    :math:`W + \xi = [u, U_p] \begin{pmatrix} S + M & I \\ I & 0\end{pmatrix} [v, V_p]^\top`.
    Following Manopt's current ``fixedrankembeddedfactory`` (the 2019 revision by
    E. Levin), the QR factorizations are taken of ``[u, Up]`` and ``[v, Vp]`` rather than
    of ``Up`` and ``Vp`` alone, which keeps the new factors orthonormal even when ``Up``,
    ``Vp`` are ill-conditioned or not exactly orthogonal to ``u``, ``v``. Second order for
    the embedded metric (Absil and Malick, SIAM J. Optim. 22 (2012)).

    Parameters
    ----------
    point : tuple (u, s, vt)
        The point :math:`W = u\,\mathrm{diag}(s)\,v^\top`: ``u`` ``(m, k)`` and ``vt``
        ``(k, n)`` with orthonormal columns and rows, ``s`` ``(k,)`` positive.
    xi : tuple (Up, M, Vp)
        Tangent vector at ``W``: ``Up`` ``(m, k)``, ``M`` ``(k, k)``, ``Vp`` ``(n, k)``.

    Returns
    -------
    tuple of ndarray
        The new point ``(u, s, vt)``: the best rank-``k`` approximation of
        :math:`W + \xi`, singular values in decreasing order.

    Raises
    ------
    ValueError
        If :math:`W + \xi` has numerical rank below ``k`` (singular value ``k`` at most
        ``2k eps`` times the largest): the step leaves the manifold.
    """
    u, s, vt = point
    Up, M, Vp = xi
    k = s.size
    Qu, Ru = np.linalg.qr(np.hstack((u, Up)))
    Qv, Rv = np.linalg.qr(np.hstack((vt.T, Vp)))
    core = np.zeros((2 * k, 2 * k))
    core[:k, :k] = np.diag(s) + M
    core[:k, k:] = np.eye(k)
    core[k:, :k] = np.eye(k)
    Uc, Sc, Vct = np.linalg.svd(Ru @ core @ Rv.T)
    if not Sc[k - 1] > max(2 * k, 1) * np.finfo(float).eps * Sc[0]:
        raise ValueError(
            f"retraction: W + tangent_vector has numerical rank below k={k} "
            f"(singular values {Sc[: k + 1]}); take a shorter step"
        )
    return Qu @ Uc[:, :k], Sc[:k], (Qv @ Vct[:k].T).T
