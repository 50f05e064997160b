r"""The product map as a Riemannian submersion: points of the layers, horizontal lifts.

At balanced factors of a rank-:math:`k` matrix :math:`W` and :math:`N \ge 2`,
:math:`D\pi\, D\pi^* = \mathcal A_W \circ P_{T_W}` (:math:`\mathcal A_W` annihilates the
normal block), which makes :math:`\pi` a Riemannian submersion from the balanced layers onto
:math:`(\mathcal M_k, g)` (Bah et al.): the horizontal lift of :math:`\xi` is
:math:`D\pi^*(\mathcal A_W^{-1}\xi)`. In geomstats' words the balanced layers are a fibre
bundle over :math:`\mathcal M_k` whose fibres are the orbits of the hidden-layer rotations.

References
----------
.. [BRTW] B. Bah, H. Rauhut, U. Terstiege, M. Westdickenberg, "Learning deep linear
   neural networks: Riemannian gradient flows and convergence to global minimizers",
   Information and Inference 11 (2022); arXiv:1910.05505.
"""

from __future__ import annotations

import numpy as np

from riemlin._validation import (
    check_array,
    check_factors,
    check_int,
    check_point,
    numerical_rank,
)
from riemlin.geometry.ambient import is_triple
from riemlin.geometry.manifold import FixedRankPoint
from riemlin.geometry.metric import apply_metric_inverse, metric_weights
from riemlin.networks.chain import (
    chain_adjoint,
    chain_product,
    check_like,
    prefixes,
    suffixes,
)

__all__ = ["to_point", "point_for", "horizontal_lift", "horizontal_projection"]


def to_point(factors, k: int) -> FixedRankPoint:
    r"""The point ``(u, s, vt)`` of :math:`\mathcal M_k` of the product of the layers.

    The reverse map is :func:`balanced_factors` (which accepts the point).

    Parameters
    ----------
    factors : list of ndarray
        The layers ``[W_1, ..., W_N]``, ``W_j`` of shape ``(d_j, d_{j-1})``.
    k : int
        The rank of the product, ``k >= 1``.

    Returns
    -------
    FixedRankPoint
        ``(u, s, vt)``, the leading ``k`` singular triplets of ``W_N ... W_1`` (shapes
        ``(d_N, k)``, ``(k,)``, ``(k, d_0)``, singular values decreasing).

    Raises
    ------
    TypeError
        If ``factors`` is not a list of arrays of real numbers or ``k`` is not an int.
    ValueError
        If the numerical rank of the product (singular values above
        ``max(m, n) * eps * s_1``) is not ``k``, the product overflows, or ``factors``
        is empty, not finite or does not chain.
    """
    F = check_factors(factors)
    k = check_int(k, "k")
    with np.errstate(over="ignore", invalid="ignore"):
        W = chain_product(F)
    if not np.all(np.isfinite(W)):
        raise ValueError("factors: their product overflows (entries beyond 1.8e308)")
    u, s, vt = np.linalg.svd(W, full_matrices=False)
    rank = numerical_rank(s, W.shape)
    if rank != k:
        raise ValueError(
            f"the product of factors has numerical rank {rank}, not k={k} (leading "
            f"singular values {s[: k + 1]}); pass k={rank} or factors of rank {k}"
        )
    return FixedRankPoint(u[:, :k], s[:k], vt[:k])


def point_for(F, point):
    """The checked point ``(u, s, vt)`` of ``product(F)`` that tangent coordinates refer to.

    Parameters
    ----------
    F : list of ndarray
        The checked layers ``[W_1, ..., W_N]``.
    point : tuple (u, s, vt)
        The point that should represent ``W_N ... W_1``.

    Returns
    -------
    tuple of ndarray
        ``(u, s, vt)`` converted to ``float64``.

    Raises
    ------
    TypeError
        If ``point`` is not a triple (a matrix does not fix the signs and order of the
        singular vectors) or holds non-real data.
    ValueError
        If ``point`` is not a valid point, has the wrong size, or differs from the
        product by more than ``1e-8`` relative to ``||s||`` in the Frobenius norm.
    """
    if not is_triple(point):
        raise TypeError(
            "point must be the point (u, s, vt) of product(factors) whose SVD the "
            "coordinates of xi refer to (get it from to_point(factors, k)); got "
            f"{type(point).__name__}: a matrix does not fix the signs and order of the "
            "singular vectors that (Up, M, Vp) are written in"
        )
    u, s, vt = check_point(point, "point")
    W = chain_product(F)
    if W.shape != (u.shape[0], vt.shape[1]):
        raise ValueError(f"point is {u.shape[0]}x{vt.shape[1]}; product(factors) is {W.shape}")
    err = np.linalg.norm(W - (u * s) @ vt)
    if not err <= 1e-8 * np.linalg.norm(s):
        raise ValueError(
            f"point does not represent product(factors): ||pi(factors) - u diag(s) vt||_F "
            f"= {err:.3g} relative {err / np.linalg.norm(s):.3g} > 1e-8; build it with "
            f"to_point(factors, k)"
        )
    return u, s, vt


