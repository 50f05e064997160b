r"""The deep-linear metric on :math:`\mathcal M_k` in SVD coordinates.

At a rank-:math:`k` matrix :math:`W = U S V^\top` the metric induced by a depth-:math:`N`
linear network is (Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505)

.. math::

    g_W(\xi, \eta) = \langle \mathcal A_W^{-1}(\xi), \eta \rangle_F, \qquad
    \mathcal A_W(Z) = \sum_{j=1}^{N} (W W^\top)^{\frac{N-j}{N}} \, Z \,
    (W^\top W)^{\frac{j-1}{N}} .

A tangent vector :math:`\xi = U M V^\top + U_p V^\top + U V_p^\top` (``U^T Up = 0``,
``V^T Vp = 0``, pymanopt's ``(Up, M, Vp)`` convention) is mapped by
:math:`\mathcal A_W` block by block: with :math:`p_a = s_a^{2/N}`,

.. math::

    M \mapsto K \odot M, \quad K_{ab} = \sum_{j=1}^{N} p_a^{N-j} p_b^{j-1}, \qquad
    U_p \mapsto U_p \operatorname{diag}(c), \; V_p \mapsto V_p \operatorname{diag}(c),
    \quad c_a = s_a^{2(N-1)/N}.

Every function here costs :math:`O((m+n)k + k^2)` and does not depend on the depth.
The functions are plain numpy (no input checks) so that they can be traced by autograd;
:class:`riemlin.FixedRankDeepLinear` validates its inputs before calling them.

References
----------
.. [BRTW] B. Bah, H. Rauhut, U. Terstiege, M. Westdickenberg, "Learning deep linear
   neural networks: Riemannian gradient flows and convergence to global minimizers",
   Information and Inference 11 (2022); arXiv:1910.05505.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "MetricWeights",
    "metric_weights",
    "apply_metric",
    "apply_metric_inverse",
    "metric_inner",
    "rational_power",
    "scale_columns",
]


class MetricWeights(NamedTuple):
    """The SVD-coordinate weights of :math:`\\mathcal A_W` at one point.

    Attributes
    ----------
    K : ndarray, shape (k, k)
        Weights of the ``M`` block, symmetric with positive entries.
    c : ndarray, shape (k,)
        Weights of the ``Up`` and ``Vp`` blocks, ``c_a = s_a^{2(N-1)/N}``.
    """

    K: np.ndarray
    c: np.ndarray


def rational_power(x: np.ndarray, num: int, den: int) -> np.ndarray:
    r"""Accurate :math:`x^{num/den}` for positive ``x`` and integers ``num``, ``den``.

    ``np.power(x, num / den)`` rounds the exponent, which costs
    ``|num/den * log x|`` ulps (about 18 ulps at ``x = 1e8``). Writing
    ``x = f 2^e`` with ``f`` in ``[1/2, 1)`` and ``e num = q den + r`` gives
    ``x^{num/den} = 2^q \, 2^{r/den} f^{num/den}``, where ``2^q`` is exact and the two
    remaining powers have arguments of order one, so the result is good to about 3
    ulps for every ``x``.

    Parameters
    ----------
    x : ndarray
        Positive finite numbers, any shape (no check: inner numerical code).
    num : int
        Numerator of the exponent (any sign).
    den : int
        Denominator of the exponent, positive.

    Returns
    -------
    ndarray
        :math:`x^{num/den}` elementwise, the shape of ``x``.
    """
    f, e = np.frexp(x)
    q, r = np.divmod(e.astype(np.int64) * num, den)
    return np.ldexp(np.power(f, num / den) * np.exp2(r / den), q)


def metric_weights(s: np.ndarray, depth: int) -> MetricWeights:
    r"""Weights ``K`` and ``c`` of :math:`\mathcal A_W` from the singular values.

    .. math::

        K_{ab} = \sum_{j=1}^{N} p_a^{N-j} p_b^{j-1}, \qquad p_a = s_a^{2/N},
        \qquad c_a = s_a^{2(N-1)/N} = K_{aa} / N .

    The sum is evaluated in the closed form

    .. math::

        K_{ab} = p_{\max}^{N-1}\, \frac{\operatorname{expm1}(-N\delta)}
        {\operatorname{expm1}(-\delta)}, \qquad
        \delta = |\log p_a - \log p_b| = \tfrac{2}{N}
        \left|\log\left(1 + \tfrac{s_a - s_b}{s_b}\right)\right|,

    with the limit ``N`` at ``delta = 0``. It has no cancellation when ``s_a`` and
    ``s_b`` nearly coincide (``s_a - s_b`` is exact there and ``log1p``/``expm1`` keep
    full relative accuracy), and no intermediate overflows (``p^N`` is never formed), so
    it is accurate to a few ulps for any depth and singular values from ``1e-150`` to
    ``1e150``.

    Parameters
    ----------
    s : ndarray, shape (k,) or (..., k)
        Positive singular values of ``W`` (or of a stack of points).
    depth : int
        Depth ``N >= 1`` of the network.

    Returns
    -------
    MetricWeights
        ``(K, c)``, of shapes ``s.shape + (k,)`` and ``s.shape``.

    References
    ----------
    Bah et al., arXiv:1910.05505 (the operator :math:`\mathcal A_W`); the closed form
    and its accuracy are derived in the user guide, section "Stable evaluation of the
    weights".

    Examples
    --------
    >>> import numpy as np
    >>> K, c = metric_weights(np.array([2.0, 1.0]), depth=2)
    >>> K  # sum_j p_a^{2-j} p_b^{j-1} = p_a + p_b with p = s
    array([[4., 3.],
           [3., 2.]])
    >>> c
    array([2., 1.])
    """
    s = np.asarray(s, dtype=float)
    N = depth
    c = rational_power(s, 2 * (N - 1), N)
    if N == 1:
        return MetricWeights(np.ones(s.shape + s.shape[-1:]), c)
    # delta = (2/N) log(smax/smin) >= 0, with log1p of an exact difference
    # (|s_a - s_b| = smax - smin exactly). Few temporaries: the flows call this per step.
    sa, sb = s[..., :, None], s[..., None, :]  # leading axes: a stack of points
    delta = np.log1p(np.abs(sa - sb) / np.minimum(sa, sb))
    delta *= 2.0 / N
    num = np.expm1(delta * -N)
    K = np.divide(num, np.expm1(-delta), out=np.full_like(num, float(N)), where=delta > 0)
    K *= np.maximum(c[..., :, None], c[..., None, :])
    return MetricWeights(K, c)


def scale_columns(A: np.ndarray, c: np.ndarray, *, inverse: bool = False, tiles=None):
    r"""``A diag(c)`` (or ``A diag(c)^{-1}``): the column weights of :math:`\mathcal A_W`.

    Scaling the columns of a C-ordered ``(rows, k)`` array by broadcasting runs an inner
    loop of length ``k`` per row, several times slower than scaling by one number; with a
    ``tiles`` dict, ``c`` (or ``1 / c``) is tiled once to length ``rows * k`` and kept in
    it, and every later call is one flat multiply at full memory speed. The tiles cost
    the memory of the array; keep one dict per point (the weights change with the point).

    Parameters
    ----------
    A : ndarray, shape (rows, k)
        The matrix whose columns are scaled, e.g. ``U_p`` of a tangent vector.
    c : ndarray, shape (k,)
        The column weights, e.g. :math:`c_a = s_a^{2(N-1)/N}` of :func:`metric_weights`.
    inverse : bool, default False
        Divide by ``c`` instead.
    tiles : dict, optional
        A cache of tiled weights for this ``c``, keyed by ``(rows, inverse)``; filled on
        first use. Without it (or for a non C-contiguous ``A``) ``A`` is scaled by
        broadcasting.

    Returns
    -------
    ndarray, shape (rows, k)
        ``A * c`` (or ``A / c``), a new array.
    """
    if tiles is None or not A.flags.c_contiguous:
        return A / c if inverse else A * c
    key = (A.shape[0], inverse)
    tile = tiles.get(key)
    if tile is None:
        tile = tiles[key] = np.tile(1.0 / c if inverse else c, A.shape[0])
    return (A.reshape(-1) * tile).reshape(A.shape)


def apply_metric(weights: MetricWeights, xi, *, tiles=None):
    r"""Apply :math:`\mathcal A_W` to a tangent vector in SVD coordinates.

    .. math:: (U_p, M, V_p) \mapsto (U_p \operatorname{diag}(c),\; K \odot M,\;
              V_p \operatorname{diag}(c)).

    Parameters
    ----------
    weights : MetricWeights
        From :func:`metric_weights`.
    xi : tuple of ndarray
        Tangent vector ``(Up, M, Vp)``.
    tiles : dict, optional
        Tiled column weights of this point (:func:`scale_columns`).

    Returns
    -------
    tuple of ndarray
        ``A_W(xi)`` as ``(Up, M, Vp)``.
    """
    K, c = weights
    Up, M, Vp = xi
    return scale_columns(Up, c, tiles=tiles), K * M, scale_columns(Vp, c, tiles=tiles)


def apply_metric_inverse(weights: MetricWeights, xi, *, tiles=None):
    r"""Apply :math:`\mathcal A_W^{-1}` to a tangent vector in SVD coordinates.

    .. math:: (U_p, M, V_p) \mapsto (U_p \operatorname{diag}(c)^{-1},\; M \oslash K,\;
              V_p \operatorname{diag}(c)^{-1}).

    Parameters
    ----------
    weights : MetricWeights
        From :func:`metric_weights`.
    xi : tuple of ndarray
        Tangent vector ``(Up, M, Vp)``.
    tiles : dict, optional
        Tiled column weights of this point (:func:`scale_columns`).

    Returns
    -------
    tuple of ndarray
        ``A_W^{-1}(xi)`` as ``(Up, M, Vp)``.
    """
    K, c = weights
    Up, M, Vp = xi
    return (
        scale_columns(Up, c, inverse=True, tiles=tiles),
        M / K,
        scale_columns(Vp, c, inverse=True, tiles=tiles),
    )


def metric_inner(weights: MetricWeights, xi, eta) -> float:
    r"""The deep-linear inner product :math:`g_W(\xi, \eta)` in SVD coordinates.

    .. math::

        g_W(\xi, \eta) = \sum_{a,b} \frac{M^\xi_{ab} M^\eta_{ab}}{K_{ab}}
        + \sum_a \frac{(U_p^{\xi\top} U_p^\eta + V_p^{\xi\top} V_p^\eta)_{aa}}{c_a}.

    Parameters
    ----------
    weights : MetricWeights
        From :func:`metric_weights`.
    xi, eta : tuple of ndarray
        Tangent vectors ``(Up, M, Vp)`` at the same point.

    Returns
    -------
    float
        The inner product.
    """
    K, c = weights
    Up_a, M_a, Vp_a = xi
    Up_b, M_b, Vp_b = eta
    cols = np.einsum("ia,ia->a", Up_a, Up_b) + np.einsum("ia,ia->a", Vp_a, Vp_b)
    return np.sum(M_a * M_b / K) + np.sum(cols / c)
