r"""Layer factors and the manifold: the product map, balanced factors, horizontal lifts.

A depth-:math:`N` linear network has layers ``factors = [W_1, ..., W_N]``, ``W_j`` of
shape :math:`d_j \times d_{j-1}` (``W_1`` first, as in the papers). Its end-to-end matrix
is the product map

.. math:: \pi(W_1, \dots, W_N) = W_N \cdots W_1 \in \mathbb R^{d_N \times d_0}.

With the suffix and prefix products :math:`S_j = W_N \cdots W_{j+1}` and
:math:`P_{j} = W_j \cdots W_1` (:math:`S_N = I`, :math:`P_0 = I`), its differential and
adjoint are

.. math::

    D\pi[H] = \sum_{j=1}^N S_j H_j P_{j-1}, \qquad
    D\pi^*(Z)_j = S_j^\top Z P_{j-1}^\top ,

computed here with :math:`O(N)` matrix products. At balanced factors
(:math:`W_{j+1}^\top W_{j+1} = W_j W_j^\top`) of a rank-:math:`k` matrix :math:`W`,
:math:`D\pi\, D\pi^* = \mathcal A_W \circ P_{T_W}` for :math:`N \ge 2` (:math:`\mathcal A_W`
annihilates the normal block), which makes :math:`\pi` a Riemannian submersion onto
:math:`(\mathcal M_k, g)` (Bah et al.).

References
----------
.. [BRTW] B. Bah, H. Rauhut, U. Terstiege, M. Westdickenberg, "Learning deep linear
   neural networks: Riemannian gradient flows and convergence to global minimizers",
   Information and Inference 11 (2022); arXiv:1910.05505.
.. [ACGH] S. Arora, N. Cohen, N. Golowich, W. Hu, "A convergence analysis of gradient
   descent for deep linear neural networks", ICLR 2019; arXiv:1810.02281.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from riemlin import metric as _metric
from riemlin._validation import (
    as_generator,
    check_array,
    check_factors,
    check_int,
    check_nonnegative,
    check_point,
    check_positive,
)
from riemlin.ambient import (
    ambient_matmul,
    ambient_rmatmul,
    ambient_shape,
    ambient_to_dense,
    is_low_rank,
    is_triple,
)
from riemlin.manifold import FixedRankPoint, _haar_stiefel

__all__ = [
    "product",
    "widths",
    "product_differential",
    "product_adjoint",
    "factor_gradient",
    "imbalance",
    "imbalance_norm",
    "is_balanced",
    "balanced_factors",
    "balanced_initialization",
    "to_point",
    "horizontal_lift",
    "horizontal_projection",
]


# ---------------------------------------------------------------------- validation
def _check_like(factors: list[np.ndarray], H, name: str) -> list[np.ndarray]:
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


def _check_ambient(factors, Z, name: str):
    m, n = factors[-1].shape[0], factors[0].shape[1]
    shape = tuple(ambient_shape(Z, name))
    if shape != (m, n):
        raise ValueError(
            f"{name} must be an ambient {m}x{n} matrix (d_N x d_0 of factors); got {shape}"
        )
    if not (is_low_rank(Z) or sp.issparse(Z)):
        Z = np.asarray(Z, dtype=float)
    return Z


# ---------------------------------------------------------------------- kernels
def _prefixes(factors):
    """``[P_1, ..., P_{N-1}]``, ``P_j = W_j ... W_1`` (not the full, possibly huge, product)."""
    out = [factors[0]]
    for W in factors[1:-1]:
        out.append(W @ out[-1])
    return out


def _suffixes(factors):
    """``[None, S_1, ..., S_{N-1}]``, ``S_j = W_N ... W_{j+1}`` (``S_0 = pi`` is not formed)."""
    N = len(factors)
    out = [None] * N
    acc = factors[-1]
    out[N - 1] = acc
    for j in range(N - 2, 0, -1):
        acc = acc @ factors[j]
        out[j] = acc
    return out


def _product(factors):
    out = factors[0]
    for W in factors[1:]:
        out = W @ out
    return out


def _differential(factors, H):
    N = len(factors)
    if N == 1:
        return np.array(H[0], dtype=float)
    P = _prefixes(factors)
    S = _suffixes(factors)
    total = S[1] @ H[0]
    for j in range(1, N - 1):
        total = total + S[j + 1] @ (H[j] @ P[j - 1])
    return total + H[N - 1] @ P[N - 2]


def _adjoint(factors, Z):
    """``[S_j^T Z P_{j-1}^T]`` for dense, sparse or low-rank ``Z``, never densified."""
    N = len(factors)
    if N == 1:
        if is_low_rank(Z) or sp.issparse(Z):
            return [ambient_to_dense(Z)]
        return [np.array(Z, dtype=float)]
    P = _prefixes(factors)
    S = _suffixes(factors)
    out = [ambient_rmatmul(Z, S[1]).T]  # (Z^T S_1)^T = S_1^T Z, thin
    for j in range(1, N - 1):
        out.append(S[j + 1].T @ ambient_matmul(Z, P[j - 1].T))
    out.append(ambient_matmul(Z, P[N - 2].T))
    return out


# ---------------------------------------------------------------------- public API
def widths(factors) -> tuple[int, ...]:
    r"""The widths :math:`(d_0, d_1, \dots, d_N)` of the layers ``[W_1, ..., W_N]``.

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

    Examples
    --------
    >>> import numpy as np
    >>> product([np.ones((3, 2)), np.ones((1, 3))])
    array([[3., 3.]])
    """
    return _product(check_factors(factors))


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

    References
    ----------
    Bah et al., arXiv:1910.05505 (the product map).
    """
    F = check_factors(factors)
    return _differential(F, _check_like(F, H, "H"))


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

    References
    ----------
    Bah et al., arXiv:1910.05505 (the adjoint of the differential of the product map).
    """
    F = check_factors(factors)
    return _adjoint(F, _check_ambient(F, Z, "Z"))


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

    References
    ----------
    Bah et al., arXiv:1910.05505 (the gradient of the overparameterized loss).
    """
    F = check_factors(factors)
    return _adjoint(F, _check_ambient(F, G, "G"))


