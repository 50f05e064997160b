r"""Balanced layers: the imbalance matrices and balanced factorizations of a matrix.

The layers are *balanced* when :math:`W_{j+1}^\top W_{j+1} = W_j W_j^\top` for all
:math:`j`; the gradient flow of the layer loss conserves every difference (Arora et al.,
arXiv:1810.02281, Definition 1; Bah et al., arXiv:1910.05505).

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

from riemlin._validation import (
    as_generator,
    check_array,
    check_factors,
    check_int,
    check_nonnegative,
    check_point,
    check_positive,
    numerical_rank,
)
from riemlin.geometry.ambient import is_triple
from riemlin.geometry.manifold import random_frame
from riemlin.geometry.metric import rational_power

__all__ = [
    "imbalance",
    "imbalance_norm",
    "is_balanced",
    "balanced_factors",
    "balanced_initialization",
    "check_widths",
    "svd_of",
    "balanced_from_svd",
]


def imbalance(factors) -> list[np.ndarray]:
    r"""The ``N - 1`` imbalance matrices :math:`D_j = W_{j+1}^\top W_{j+1} - W_j W_j^\top`.

    They are conserved by the gradient flow of :math:`L^N`; the factors are *balanced*
    when all vanish (Arora et al., arXiv:1810.02281, Definition 1; Bah et al.,
    arXiv:1910.05505; the user guide, section "Balancedness and the conservation law").

    Parameters
    ----------
    factors : list of ndarray
        The layers ``[W_1, ..., W_N]``, ``W_j`` of shape ``(d_j, d_{j-1})``.

    Returns
    -------
    list of ndarray
        ``D_1, ..., D_{N-1}``, ``D_j`` of shape ``(d_j, d_j)`` (empty for ``N = 1``).

    Raises
    ------
    TypeError
        If ``factors`` is not a list of arrays of real numbers.
    ValueError
        If ``factors`` is empty, an entry is not 2-D or not finite, or the shapes do not
        chain.
    """
    F = check_factors(factors)
    return [F[j + 1].T @ F[j + 1] - F[j] @ F[j].T for j in range(len(F) - 1)]


def imbalance_norm(factors) -> float:
    r"""Relative imbalance :math:`\max_j \|D_j\|_F / \max_j \|W_j\|_2^2`.

    The scale is the largest *squared spectral* norm of a layer, so the value is
    invariant under ``W_j -> c W_j`` for all ``j`` and of order one for generic
    unbalanced factors. It is ``0.0`` for ``N = 1`` and for all-zero factors.

    Parameters
    ----------
    factors : list of ndarray
        The layers ``[W_1, ..., W_N]``, ``W_j`` of shape ``(d_j, d_{j-1})``.

    Returns
    -------
    float
        The relative imbalance, ``>= 0``; zero exactly for balanced factors.

    Raises
    ------
    TypeError
        If ``factors`` is not a list of arrays of real numbers.
    ValueError
        If ``factors`` is empty, an entry is not 2-D or not finite, or the shapes do not
        chain.
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
    """Whether :func:`imbalance_norm` is at most ``rtol``.

    Parameters
    ----------
    factors : list of ndarray
        The layers ``[W_1, ..., W_N]``, ``W_j`` of shape ``(d_j, d_{j-1})``.
    rtol : float, default 1e-10
        Tolerance on the relative imbalance. The default sits far above the rounding
        of :func:`balanced_factors` (a few ``eps``) and far below the imbalance of
        generic factors (of order one).

    Returns
    -------
    bool
        ``imbalance_norm(factors) <= rtol``.

    Raises
    ------
    TypeError
        If ``factors`` is not a list of arrays of real numbers or ``rtol`` is not a real
        number.
    ValueError
        If ``rtol`` is negative or not finite, or ``factors`` is empty, has an entry that
        is not 2-D or not finite, or shapes that do not chain.
    """
    rtol = check_nonnegative(rtol, "rtol")
    return imbalance_norm(factors) <= rtol


def check_widths(widths_, name="widths") -> tuple[int, ...]:
    """Widths ``(d_0, ..., d_N)``: a sequence of at least two positive ints.

    Parameters
    ----------
    widths_ : sequence of int
        The widths to check, input width first.
    name : str, default "widths"
        Name of the argument in error messages.

    Returns
    -------
    tuple of int
        The widths as Python ints.

    Raises
    ------
    TypeError
        If ``widths_`` is not a sequence (a string included) or an entry is not an int.
    ValueError
        If fewer than two widths are given or one is below 1.
    """
    if isinstance(widths_, (str, bytes)) or not isinstance(widths_, Sequence):
        raise TypeError(f"{name} must be a sequence (d_0, ..., d_N) of ints; got {widths_!r}")
    if len(widths_) < 2:
        raise ValueError(f"{name} must hold at least (d_0, d_1); got {tuple(widths_)}")
    return tuple(check_int(d, f"{name}[{i}]") for i, d in enumerate(widths_))


