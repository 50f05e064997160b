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
    "is_triple",
    "ambient_shape",
    "ambient_matmul",
    "ambient_rmatmul",
    "ambient_to_dense",
    "is_low_rank",
]


def is_triple(x) -> bool:
    r"""Whether ``x`` is a triple ``(U, S, V)`` or ``(u, s, vt)``.

    A tuple of three entries, or a list of three whose first entry is not 1-D: a list of
    three 1-D rows is a nested-list ``3 x n`` matrix, not a triple.

    Parameters
    ----------
    x : object
        Anything: an ambient matrix, a point of :math:`\mathcal M_k`, a nested list.

    Returns
    -------
    bool
        ``True`` if ``x`` is read as a triple of factors rather than as one matrix.
    """
    if isinstance(x, tuple):
        return len(x) == 3
    if not (isinstance(x, list) and len(x) == 3):
        return False
    try:
        return np.ndim(x[0]) != 1
    except ValueError:  # a ragged first entry: not a row of numbers
        return True


def is_low_rank(G) -> bool:
    """Whether ``G`` is a low-rank triple ``(U, S, V)`` (see :func:`is_triple`).

    Parameters
    ----------
    G : ndarray, sparse matrix or tuple
        An ambient ``m x n`` matrix in any of the accepted forms.

    Returns
    -------
    bool
        ``True`` if ``G`` is a triple with ``G = U @ S @ V.T``, ``False`` for a dense or
        sparse matrix.
    """
    return is_triple(G)


def _middle(S):
    S = np.asarray(S)
    return np.diag(S) if S.ndim == 1 else S


def _factors(G):
    # the factors of a low-rank triple as arrays (nested lists are read by numpy)
    return tuple(np.asarray(x) for x in G)


def ambient_matmul(G, B: np.ndarray) -> np.ndarray:
    """``G @ B`` for a dense, sparse or low-rank ``G``.

    A low-rank ``G = U S V^T`` of inner dimension ``q`` is applied as ``U (S (V^T B))``
    in :math:`O((m + n) q r)` operations, without forming ``G``.

    Parameters
    ----------
    G : ndarray, sparse matrix or tuple
        The ``m x n`` ambient matrix: dense, ``scipy.sparse``, or a triple ``(U, S, V)``.
    B : ndarray
        Thin matrix, ``(n, r)``.

    Returns
    -------
    ndarray
        ``G @ B``, shape ``(m, r)``.
    """
    if is_low_rank(G):
        U, S, V = _factors(G)
        return U @ (_middle(S) @ (V.T @ B))
    return np.asarray(G @ B)


def ambient_rmatmul(G, A: np.ndarray) -> np.ndarray:
    """``G.T @ A`` for a dense, sparse or low-rank ``G``.

    A low-rank ``G = U S V^T`` is applied as ``V (S^T (U^T A))``, without forming ``G``.

    Parameters
    ----------
    G : ndarray, sparse matrix or tuple
        The ``m x n`` ambient matrix: dense, ``scipy.sparse``, or a triple ``(U, S, V)``.
    A : ndarray
        Thin matrix, ``(m, r)``.

    Returns
    -------
    ndarray
        ``G.T @ A``, shape ``(n, r)``.
    """
    if is_low_rank(G):
        U, S, V = _factors(G)
        return V @ (_middle(S).T @ (U.T @ A))
    return np.asarray(G.T @ A)


def ambient_to_dense(G) -> np.ndarray:
    """The ``m x n`` array of ``G`` (for tests and small problems only).

    Parameters
    ----------
    G : ndarray, sparse matrix or tuple
        The ambient matrix: dense, ``scipy.sparse``, or a triple ``(U, S, V)`` whose ``S``
        is a square matrix or a 1-D diagonal.

    Returns
    -------
    ndarray
        The dense ``(m, n)`` matrix (``U @ S @ V.T`` for a triple).
    """
    if is_low_rank(G):
        U, S, V = _factors(G)
        return U @ _middle(S) @ V.T
    if sp.issparse(G):
        return G.toarray()
    return np.asarray(G, dtype=float)


def ambient_shape(G, name: str = "G", *, finite: bool = True) -> tuple[int, int]:
    """Shape ``(m, n)`` of an ambient matrix, with clear errors for bad input.

    The factors of a low-rank triple may be nested lists (they are read by numpy); a
    dense matrix must be an ndarray.

    Parameters
    ----------
    G : ndarray, sparse matrix or tuple
        The ambient matrix: a dense 2-D ndarray, a ``scipy.sparse`` matrix or array, or a
        triple ``(U, S, V)`` with ``U`` ``(m, r)``, ``V`` ``(n, r)`` and ``S`` ``(r, r)``
        or a 1-D diagonal of length ``r``.
    name : str, default "G"
        Name of the argument in error messages.
    finite : bool, default True
        Whether non-finite entries (``nan``, ``inf``) are refused.

    Returns
    -------
    tuple of int
        ``(m, n)``, the shape of the matrix ``G`` stands for.

    Raises
    ------
    TypeError
        If ``G`` is none of the accepted forms (a nested list of three rows, which is
        not a triple, included), or holds complex, boolean or non-numeric data.
    ValueError
        If the factors of a low-rank triple do not chain, or ``G`` is not 2-D, or is empty,
        or its entries are not finite (unless ``finite=False``).
    """
    if is_low_rank(G):
        try:
            U, S, V = (np.asarray(x) for x in G)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name}: a factor of the low-rank triple (U, S, V) is not an array: {exc}"
            ) from None
        if U.ndim == 1 and S.ndim == 1 and V.ndim == 1:
            raise TypeError(
                f"{name} is a list of three 1-D rows, not a low-rank triple (U, S, V) with "
                "2-D U and V: pass np.asarray(...) for a dense 3 x n matrix"
            )
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
            _check_finite_array(x, f"{name} ({part} factor)", finite)
        _check_nonempty((U.shape[0], V.shape[0]), name)
        return U.shape[0], V.shape[0]
    if sp.issparse(G):
        _check_real(G.dtype, name)
        if finite and not np.all(np.isfinite(G.data)):
            raise ValueError(f"{name} has non-finite stored entries")
        if len(G.shape) != 2:
            raise ValueError(f"{name} must be a 2-D sparse matrix; got shape {G.shape}")
        _check_nonempty(G.shape, name)
        return G.shape
    if isinstance(G, np.ndarray) or isinstance(G, numbers.Number):
        G = np.asarray(G)
        if G.ndim != 2:
            raise ValueError(f"{name} must be a 2-D array; got shape {G.shape}")
        _check_finite_array(G, name, finite)
        _check_nonempty(G.shape, name)
        return G.shape
    raise TypeError(
        f"{name} must be a dense ndarray, a scipy.sparse matrix or a low-rank triple "
        f"(U, S, V) with 2-D U and V; got {type(G).__name__}"
        + (
            " (a nested list is not read as a dense matrix: pass np.asarray)"
            if isinstance(G, list)
            else ""
        )
    )


def _check_real(dtype, name: str) -> None:
    if dtype.kind not in "fiu":
        kind = "complex" if dtype.kind == "c" else str(dtype)
        raise TypeError(f"{name} must hold real numbers (a float or int dtype); got {kind} dtype")


def _check_nonempty(shape, name: str) -> None:
    if 0 in tuple(shape):
        raise ValueError(f"{name} must not be empty; got shape {tuple(shape)}")


def _check_finite_array(x, name: str, finite: bool = True) -> None:
    _check_real(np.asarray(x).dtype, name)
    if finite and not np.all(np.isfinite(x)):
        raise ValueError(f"{name} has non-finite entries (nan or inf)")