def imbalance(factors) -> list[np.ndarray]:
    r"""The ``N - 1`` imbalance matrices :math:`D_j = W_{j+1}^\top W_{j+1} - W_j W_j^\top`.

    They are conserved by the gradient flow of :math:`L^N`; the factors are *balanced*
    when all vanish (Arora et al., arXiv:1810.02281, Definition 1; Bah et al.,
    arXiv:1910.05505; the user guide, section "Balancedness and the conservation law").

    Returns
    -------
    list of ndarray
        ``D_1, ..., D_{N-1}``, ``D_j`` of shape ``(d_j, d_j)`` (empty for ``N = 1``).
    """
    F = check_factors(factors)
    return [F[j + 1].T @ F[j + 1] - F[j] @ F[j].T for j in range(len(F) - 1)]


def imbalance_norm(factors) -> float:
    r"""Relative imbalance :math:`\max_j \|D_j\|_F / \max_j \|W_j\|_2^2`.

    The scale is the largest *squared spectral* norm of a layer, so the value is
    invariant under ``W_j -> c W_j`` for all ``j`` and of order one for generic
    unbalanced factors. It is ``0.0`` for ``N = 1`` and for all-zero factors.
    """
    F = check_factors(factors)
    if len(F) == 1:
        return 0.0
    scale = max(np.linalg.norm(W, 2) ** 2 if W.size else 0.0 for W in F)
    num = max(np.linalg.norm(D) for D in imbalance(F))
    if scale == 0.0:
        return 0.0
    return float(num / scale)


def is_balanced(factors, rtol: float = 1e-10) -> bool:
    """Whether :func:`imbalance_norm` is at most ``rtol``."""
    rtol = check_nonnegative(rtol, "rtol")
    return imbalance_norm(factors) <= rtol


def _check_widths(widths_, name="widths") -> tuple[int, ...]:
    if isinstance(widths_, (str, bytes)) or not isinstance(widths_, Sequence):
        raise TypeError(f"{name} must be a sequence (d_0, ..., d_N) of ints; got {widths_!r}")
    if len(widths_) < 2:
        raise ValueError(f"{name} must hold at least (d_0, d_1); got {tuple(widths_)}")
    return tuple(check_int(d, f"{name}[{i}]") for i, d in enumerate(widths_))


