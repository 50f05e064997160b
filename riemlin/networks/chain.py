r"""The kernels of the product map: prefix and suffix products, the product, its differential
and adjoint, without input checks (the checked versions are in
:mod:`riemlin.networks.product_map`).

With :math:`S_j = W_N \cdots W_{j+1}` and :math:`P_j = W_j \cdots W_1`
(:math:`S_N = I`, :math:`P_0 = I`),

.. math::

    D\pi[H] = \sum_{j=1}^N S_j H_j P_{j-1}, \qquad D\pi^*(Z)_j = S_j^\top Z P_{j-1}^\top ,

computed with :math:`O(N)` matrix products.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from riemlin._validation import check_array
from riemlin.geometry.ambient import (
    ambient_matmul,
    ambient_rmatmul,
    ambient_shape,
    ambient_to_dense,
    is_low_rank,
)

__all__ = [
    "prefixes",
    "suffixes",
    "chain_product",
    "chain_differential",
    "chain_adjoint",
    "check_like",
    "check_factor_ambient",
]


def check_like(factors: list[np.ndarray], H, name: str) -> list[np.ndarray]:
    """A list of finite arrays shaped like ``factors`` (a perturbation of the layers).

    Parameters
    ----------
    factors : list of ndarray
        The checked layers ``[W_1, ..., W_N]``.
    H : list of ndarray
        The perturbation ``[H_1, ..., H_N]`` to check; nested lists are converted.
    name : str
        Name of ``H`` in error messages.

    Returns
    -------
    list of ndarray
        ``H`` as ``float64`` arrays, ``H_j`` of the shape of ``W_j``.

    Raises
    ------
    TypeError
        If ``H`` is not a list (a single ndarray included) or an entry is not an array of
        real numbers.
    ValueError
        If ``H`` does not have one entry per layer, an entry has the wrong shape, or an
        entry is not finite.
    """
    if isinstance(H, np.ndarray) or not isinstance(H, Sequence):
        raise TypeError(f"{name} must be a list of arrays like factors; got {type(H).__name__}")
    if len(H) != len(factors):
        raise ValueError(f"{name} must have {len(factors)} entries (one per layer); got {len(H)}")
    out = []
    for j, (h, W) in enumerate(zip(H, factors)):
        h = check_array(h, f"{name}[{j}]")
        if h.shape != W.shape:
            raise ValueError(
                f"{name}[{j}] must have shape {W.shape} (that of factors[{j}]); got {h.shape}"
            )
        out.append(h)
    return out


def check_factor_ambient(factors, Z, name: str):
    """An ambient ``d_N x d_0`` matrix (dense, sparse or low-rank) for ``factors``.

    Parameters
    ----------
    factors : list of ndarray
        The checked layers ``[W_1, ..., W_N]``.
    Z : ndarray, sparse matrix or tuple (U, S, V)
        The ambient matrix to check (see :func:`riemlin.geometry.ambient.ambient_shape`).
    name : str
        Name of ``Z`` in error messages.

    Returns
    -------
    ndarray, sparse matrix or tuple
        ``Z``, a dense one converted to a ``float64`` array; sparse and low-rank forms are
        returned as given.

    Raises
    ------
    TypeError
        If ``Z`` is none of the accepted forms or holds non-real data.
    ValueError
        If ``Z`` is not ``d_N x d_0`` or has non-finite entries.
    """
    m, n = factors[-1].shape[0], factors[0].shape[1]
    shape = tuple(ambient_shape(Z, name))
    if shape != (m, n):
        raise ValueError(
            f"{name} must be an ambient {m}x{n} matrix (d_N x d_0 of factors); got {shape}"
        )
    if not (is_low_rank(Z) or sp.issparse(Z)):
        Z = np.asarray(Z, dtype=float)
    return Z


def prefixes(factors):
    r"""The prefix products :math:`P_j = W_j \cdots W_1`, :math:`j = 1, \dots, N-1`.

    The full product :math:`P_N` (possibly huge) is not formed.

    Parameters
    ----------
    factors : list of ndarray
        The layers ``[W_1, ..., W_N]``, ``W_j`` of shape ``(d_j, d_{j-1})`` (not checked).

    Returns
    -------
    list of ndarray
        ``[P_1, ..., P_{N-1}]``, ``P_j`` of shape ``(d_j, d_0)``; ``[W_1]`` when
        ``N = 1``.
    """
    out = [factors[0]]
    for W in factors[1:-1]:
        out.append(W @ out[-1])
    return out


def suffixes(factors):
    r"""The suffix products :math:`S_j = W_N \cdots W_{j+1}`, :math:`j = 1, \dots, N-1`.

    Returned as ``[None, S_1, ..., S_{N-1}]``; :math:`S_0 = \pi` is not formed.

    Parameters
    ----------
    factors : list of ndarray
        The layers ``[W_1, ..., W_N]``, ``W_j`` of shape ``(d_j, d_{j-1})`` (not checked).

    Returns
    -------
    list
        ``[None, S_1, ..., S_{N-1}]``, ``S_j`` of shape ``(d_N, d_j)`` (for ``N >= 2``;
        callers handle ``N = 1`` without it).
    """
    N = len(factors)
    out = [None] * N
    acc = factors[-1]
    out[N - 1] = acc
    for j in range(N - 2, 0, -1):
        acc = acc @ factors[j]
        out[j] = acc
    return out


def chain_product(factors):
    r"""The product :math:`W_N \cdots W_1` (no input checks).

    Parameters
    ----------
    factors : list of ndarray
        The layers ``[W_1, ..., W_N]``, ``W_j`` of shape ``(d_j, d_{j-1})`` (not checked).

    Returns
    -------
    ndarray, shape (d_N, d_0)
        The end-to-end matrix.
    """
    out = factors[0]
    for W in factors[1:]:
        out = W @ out
    return out


def chain_differential(factors, H):
    r"""The differential :math:`D\pi[H] = \sum_j S_j H_j P_{j-1}` (no input checks).

    Parameters
    ----------
    factors : list of ndarray
        The layers ``[W_1, ..., W_N]``, ``W_j`` of shape ``(d_j, d_{j-1})`` (not checked).
    H : list of ndarray
        The perturbation ``[H_1, ..., H_N]``, ``H_j`` of the shape of ``W_j``.

    Returns
    -------
    ndarray, shape (d_N, d_0)
        :math:`D\pi(W_1, \dots, W_N)[H]`.
    """
    N = len(factors)
    if N == 1:
        return np.array(H[0], dtype=float)
    P = prefixes(factors)
    S = suffixes(factors)
    total = S[1] @ H[0]
    for j in range(1, N - 1):
        total = total + S[j + 1] @ (H[j] @ P[j - 1])
    return total + H[N - 1] @ P[N - 2]


def chain_adjoint(factors, Z):
    r"""The adjoint :math:`[S_j^\top Z P_{j-1}^\top]_j` for a dense, sparse or low-rank ``Z``.

    ``Z`` is never densified (no input checks).

    Parameters
    ----------
    factors : list of ndarray
        The layers ``[W_1, ..., W_N]``, ``W_j`` of shape ``(d_j, d_{j-1})`` (not checked).
    Z : ndarray, sparse matrix or tuple (U, S, V)
        An ambient ``d_N x d_0`` matrix.

    Returns
    -------
    list of ndarray
        :math:`[D\pi^*(Z)_1, \dots, D\pi^*(Z)_N]`, shaped like ``factors`` (for ``N = 1``
        the dense ``Z``).
    """
    N = len(factors)
    if N == 1:
        if is_low_rank(Z) or sp.issparse(Z):
            return [ambient_to_dense(Z)]
        return [np.array(Z, dtype=float)]
    P = prefixes(factors)
    S = suffixes(factors)
    out = [ambient_rmatmul(Z, S[1]).T]  # (Z^T S_1)^T = S_1^T Z, thin
    for j in range(1, N - 1):
        out.append(S[j + 1].T @ ambient_matmul(Z, P[j - 1].T))
    out.append(ambient_matmul(Z, P[N - 2].T))
    return out
