r"""Products with ambient ``m x n`` matrices given densely, sparsely or in low rank.

Riemannian gradients and projections onto :math:`T_W\mathcal M_k` only need the
products :math:`G V` and :math:`G^\top U` of an ambient matrix :math:`G` with thin
matrices. These helpers compute them for the three forms riemlin accepts, so a sparse
or low-rank ``G`` is never formed densely:

* a dense ``numpy.ndarray`` of shape ``(m, n)``;
* a ``scipy.sparse`` matrix or array of shape ``(m, n)``;
* a low-rank triple ``(U, S, V)`` with ``G = U @ S @ V.T`` (``S`` may be a square
  matrix or a 1-D array holding a diagonal), as in pymanopt and Manopt.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

__all__ = [
    "ambient_shape",
    "ambient_matmul",
    "ambient_rmatmul",
    "ambient_to_dense",
    "is_low_rank",
]


def is_low_rank(G) -> bool:
    """Whether ``G`` is a low-rank triple ``(U, S, V)``."""
    return isinstance(G, (tuple, list)) and len(G) == 3


def _middle(S):
    S = np.asarray(S)
    return np.diag(S) if S.ndim == 1 else S


def ambient_matmul(G, B: np.ndarray) -> np.ndarray:
    """``G @ B`` for a dense, sparse or low-rank ``G`` (``B`` is ``n x r``)."""
    if is_low_rank(G):
        U, S, V = G
        return U @ (_middle(S) @ (V.T @ B))
    return np.asarray(G @ B)


def ambient_rmatmul(G, A: np.ndarray) -> np.ndarray:
    """``G.T @ A`` for a dense, sparse or low-rank ``G`` (``A`` is ``m x r``)."""
    if is_low_rank(G):
        U, S, V = G
        return V @ (_middle(S).T @ (U.T @ A))
    return np.asarray(G.T @ A)


def ambient_to_dense(G) -> np.ndarray:
    """The ``m x n`` array of ``G`` (for tests and small problems only)."""
    if is_low_rank(G):
        U, S, V = G
        return U @ _middle(S) @ V.T
    if sp.issparse(G):
        return G.toarray()
    return np.asarray(G, dtype=float)


def ambient_shape(G, name: str = "G") -> tuple[int, int]:
    """Shape ``(m, n)`` of an ambient matrix, with clear errors for bad input.

    Raises
    ------
    TypeError
        If ``G`` is none of the accepted forms.
    ValueError
        If the factors of a low-rank triple do not chain, or ``G`` is not 2-D, or its
        entries are not finite.
    """
    if is_low_rank(G):
        U, S, V = (np.asarray(x) for x in G)
        S2 = np.diag(S) if S.ndim == 1 else S
        if U.ndim != 2 or V.ndim != 2 or S2.ndim != 2:
            raise ValueError(
                f"{name}: a low-rank ambient matrix is a triple (U, S, V) with 2-D U "
                f"and V and a 1-D or 2-D S; got ndims {U.ndim}, {S.ndim}, {V.ndim}"
            )
        if S2.shape != (U.shape[1], V.shape[1]):
            raise ValueError(
                f"{name}: in the low-rank triple (U, S, V), S must have shape "
                f"{(U.shape[1], V.shape[1])} to match U {U.shape} and V {V.shape}; "
                f"got {S.shape}"
            )
        for part, x in zip("USV", (U, S, V)):
            _check_finite_array(x, f"{name} ({part} factor)")
        return U.shape[0], V.shape[0]
    if sp.issparse(G):
        if not np.all(np.isfinite(G.data)):
            raise ValueError(f"{name} has non-finite stored entries")
        return G.shape
    if isinstance(G, np.ndarray) or isinstance(G, numbers.Number):
        G = np.asarray(G)
        if G.ndim != 2:
            raise ValueError(f"{name} must be a 2-D array; got shape {G.shape}")
        _check_finite_array(G, name)
        return G.shape
    raise TypeError(
        f"{name} must be a dense ndarray, a scipy.sparse matrix or a low-rank triple "
        f"(U, S, V); got {type(G).__name__}"
    )


def _check_finite_array(x, name: str) -> None:
    if not np.issubdtype(np.asarray(x).dtype, np.number):
        raise TypeError(f"{name} must be numeric; got dtype {np.asarray(x).dtype}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} has non-finite entries (nan or inf)")