def _svd_of(W, name: str):
    if is_triple(W):
        return check_point(W, name)
    if sp.issparse(W):
        W = W.toarray()
    W = check_array(W, name, ndim=2)
    u, s, vt = np.linalg.svd(W, full_matrices=False)
    tol = max(W.shape) * np.finfo(float).eps * (s[0] if s.size else 0.0)
    k = int(np.sum(s > tol))
    return u[:, :k], s[:k], vt[:k]


def _balanced_from_svd(u, s, vt, ws, frames):
    N = len(ws) - 1
    root = _metric.rational_power(s, 1, N) if s.size else s
    Q = [vt.T] + list(frames) + [u]
    return [(Q[j + 1] * root) @ Q[j].T for j in range(N)]


def balanced_factors(W, widths, rng=None) -> list[np.ndarray]:
    r"""Balanced layers whose product is ``W``.

    With the thin SVD :math:`W = U S V^\top` of rank :math:`k` and orthonormal
    :math:`Q_j \in \mathbb R^{d_j \times k}`, :math:`Q_0 = V`, :math:`Q_N = U`,

    .. math:: W_j = Q_j S^{1/N} Q_{j-1}^\top, \qquad j = 1, \dots, N,

    so :math:`W_N \cdots W_1 = W` and :math:`W_{j+1}^\top W_{j+1} = Q_j S^{2/N} Q_j^\top
    = W_j W_j^\top`. The hidden frames :math:`Q_1, \dots, Q_{N-1}` are Haar-distributed
    (drawn from ``rng``); they sweep the balanced fibre over ``W`` (Bah et al.,
    arXiv:1910.05505; Arora et al.'s Procedure 1 uses :math:`Q_j = [I; 0]`).

    Parameters
    ----------
    W : ndarray or tuple (u, s, vt)
        A dense ``m x n`` matrix (its rank is the numerical rank, singular values above
        ``max(m, n) * eps * s_1``) or a manifold point ``(u, s, vt)`` (rank ``s.size``).
    widths : sequence of int
        ``(d_0, ..., d_N)`` with ``d_0 = n`` and ``d_N = m``; the depth is
        ``len(widths) - 1``.
    rng : None, int, SeedSequence or Generator
        Source of the hidden frames.

    Returns
    -------
    list of ndarray
        ``[W_1, ..., W_N]``.

    Raises
    ------
    ValueError
        If ``d_0, d_N`` do not match the shape of ``W`` or a hidden width is below the
        rank of ``W``.
    """
    u, s, vt = _svd_of(W, "W")
    ws = _check_widths(widths)
    m, n = u.shape[0], vt.shape[1]
    if ws[0] != n or ws[-1] != m:
        raise ValueError(
            f"widths must start with d_0 = n = {n} and end with d_N = m = {m} for W of "
            f"shape ({m}, {n}); got {ws}"
        )
    k = s.size
    for j, d in enumerate(ws[1:-1], start=1):
        if d < k:
            raise ValueError(
                f"widths[{j}] = {d} is below rank W = {k}: a product through a layer of "
                f"width {d} has rank at most {d}"
            )
    gen = as_generator(rng)
    frames = [_haar_stiefel(gen, d, k) for d in ws[1:-1]]
    return _balanced_from_svd(u, s, vt, ws, frames)