def horizontal_lift(factors, point, xi) -> list[np.ndarray]:
    r"""Horizontal lift :math:`h = D\pi^*(\mathcal A_W^{-1}\xi)` of a tangent vector.

    The tangent coordinates ``(Up, M, Vp)`` mean
    :math:`\xi = u M v^\top + U_p v^\top + u V_p^\top` for one specific SVD, so the point
    ``(u, s, vt)`` is a required argument (get it from :func:`to_point`); it must
    represent ``product(factors)`` (checked to relative accuracy ``1e-8``). At balanced
    factors :math:`D\pi[h] = \xi` and :math:`\|h\|^2 = g_W(\xi, \xi)` (the submersion
    property, Bah et al.); at unbalanced factors ``h`` is still well defined but these
    identities fail. :math:`\mathcal A_W^{-1}\xi` is passed to :func:`product_adjoint`
    as a rank-``2k`` triple, never formed densely.

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]`` with ``rank(W_N ... W_1) = k``.
    point : tuple (u, s, vt)
        The point ``pi(factors)`` in the SVD the coordinates of ``xi`` refer to.
    xi : tuple (Up, M, Vp)
        A tangent vector at ``point``.

    Returns
    -------
    list of ndarray
        ``h``, shaped like ``factors``.

    Raises
    ------
    TypeError
        If ``factors`` is not a list of real arrays, ``point`` is not a triple, or
        ``xi`` is not a triple of real arrays.
    ValueError
        If ``point`` does not represent ``product(factors)`` (see :func:`point_for`), or
        ``xi`` has the wrong shapes or non-finite entries.

    References
    ----------
    Bah et al., arXiv:1910.05505 (the Riemannian submersion); the user guide, section
    "The submersion picture".
    """
    F = check_factors(factors)
    u, s, vt = point_for(F, point)
    m, k, n = u.shape[0], s.size, vt.shape[1]
    if not isinstance(xi, (tuple, list)) or len(xi) != 3:
        raise TypeError(f"xi must be a tangent vector (Up, M, Vp); got {type(xi).__name__}")
    Up = check_array(xi[0], "xi.Up", shape=(m, k))
    M = check_array(xi[1], "xi.M", shape=(k, k))
    Vp = check_array(xi[2], "xi.Vp", shape=(n, k))
    weights = metric_weights(s, len(F))
    eUp, eM, eVp = apply_metric_inverse(weights, (Up, M, Vp))
    # eta = u eM v^T + eUp v^T + u eVp^T = [u, eUp] [[eM, I], [I, 0]] [v, eVp]^T
    mid = np.block([[eM, np.eye(k)], [np.eye(k), np.zeros((k, k))]])
    return chain_adjoint(F, (np.hstack([u, eUp]), mid, np.hstack([vt.T, eVp])))


def horizontal_projection(factors, H) -> list[np.ndarray]:
    r"""Orthogonal projection of a factor perturbation onto :math:`(\ker D\pi)^\perp`.

    .. math:: \mathcal P H = D\pi^* \big(D\pi\, D\pi^*\big)^+ D\pi[H]
              = \operatorname{argmin}_{h \in \operatorname{range} D\pi^*} \|h - H\| .

    Computed exactly (for any factors, balanced or not) from the dense Jacobian
    :math:`J` of :math:`\pi` (shape :math:`mn \times \sum_j d_j d_{j-1}`, built from
    Kronecker products of the prefix and suffix products) by a least-squares solve
    :math:`\min_z \|J^\top z - \operatorname{vec} H\|` with SVD rank cut-off ``rcond =
    max(J.shape) * eps``; the result is :math:`J^\top z`. Cost :math:`O(mn P \min(mn, P))`
    flops and :math:`O(mn P)` memory, :math:`P` the number of parameters: meant for small
    networks (refused when :math:`mn P > 5 \cdot 10^7`). At balanced factors with
    :math:`N \ge 2` it equals :math:`D\pi^*\mathcal A_W^{-1} P_T D\pi[H]` (tested).

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]``.
    H : list of ndarray
        A perturbation shaped like ``factors``.

    Returns
    -------
    list of ndarray
        The horizontal part of ``H``; ``H`` minus it lies in :math:`\ker D\pi`.

    Raises
    ------
    TypeError
        If ``factors`` or ``H`` is not a list of arrays of real numbers.
    ValueError
        If the shapes do not chain or ``H`` is not shaped like ``factors``, an entry is
        not finite, the Jacobian would exceed ``5e7`` entries, or its entries overflow.
    """
    F = check_factors(factors)
    Hs = check_like(F, H, "H")
    N = len(F)
    m, n = F[-1].shape[0], F[0].shape[1]
    nparams = sum(W.size for W in F)
    if m * n * nparams > 5e7:
        raise ValueError(
            f"horizontal_projection builds a dense {m * n} x {nparams} Jacobian; too large "
            f"({m * n * nparams:.3g} entries > 5e7)"
        )
    # The projection J^T (J J^T)^+ J is unchanged when every layer is scaled by one
    # number c (each block of J scales by c^(N-1)): scale the largest entry to one, so
    # that layers near 1e300 do not overflow the products.
    top = max(float(np.max(np.abs(W))) for W in F)
    G = [W / top for W in F] if top > 0 else F
    with np.errstate(over="ignore", invalid="ignore"):
        P = [np.eye(n)] + (prefixes(G) if N > 1 else [])
        S = (suffixes(G)[1:] if N > 1 else []) + [np.eye(m)]
        # vec(S_j H_j P_{j-1}) = (P_{j-1}^T kron S_j) vec(H_j), column-major vec.
        J = np.hstack([np.kron(P[j].T, S[j]) for j in range(N)])
    if not np.all(np.isfinite(J)):
        raise ValueError(
            "factors: the layers' scales differ too much for the Jacobian of the product map "
            "to be represented (its entries overflow even with the layers scaled together)"
        )
    h = np.concatenate([x.ravel(order="F") for x in Hs])
    z = np.linalg.lstsq(J.T, h, rcond=max(J.shape) * np.finfo(float).eps)[0]
    proj = J.T @ z
    out, start = [], 0
    for W in F:
        out.append(proj[start : start + W.size].reshape(W.shape, order="F"))
        start += W.size
    return out