def svd_of(W, name: str):
    r"""The thin SVD of a point ``(u, s, vt)`` (checked) or of a matrix, cut at its rank.

    The numerical rank counts the singular values above ``max(m, n) * eps * s_1``.

    Parameters
    ----------
    W : ndarray, sparse matrix or tuple (u, s, vt)
        A dense or sparse ``m x n`` matrix, or a point of :math:`\mathcal M_k`.
    name : str
        Name of the argument in error messages.

    Returns
    -------
    tuple of ndarray
        ``(u, s, vt)`` of shapes ``(m, k)``, ``(k,)``, ``(k, n)`` with ``k`` the numerical
        rank (``k = 0`` for a zero matrix); a point is returned as given (converted to
        ``float64``).

    Raises
    ------
    TypeError
        If ``W`` holds non-real data, or a point is not a triple of real arrays.
    ValueError
        If a matrix is not 2-D or not finite, or a point is invalid (shapes, ``s > 0``,
        orthonormal frames).
    """
    if is_triple(W):
        return check_point(W, name)
    if sp.issparse(W):
        W = W.toarray()
    W = check_array(W, name, ndim=2)
    u, s, vt = np.linalg.svd(W, full_matrices=False)
    k = numerical_rank(s, W.shape)
    return u[:, :k], s[:k], vt[:k]


def balanced_from_svd(u, s, vt, ws, frames):
    """The balanced layers ``W_j = Q_j S^{1/N} Q_{j-1}^T`` with ``Q_0 = v``, ``Q_N = u``.

    No input checks: :func:`balanced_factors` and :func:`balanced_initialization` check and
    call it.

    Parameters
    ----------
    u : ndarray, shape (m, k)
        Left singular vectors of the end-to-end matrix.
    s : ndarray, shape (k,)
        Its positive singular values.
    vt : ndarray, shape (k, n)
        Its right singular vectors.
    ws : sequence of int
        The widths ``(d_0, ..., d_N)``, ``d_0 = n``, ``d_N = m``.
    frames : sequence of ndarray
        The hidden frames ``Q_1, ..., Q_{N-1}``, ``Q_j`` of shape ``(d_j, k)`` with
        orthonormal columns.

    Returns
    -------
    list of ndarray
        ``[W_1, ..., W_N]``, ``W_j`` of shape ``(d_j, d_{j-1})``, balanced, with product
        ``u diag(s) vt``.
    """
    N = len(ws) - 1
    root = rational_power(s, 1, N) if s.size else s
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
    TypeError
        If ``W`` holds non-real data, ``widths`` is not a sequence of ints, or ``rng`` is
        not a valid source of randomness.
    ValueError
        If ``d_0, d_N`` do not match the shape of ``W``, a hidden width is below the
        rank of ``W``, or ``W`` is not finite (or not a valid point).
    """
    u, s, vt = svd_of(W, "W")
    ws = check_widths(widths)
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
    frames = [random_frame(gen, d, k) for d in ws[1:-1]]
    return balanced_from_svd(u, s, vt, ws, frames)


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

    Returns
    -------
    list of ndarray
        ``[W_1, ..., W_N]``, ``W_j`` of shape ``(d_j, d_{j-1})``, balanced, whose product
        is the sampled ``A``.

    Raises
    ------
    TypeError
        If ``widths`` is not a sequence of ints, ``scale`` is not a real number, or
        ``rng`` is not a valid source of randomness.
    ValueError
        If a width is below 1, ``scale`` is not positive and finite, ``frames`` is
        neither ``"random"`` nor ``"canonical"``, or a hidden width is below
        ``min(d_0, d_N)``.

    References
    ----------
    Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1.
    """
    ws = check_widths(widths)
    scale = check_positive(scale, "scale")
    if frames not in ("random", "canonical"):
        raise ValueError(f"frames must be 'random' or 'canonical'; got {frames!r}")
    gen = as_generator(rng)
    A = scale * gen.standard_normal((ws[-1], ws[0]))
    if frames == "random":
        return balanced_factors(A, ws, rng=gen)
    u, s, vt = svd_of(A, "A")
    k = s.size
    for j, d in enumerate(ws[1:-1], start=1):
        if d < k:
            raise ValueError(f"widths[{j}] = {d} is below rank A = {k} = min(d_0, d_N)")
    return balanced_from_svd(u, s, vt, ws, [np.eye(d, k) for d in ws[1:-1]])