def balanced_initialization(
    widths, rng=None, scale: float = 1.0, *, frames: str = "random"
) -> list[np.ndarray]:
    r"""Arora et al.'s balanced initialization (Procedure 1).

    Sample the end-to-end matrix :math:`A \in \mathbb R^{d_N \times d_0}` with iid
    :math:`\mathcal N(0, \text{scale}^2)` entries, then factor it balanced:
    :math:`W_j = Q_j S^{1/N} Q_{j-1}^\top` with :math:`A = U S V^\top`.

    Parameters
    ----------
    widths : sequence of int
        ``(d_0, ..., d_N)``; every hidden width must be ``>= min(d_0, d_N)`` (the rank of
        ``A`` almost surely), as in Arora et al.
    rng : None, int, SeedSequence or Generator
        Source of ``A`` and of the hidden frames.
    scale : float, default 1
        Standard deviation of the entries of ``A``.
    frames : {"random", "canonical"}
        ``"canonical"`` takes :math:`Q_j = [I_k; 0]` exactly as in Procedure 1 (``W_1 =
        S^{1/N} V^T`` and ``W_N = U S^{1/N}`` zero-padded); ``"random"`` takes Haar frames
        (the same end-to-end distribution, rotated hidden layers).

    References
    ----------
    Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1.
    """
    ws = _check_widths(widths)
    scale = check_positive(scale, "scale")
    if frames not in ("random", "canonical"):
        raise ValueError(f"frames must be 'random' or 'canonical'; got {frames!r}")
    gen = as_generator(rng)
    A = scale * gen.standard_normal((ws[-1], ws[0]))
    if frames == "random":
        return balanced_factors(A, ws, rng=gen)
    u, s, vt = _svd_of(A, "A")
    k = s.size
    for j, d in enumerate(ws[1:-1], start=1):
        if d < k:
            raise ValueError(f"widths[{j}] = {d} is below rank A = {k} = min(d_0, d_N)")
    return _balanced_from_svd(u, s, vt, ws, [np.eye(d, k) for d in ws[1:-1]])


def to_point(factors, k: int) -> FixedRankPoint:
    r"""The point ``(u, s, vt)`` of :math:`\mathcal M_k` of the product of the layers.

    The reverse map is :func:`balanced_factors` (which accepts the point).

    Raises
    ------
    ValueError
        If the numerical rank of the product (singular values above
        ``max(m, n) * eps * s_1``) is not ``k``.
    """
    F = check_factors(factors)
    k = check_int(k, "k")
    with np.errstate(over="ignore", invalid="ignore"):
        W = _product(F)
    if not np.all(np.isfinite(W)):
        raise ValueError("factors: their product overflows (entries beyond 1.8e308)")
    u, s, vt = np.linalg.svd(W, full_matrices=False)
    tol = max(W.shape) * np.finfo(float).eps * (s[0] if s.size else 0.0)
    rank = int(np.sum(s > tol))
    if rank != k:
        raise ValueError(
            f"the product of factors has numerical rank {rank}, not k={k} (leading "
            f"singular values {s[: k + 1]}); pass k={rank} or factors of rank {k}"
        )
    return FixedRankPoint(u[:, :k], s[:k], vt[:k])


def _point_for(F, point):
    if not is_triple(point):
        raise TypeError(
            "point must be the point (u, s, vt) of product(factors) whose SVD the "
            "coordinates of xi refer to (get it from to_point(factors, k)); got "
            f"{type(point).__name__}: a matrix does not fix the signs and order of the "
            "singular vectors that (Up, M, Vp) are written in"
        )
    u, s, vt = check_point(point, "point")
    W = _product(F)
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

    References
    ----------
    Bah et al., arXiv:1910.05505 (the Riemannian submersion); the user guide, section
    "The submersion picture".
    """
    F = check_factors(factors)
    u, s, vt = _point_for(F, point)
    m, k, n = u.shape[0], s.size, vt.shape[1]
    if not isinstance(xi, (tuple, list)) or len(xi) != 3:
        raise TypeError(f"xi must be a tangent vector (Up, M, Vp); got {type(xi).__name__}")
    Up = check_array(xi[0], "xi.Up", shape=(m, k))
    M = check_array(xi[1], "xi.M", shape=(k, k))
    Vp = check_array(xi[2], "xi.Vp", shape=(n, k))
    weights = _metric.metric_weights(s, len(F))
    eUp, eM, eVp = _metric.apply_metric_inverse(weights, (Up, M, Vp))
    # eta = u eM v^T + eUp v^T + u eVp^T = [u, eUp] [[eM, I], [I, 0]] [v, eVp]^T
    mid = np.block([[eM, np.eye(k)], [np.eye(k), np.zeros((k, k))]])
    return _adjoint(F, (np.hstack([u, eUp]), mid, np.hstack([vt.T, eVp])))


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
    """
    F = check_factors(factors)
    Hs = _check_like(F, H, "H")
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
        P = [np.eye(n)] + (_prefixes(G) if N > 1 else [])
        S = (_suffixes(G)[1:] if N > 1 else []) + [np.eye(m)]
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
