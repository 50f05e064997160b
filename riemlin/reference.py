r"""Slow dense reference formulas, for tests and benchmarks only.

These evaluate the definitions literally on ``m x n`` matrices, at a cost of
:math:`O(N(m^3 + n^3))`, and share no code with the SVD-coordinate formulas of
:mod:`riemlin.geometry.metric`, so the two can check each other.
"""

from __future__ import annotations

import numpy as np

__all__ = ["psd_power", "metric_operator_dense", "metric_operator_inverse_dense"]


def _eig_psd(A: np.ndarray, W_norm: float):
    lam, P = np.linalg.eigh(A)
    # Eigenvalues below round-off level belong to the kernel.
    tol = max(A.shape) * np.finfo(float).eps * max(W_norm**2, np.finfo(float).tiny)
    lam = np.where(lam > tol, lam, 0.0)
    return lam, P


def psd_power(A: np.ndarray, alpha: float, W_norm: float | None = None) -> np.ndarray:
    r"""Fractional power :math:`A^\alpha` of a symmetric PSD matrix, with ``A^0 = I``.

    Eigenvalues below round-off are treated as exact zeros (``0^alpha = 0`` for
    ``alpha > 0``).

    Parameters
    ----------
    A : ndarray, shape (p, p)
        Symmetric positive semidefinite matrix, e.g. :math:`W W^\top`.
    alpha : float
        The exponent, ``alpha >= 0``.
    W_norm : float, optional
        Spectral norm of the ``W`` with :math:`A = W W^\top` (or :math:`W^\top W`);
        eigenvalues below ``p * eps * W_norm**2`` count as zero. Default
        :math:`\sqrt{\|A\|_2}`.

    Returns
    -------
    ndarray, shape (p, p)
        :math:`P \Lambda^\alpha P^\top` from the eigendecomposition :math:`A = P \Lambda
        P^\top`; the identity when ``alpha == 0``.
    """
    if alpha == 0:
        return np.eye(A.shape[0])
    if W_norm is None:
        W_norm = np.sqrt(np.linalg.norm(A, 2))
    lam, P = _eig_psd(A, W_norm)
    return (P * lam**alpha) @ P.T


def metric_operator_dense(W: np.ndarray, Z: np.ndarray, depth: int) -> np.ndarray:
    r"""Literal :math:`\mathcal A_W(Z) = \sum_{j=1}^N (WW^\top)^{(N-j)/N} Z (W^\top W)^{(j-1)/N}`.

    Parameters
    ----------
    W : ndarray, shape (m, n)
        The point, a dense matrix.
    Z : ndarray, shape (m, n)
        The matrix the operator is applied to.
    depth : int
        Depth ``N >= 1``.

    Returns
    -------
    ndarray, shape (m, n)
        :math:`\mathcal A_W(Z)`, from ``2N`` fractional powers by eigendecomposition.

    References
    ----------
    Bah et al., arXiv:1910.05505 (the definition of the metric operator).
    """
    N = depth
    W_norm = np.linalg.norm(W, 2)
    WWt = W @ W.T
    WtW = W.T @ W
    out = np.zeros_like(Z, dtype=float)
    for j in range(1, N + 1):
        left = psd_power(WWt, (N - j) / N, W_norm)
        right = psd_power(WtW, (j - 1) / N, W_norm)
        out += left @ Z @ right
    return out


def metric_operator_inverse_dense(W: np.ndarray, xi: np.ndarray, depth: int) -> np.ndarray:
    r""":math:`\mathcal A_W^{-1}(\xi)` for a tangent :math:`\xi`, by eigendecompositions.

    In the eigenbases :math:`WW^\top = P \Lambda P^\top`, :math:`W^\top W = Q \mathrm M
    Q^\top`, :math:`\mathcal A_W` acts entrywise on :math:`P^\top Z Q` with the weights
    :math:`\sum_j \lambda_i^{(N-j)/N} \mu_l^{(j-1)/N}` (with ``0^0 = 1``); these are
    positive on the entries that tangent vectors occupy, so the inverse divides there.

    Parameters
    ----------
    W : ndarray, shape (m, n)
        The point, a dense matrix.
    xi : ndarray, shape (m, n)
        A tangent vector at ``W`` as a dense matrix.
    depth : int
        Depth ``N >= 1``.

    Returns
    -------
    ndarray, shape (m, n)
        :math:`\mathcal A_W^{-1}(\xi)`; entries where the weight vanishes (off the tangent
        space) are set to zero.
    """
    N = depth
    W_norm = np.linalg.norm(W, 2)
    lam, P = _eig_psd(W @ W.T, W_norm)
    mu, Q = _eig_psd(W.T @ W, W_norm)
    weights = np.zeros((lam.size, mu.size))
    for j in range(1, N + 1):
        a, b = (N - j) / N, (j - 1) / N
        left = np.ones_like(lam) if a == 0 else lam**a
        right = np.ones_like(mu) if b == 0 else mu**b
        weights += np.outer(left, right)
    Xi = P.T @ xi @ Q
    safe = weights > 0
    Xi = np.where(safe, Xi / np.where(safe, weights, 1.0), 0.0)
    return P @ Xi @ Q.T
