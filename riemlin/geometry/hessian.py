r"""Second order on :math:`\mathcal M_k` under the deep-linear metric, in SVD coordinates.

The Riemannian Hessian of :math:`f` under :math:`g_W(\xi,\eta) =
\langle\mathcal A_W^{-1}\xi,\eta\rangle_F` (Bah, Rauhut, Terstiege, Westdickenberg,
arXiv:1910.05505) is

.. math::

    \operatorname{Hess}^g f(W)[\xi] = \mathcal A_W\bigl(\operatorname{Hess}^e f(W)[\xi]\bigr)
    + \Gamma_W(\xi; G),

where :math:`\operatorname{Hess}^e` is the Hessian for the embedded metric (the
Absil–Mahony–Trumpf Weingarten formula, what Manopt's ``fixedrankembeddedfactory``
computes) and :math:`\Gamma_W(\xi; G)` collects the change of connection, which only
involves the Euclidean gradient :math:`G` through :math:`Gv` and :math:`G^\top u`.

**Derivation** (checked against a local-chart Christoffel computation in the tests).
For depth :math:`N \ge 2` the balanced factors over :math:`W` form a manifold on which
the product map :math:`\pi` is a Riemannian submersion onto :math:`(\mathcal M_k, g)`
(Bah et al., arXiv:1910.05505), and the Euclidean gradient of :math:`f\circ\pi`,
:math:`D\pi^*(G)`, is tangent to it. Horizontal geodesics project to geodesics, so
:math:`\operatorname{Hess}^g f(W)[\xi,\xi] = \langle D(G)[\xi],\xi\rangle +
\langle G, D^2\pi[h,h]\rangle` with the horizontal lift
:math:`h = D\pi^*(\mathcal A_W^{-1}\xi)`. Evaluating :math:`D^2\pi[h,h] = 2\sum_{i>j}
W_N\cdots h_i\cdots h_j\cdots W_1` on the balanced factors
:math:`W_N = u\Sigma`, :math:`W_j = \Sigma`, :math:`W_1 = \Sigma v^\top`
(:math:`\Sigma = S^{1/N}`) sums each coefficient to a complete homogeneous symmetric
polynomial of :math:`p_a = s_a^{2/N}`:

.. math::

    T_{acb} = h_{N-2}(p_a, p_c, p_b), \qquad F_{ab} = h_{N-2}(p_a, p_b),

the second and first divided differences of :math:`x^N` and :math:`x^{N-1}`. With
:math:`z = \mathcal A_W^{-1}\xi = (U_z, M_z, V_z)`, :math:`G_c = u^\top G v` and
:math:`\hat F_{cb} = s_c F_{cb}`:

.. math::

    \Gamma_M &= \textstyle\sum_a G_{c,ab}\, s_c T_{acb} M_{z,ac}
        + \sum_b G_{c,ab}\, s_c T_{acb} M_{z,cb}
        + \hat F \circ (U_z^\top G v) + \hat F^\top \circ (u^\top G V_z), \\
    \Gamma_{U_p} &= (I - uu^\top)\, G v\, (\hat F\circ M_z)^\top, \qquad
    \Gamma_{V_p} = (I - vv^\top)\, G^\top u\, (\hat F^\top\circ M_z),

(the first two sums are entry ``(c, b)`` and ``(a, c)`` of :math:`\Gamma_M`). The
curvature term :math:`\langle G, U_p S^{-1}V_p^\top\rangle` of the embedded Hessian
appears in the same sum and cancels exactly, which is why :math:`\Gamma` needs no
products of :math:`G` with :math:`U_p` or :math:`V_p`. At ``N = 1`` both tables vanish
and the formula is the embedded Hessian. Comparing with
:math:`\operatorname{Hess}^g f[\xi,\xi] = \operatorname{Hess}^e f[\xi,\xi] - g(\operatorname{grad}^g
f, C(\xi,\xi))` (user guide, section "A derivation through the layers") gives the
difference tensor of the two Levi-Civita
connections, :func:`connection_difference`.

Cost: :math:`O((m+n)k^2 + k^3\log N)` beyond the products with :math:`G` and the
Euclidean Hessian-vector product; the tables depend on ``s`` only and are computed once
per point, by exact binary powering of a bidiagonal matrix whose entries are all
nonnegative, so every operation adds nonnegative numbers and no cancellation occurs when
singular values nearly coincide.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from riemlin.geometry.metric import rational_power

__all__ = [
    "HessianWeights",
    "connection_difference",
    "connection_term",
    "embedded_hessian",
    "hessian_weights",
    "power_divided_differences",
]


class HessianWeights(NamedTuple):
    """Tables of :func:`hessian_weights` for one point.

    Attributes
    ----------
    T : ndarray, shape (k, k, k)
        ``T[a, c, b] = s_c h_{N-2}(p_a, p_c, p_b)`` (the factor ``s_c`` folded in).
    F : ndarray, shape (k, k)
        ``F[c, b] = s_c h_{N-2}(p_c, p_b)`` (rows scaled by ``s``).
    """

    T: np.ndarray
    F: np.ndarray


def power_divided_differences(q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    r"""First and second divided differences of :math:`x \mapsto x^n` on the points ``q``.

    Returns ``E[a, b] = x^n[q_a, q_b] = h_{n-1}(q_a, q_b)`` and
    ``T[a, b, c] = x^n[q_a, q_b, q_c] = h_{n-2}(q_a, q_b, q_c)``, where :math:`h_d` is
    the complete homogeneous symmetric polynomial of degree ``d`` (``h_d = 0`` for
    ``d < 0``), with confluent points handled exactly.

    By Opitz's formula the divided differences are the entries of :math:`J^n` for the
    upper bidiagonal :math:`J` with diagonal ``(q_a, q_b, q_c)`` and ones above it. The
    power is taken by binary powering on all triples at once; for ``q >= 0`` every
    product and sum involves nonnegative numbers only, so the relative error is a few
    ulps times :math:`\log_2 n`, whether or not the points nearly coincide.

    Parameters
    ----------
    q : ndarray, shape (k,)
        Nonnegative points.
    n : int
        Exponent, ``n >= 0``.

    Returns
    -------
    E : ndarray, shape (k, k)
        First divided differences :math:`h_{n-1}(q_a, q_b)`, symmetric; on the diagonal
        the derivative :math:`n q_a^{n-1}`.
    T : ndarray, shape (k, k, k)
        Second divided differences :math:`h_{n-2}(q_a, q_b, q_c)`, symmetric in its three
        indices.

    Examples
    --------
    >>> E, T = power_divided_differences(np.array([2.0, 1.0]), 3)
    >>> float(E[0, 1])  # (8 - 1) / (2 - 1)
    7.0
    >>> float(T[0, 0, 1])  # h_1(2, 2, 1)
    5.0
    """
    q = np.asarray(q, dtype=float)
    k = q.size
    # result = J^0, base = J; a triple (P, E, T) holds the diagonal, first and second
    # divided-difference entries of a power of J.
    res = (np.ones(k), np.zeros((k, k)), np.zeros((k, k, k)))
    base = (q.copy(), np.ones((k, k)), np.zeros((k, k, k)))
    while n:
        if n & 1:
            res = _times(res, base)
        n >>= 1
        if n:
            base = _times(base, base)
    return res[1], res[2]


def _times(A, B):
    # Product of two commuting powers of J in divided-difference form.
    Pa, Ea, Ta = A
    Pb, Eb, Tb = B
    E = Pa[:, None] * Eb + Ea * Pb[None, :]
    T = Pa[:, None, None] * Tb + Ea[:, :, None] * Eb[None, :, :] + Ta * Pb[None, None, :]
    return Pa * Pb, E, T


def hessian_weights(s: np.ndarray, depth: int) -> HessianWeights:
    r"""The tables :math:`s_c T_{acb}` and :math:`s_c F_{cb}` of the Hessian at ``W``.

    :math:`T_{acb} = h_{N-2}(p_a, p_c, p_b)` and :math:`F_{cb} = h_{N-2}(p_c, p_b)`,
    :math:`p = s^{2/N}`. :math:`F` is obtained as :math:`h_{N-2}(p_c, p_b, 0)` from the
    same powering (a zero point appended); the points are scaled by :math:`p_{\max}` to
    keep :math:`h` of order one, and the scale :math:`p_{\max}^{N-2}` restored through
    :func:`riemlin.geometry.metric.rational_power`. Both tables are zero at ``depth = 1``.

    Parameters
    ----------
    s : ndarray, shape (k,)
        Positive singular values of ``W``.
    depth : int
        Depth ``N >= 1``.

    Returns
    -------
    HessianWeights
        ``T`` of shape ``(k, k, k)`` and ``F`` of shape ``(k, k)``, each with the factor
        :math:`s_c` folded in (see :class:`HessianWeights`).
    """
    s = np.asarray(s, dtype=float)
    k = s.size
    N = int(depth)
    if N == 1:
        return HessianWeights(np.zeros((k, k, k)), np.zeros((k, k)))
    p = rational_power(s, 2, N)
    pmax = p.max()
    _, T = power_divided_differences(np.append(p / pmax, 0.0), N)
    scale = rational_power(s.max(), 2 * (N - 2), N)
    F = (scale * s)[:, None] * T[:k, :k, k]
    T = (scale * s)[None, :, None] * T[:k, :k, :k]
    return HessianWeights(T, F)


def embedded_hessian(u, s, vt, GVp, GtUp, HV, HtU):
    r"""Embedded-metric Riemannian Hessian (Weingarten formula) in coordinates.

    .. math::

        M = u^\top H v, \quad U_p = (I-uu^\top)(Hv + G V_p S^{-1}), \quad
        V_p = (I-vv^\top)(H^\top u + G^\top U_p S^{-1}),

    with ``GVp = G Vp``, ``GtUp = G^T Up``, ``HV = H v``, ``HtU = H^T u`` and
    :math:`H = D(\nabla f)(W)[\xi]` (Absil, Mahony, Trumpf, "An extrinsic look at the
    Riemannian Hessian", 2013; Manopt's ``fixedrankembeddedfactory``).

    Parameters
    ----------
    u : ndarray, shape (m, k)
        Left singular vectors of ``W`` (orthonormal columns).
    s : ndarray, shape (k,)
        Positive singular values of ``W``.
    vt : ndarray, shape (k, n)
        Right singular vectors of ``W`` (orthonormal rows).
    GVp : ndarray, shape (m, k)
        :math:`G V_p`: the Euclidean gradient :math:`G` times the ``Vp`` part of the
        direction :math:`\xi = (U_p, M, V_p)`.
    GtUp : ndarray, shape (n, k)
        :math:`G^\top U_p`.
    HV : ndarray, shape (m, k)
        :math:`H v`, the Euclidean Hessian-vector product times ``v``.
    HtU : ndarray, shape (n, k)
        :math:`H^\top u`.

    Returns
    -------
    tuple of ndarray
        The tangent vector ``(Up, M, Vp)`` of :math:`\operatorname{Hess}^e f(W)[\xi]`,
        shapes ``(m, k)``, ``(k, k)``, ``(n, k)``.
    """
    v = vt.T
    M = u.T @ HV
    Up = HV + GVp / s
    Up -= u @ (u.T @ Up)
    Vp = HtU + GtUp / s
    Vp -= v @ (vt @ Vp)
    return Up, M, Vp


def connection_term(u, vt, weights: HessianWeights, z, GV, GtU):
    r"""The term :math:`\Gamma_W(\xi; G)` of the Hessian (formula in the module docstring).

    Parameters
    ----------
    u : ndarray, shape (m, k)
        Left singular vectors of ``W``.
    vt : ndarray, shape (k, n)
        Right singular vectors of ``W``.
    weights : HessianWeights
        The tables at ``W``, from :func:`hessian_weights`.
    z : tuple (Up, M, Vp)
        :math:`\mathcal A_W^{-1}\xi` in tangent coordinates, shapes ``(m, k)``,
        ``(k, k)``, ``(n, k)``.
    GV : ndarray, shape (m, k)
        :math:`G v`, the Euclidean gradient times ``v``.
    GtU : ndarray, shape (n, k)
        :math:`G^\top u`.

    Returns
    -------
    tuple (Up, M, Vp)
        :math:`\Gamma_W(\xi; G)` as a tangent vector at ``W``, shapes ``(m, k)``,
        ``(k, k)``, ``(n, k)``; zero at depth 1.
    """
    T, F = weights
    Uz, Mz, Vz = z
    Gc = u.T @ GV
    Y1 = F * Mz  # [c, b]
    Y2 = F.T * Mz  # [a, c]
    M = (
        np.einsum("ab,acb,ac->cb", Gc, T, Mz)
        + np.einsum("ab,acb,cb->ac", Gc, T, Mz)
        + F * (Uz.T @ GV)
        + F.T * (GtU.T @ Vz)
    )
    Up = GV @ Y1.T - u @ (Gc @ Y1.T)
    Vp = GtU @ Y2 - vt.T @ (Gc.T @ Y2)
    return Up, M, Vp


def connection_difference(weights: HessianWeights, z, w):
    r"""Difference :math:`C(\xi, \eta)` of the Levi-Civita connections of ``g`` and ``e``.

    Here ``e`` is the embedded (Frobenius) metric on :math:`\mathcal M_k`:
    :math:`\nabla^g_\xi Y = \nabla^e_\xi Y + C(\xi, Y)`, symmetric and bilinear; with
    :math:`z = \mathcal A_W^{-1}\xi`, :math:`w = \mathcal A_W^{-1}\eta`,

    .. math::

        C(\xi,\xi) = -2\bigl(u X v^\top + U_z (\hat F\circ M_z) v^\top
        + u (\hat F^\top\circ M_z) V_z^\top\bigr), \qquad
        X_{ab} = \textstyle\sum_c s_c T_{acb} M_{z,ac} M_{z,cb},

    polarized. A curve in :math:`\mathcal M_k` is a ``g``-geodesic iff its tangential
    acceleration is :math:`-C(\dot W, \dot W)`.

    Parameters
    ----------
    weights : HessianWeights
        The tables at ``W``, from :func:`hessian_weights`.
    z, w : tuple (Up, M, Vp)
        :math:`\mathcal A_W^{-1}\xi` and :math:`\mathcal A_W^{-1}\eta` in tangent
        coordinates, shapes ``(m, k)``, ``(k, k)``, ``(n, k)``.

    Returns
    -------
    tuple (Up, M, Vp)
        :math:`C(\xi, \eta)` as a tangent vector at ``W`` (symmetric in ``z`` and ``w``);
        zero at depth 1, where ``g`` is the embedded metric.
    """
    T, F = weights
    Uz, Mz, Vz = z
    Uw, Mw, Vw = w
    M = -(np.einsum("acb,ac,cb->ab", T, Mz, Mw) + np.einsum("acb,ac,cb->ab", T, Mw, Mz))
    Up = -(Uz @ (F * Mw) + Uw @ (F * Mz))
    Vp = -(Vz @ (F.T * Mw).T + Vw @ (F.T * Mz).T)
    return Up, M, Vp
