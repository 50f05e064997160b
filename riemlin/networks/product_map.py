r"""The product map of a deep linear network, its differential and adjoint, checked.

A depth-:math:`N` linear network has layers ``factors = [W_1, ..., W_N]``, ``W_j`` of
shape :math:`d_j \times d_{j-1}` (``W_1`` first, as in the papers). Its end-to-end matrix
is the product map

.. math:: \pi(W_1, \dots, W_N) = W_N \cdots W_1 \in \mathbb R^{d_N \times d_0}.

The formulas are in :mod:`riemlin.networks.chain`; these functions check their input.

References
----------
.. [BRTW] B. Bah, H. Rauhut, U. Terstiege, M. Westdickenberg, "Learning deep linear
   neural networks: Riemannian gradient flows and convergence to global minimizers",
   Information and Inference 11 (2022); arXiv:1910.05505.
"""

from __future__ import annotations

import numpy as np

from riemlin._validation import check_factors
from riemlin.networks.chain import (
    chain_adjoint,
    chain_differential,
    chain_product,
    check_factor_ambient,
    check_like,
)

__all__ = ["widths", "product", "product_differential", "product_adjoint", "factor_gradient"]


def widths(factors) -> tuple[int, ...]:
    r"""The widths :math:`(d_0, d_1, \dots, d_N)` of the layers ``[W_1, ..., W_N]``.

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]``, ``W_j`` of shape ``(d_j, d_{j-1})``.

    Returns
    -------
    tuple of int
        ``(d_0, d_1, ..., d_N)``: the input width, then the output width of each layer.

    Raises
    ------
    TypeError, ValueError
        If ``factors`` is not a non-empty list of finite 2-D arrays whose shapes chain
        (``W_{j+1}`` has as many columns as ``W_j`` has rows).
    """
    F = check_factors(factors)
    return (F[0].shape[1],) + tuple(W.shape[0] for W in F)


def product(factors) -> np.ndarray:
    r"""The end-to-end matrix :math:`\pi(W_1, \dots, W_N) = W_N \cdots W_1`.

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]``, ``W_j`` of shape ``(d_j, d_{j-1})``.

    Returns
    -------
    ndarray, shape (d_N, d_0)
        The product, multiplied from ``W_1`` upwards.

    Raises
    ------
    TypeError
        If ``factors`` is not a list of arrays of real numbers.
    ValueError
        If ``factors`` is empty, an entry is not 2-D or not finite, or the shapes do not
        chain.

    Examples
    --------
    >>> import numpy as np
    >>> product([np.ones((3, 2)), np.ones((1, 3))])
    array([[3., 3.]])
    """
    return chain_product(check_factors(factors))


def product_differential(factors, H) -> np.ndarray:
    r"""The differential :math:`D\pi[H] = \sum_{j=1}^N W_N \cdots W_{j+1} H_j W_{j-1} \cdots W_1`.

    Uses the prefix and suffix products, so the cost is :math:`O(N)` matrix products.

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]``.
    H : list of ndarray
        A perturbation ``[H_1, ..., H_N]``, ``H_j`` of the shape of ``W_j``.

    Returns
    -------
    ndarray, shape (d_N, d_0)
        The derivative of the product along ``H``.

    Raises
    ------
    TypeError
        If ``factors`` is not a list of arrays of real numbers or ``H`` is not a list of
        such arrays.
    ValueError
        If ``factors`` is empty, an entry is not 2-D or not finite, or the shapes do not
        chain, or ``H`` does not hold one finite array shaped like ``W_j`` per layer.

    References
    ----------
    Bah et al., arXiv:1910.05505 (the product map).
    """
    F = check_factors(factors)
    return chain_differential(F, check_like(F, H, "H"))


def product_adjoint(factors, Z) -> list[np.ndarray]:
    r"""The adjoint :math:`D\pi^*(Z)_j = (W_N \cdots W_{j+1})^\top Z (W_{j-1} \cdots W_1)^\top`.

    With respect to the Frobenius products,
    :math:`\langle D\pi[H], Z\rangle = \sum_j \langle H_j, D\pi^*(Z)_j\rangle`.
    Cost: :math:`O(N)` matrix products (prefix and suffix products).

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]``.
    Z : ndarray, scipy.sparse matrix or tuple (U, S, V)
        An ambient ``d_N x d_0`` matrix; a sparse or low-rank ``Z = U @ S @ V.T`` is only
        multiplied with the thin prefix and suffix products, never densified (for
        ``N = 1`` the result *is* ``Z``, returned dense).

    Returns
    -------
    list of ndarray
        ``[D\pi^*(Z)_1, ..., D\pi^*(Z)_N]``, shaped like ``factors``.

    Raises
    ------
    TypeError
        If ``factors`` is not a list of arrays of real numbers or ``Z`` is none of the
        accepted ambient forms.
    ValueError
        If ``factors`` is empty, an entry is not 2-D or not finite, or the shapes do not
        chain, or ``Z`` is not ``d_N x d_0`` or not finite.

    References
    ----------
    Bah et al., arXiv:1910.05505 (the adjoint of the differential of the product map).
    """
    F = check_factors(factors)
    return chain_adjoint(F, check_factor_ambient(F, Z, "Z"))


def factor_gradient(factors, G) -> list[np.ndarray]:
    r"""Gradient of :math:`L^N = L \circ \pi` with respect to the layers.

    .. math:: \nabla_{W_j} L^N = D\pi^*(\nabla L(W))_j
              = (W_N \cdots W_{j+1})^\top G \, (W_{j-1} \cdots W_1)^\top .

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]``.
    G : ndarray, scipy.sparse matrix or tuple (U, S, V)
        The ambient (Euclidean) gradient :math:`\nabla L(W)` at ``W = product(factors)``,
        dense, sparse or low-rank ``G = U @ S @ V.T``; never densified (see
        :func:`product_adjoint`).

    Returns
    -------
    list of ndarray
        One gradient per layer, shaped like ``factors``.

    Raises
    ------
    TypeError
        If ``factors`` is not a list of arrays of real numbers or ``G`` is none of the
        accepted ambient forms.
    ValueError
        If ``factors`` is empty, an entry is not 2-D or not finite, or the shapes do not
        chain, or ``G`` is not ``d_N x d_0`` or not finite.

    References
    ----------
    Bah et al., arXiv:1910.05505 (the gradient of the overparameterized loss).
    """
    F = check_factors(factors)
    return chain_adjoint(F, check_factor_ambient(F, G, "G"))
