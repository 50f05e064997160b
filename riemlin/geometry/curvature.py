r"""Sectional curvature of :math:`(\mathcal M_k, g)`.

Depth 1: the Gauss formula of :math:`\mathcal M_k \subset \mathbb R^{m\times n}`. Depth
``N >= 2``: O'Neill's formula for the Riemannian submersion of balanced layers onto
:math:`(\mathcal M_k, g)` (B. O'Neill, Michigan Math. J. 13 (1966) 459-469). Both are
derived in the user guide's chapter on the geometry.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from riemlin.geometry.geodesics import check_int_depth
from riemlin.geometry.metric import metric_weights

__all__ = ["sectional_curvature"]


def _g_inner(K, c, a, b) -> float:
    cols = np.einsum("ia,ia->a", a[0], b[0]) + np.einsum("ia,ia->a", a[2], b[2])
    return float(np.sum(a[1] * b[1] / K) + np.sum(cols / c))


def sectional_curvature(point, xi, eta, depth: int) -> float:
    r"""Sectional curvature :math:`K(\xi, \eta)` of :math:`(\mathcal M_k, g)` at ``W``.

    .. math::

        K(\xi,\eta) = \frac{g(R(\xi,\eta)\eta, \xi)}
        {g(\xi,\xi)\,g(\eta,\eta) - g(\xi,\eta)^2} .

    **Depth 1** (the embedded metric): the Gauss formula of
    :math:`\mathcal M_k \subset \mathbb R^{m\times n}`,
    :math:`g(R(\xi,\eta)\eta,\xi) = \langle \mathrm{II}(\xi,\xi), \mathrm{II}(\eta,\eta)
    \rangle - \|\mathrm{II}(\xi,\eta)\|^2` with
    :math:`\mathrm{II}(\xi,\eta) = U_{p,\xi} S^{-1} V_{p,\eta}^\top + U_{p,\eta} S^{-1}
    V_{p,\xi}^\top`.

    **Depth** :math:`N \ge 2`: O'Neill's formula for the Riemannian submersion
    :math:`\pi(W_1, \dots, W_N) = W_N\cdots W_1` from the balanced layers with hidden
    widths ``k`` (a submanifold of Euclidean space, Bah et al.) onto
    :math:`(\mathcal M_k, g)`:

    .. math::

        g(R(\xi,\eta)\eta,\xi) = \langle \mathrm{II}_B(h,h), \mathrm{II}_B(e,e)\rangle
        - \|\mathrm{II}_B(h,e)\|^2 + 3\,\|A_h e\|^2,

    with :math:`h, e` the horizontal lifts, :math:`\mathrm{II}_B` the second fundamental
    form of the balanced layers (Gauss) and :math:`A` O'Neill's tensor. On the balanced
    layers :math:`W_N = u\Sigma`, :math:`W_j = \Sigma`, :math:`W_1 = \Sigma v^\top`
    (:math:`\Sigma = S^{1/N}`), both normal and vertical spaces are
    :math:`\{(S_j W_j - W_j S_{j-1})_j\}` with :math:`S_j` symmetric (normal) or skew
    (vertical), :math:`S_0 = S_N = 0`, and everything reduces to the ``k x k`` matrices

    .. math::

        E_i(h, e) = h_{i+1}^\top e_{i+1} - e_i h_i^\top, \qquad i = 1, \dots, N-1:

    :math:`\langle \mathrm{II}_B(h,h), \mathrm{II}_B(e,e)\rangle = \langle G^{-1}
    \operatorname{sym}E(h,h), \operatorname{sym}E(e,e)\rangle`, likewise
    :math:`\|\mathrm{II}_B(h,e)\|^2`, and :math:`\|A_h e\|^2 = \langle G^{-1}
    \operatorname{skew}E(h,e), \operatorname{skew}E(h,e)\rangle`, where ``G`` acts on
    each entry ``(a, b)`` as the tridiagonal Toeplitz matrix with diagonal
    :math:`\sigma_a^2 + \sigma_b^2` and off-diagonal :math:`-\sigma_a\sigma_b`, inverted
    by a discrete sine transform. With :math:`z = \mathcal A_W^{-1}\xi`, the lifts are
    :math:`h_j = \Sigma^{N-j} M_z \Sigma^{j-1}` on hidden layers and carry
    :math:`U_z \Sigma^{N-1}`, :math:`\Sigma^{N-1} V_z^\top` on the outer ones. Cost
    :math:`O(Nk^3 + (m+n)k^2)`. The derivation is in the user guide (geometry chapter).

    Parameters
    ----------
    point : tuple (u, s, vt)
        The point :math:`W = u \operatorname{diag}(s) v^\top` (thin SVD, ``s > 0``).
    xi, eta : tuple (Up, M, Vp)
        Tangent vectors spanning a plane.
    depth : int
        Depth ``N >= 1`` of the metric.

    Returns
    -------
    float
        :math:`K(\xi, \eta)`, the same for every basis of the plane.

    Raises
    ------
    ValueError
        If ``xi`` and ``eta`` are linearly dependent (to rounding).

    References
    ----------
    O'Neill (1966); Bah et al., arXiv:1910.05505, Section 4 (the submersion).
    """
    depth = check_int_depth(depth)
    _, s, _ = point
    N = depth
    K, c = metric_weights(s, N)
    gxx, gyy, gxy = _g_inner(K, c, xi, xi), _g_inner(K, c, eta, eta), _g_inner(K, c, xi, eta)
    area = gxx * gyy - gxy**2
    if not area > 64 * np.finfo(float).eps * gxx * gyy:
        raise ValueError(
            f"xi and eta must span a plane; g(xi,xi) g(eta,eta) - g(xi,eta)^2 = {area:.3g} "
            f"(g(xi,xi) = {gxx:.3g}, g(eta,eta) = {gyy:.3g})"
        )
    if N == 1:
        return _gauss_term(s, xi, eta) / area
    z = (xi[0] / c, xi[1] / K, xi[2] / c)
    w = (eta[0] / c, eta[1] / K, eta[2] / c)
    i = np.arange(1, N)
    logs = np.log(s)

    def power(p):  # sigma^p for each row of p, sigma = s^(1/N): shape (len(p), k)
        return np.exp(np.outer(p, logs) / N)

    left, right = power(2 * (N - i - 1)), power(2 * (i - 1))
    outer_p, outer_q = power(i), power(N - i)
    last = power(np.array([N - 1]))[0]

    def E(a, b):
        # E_i(a, b) = a_{i+1}^T b_{i+1} - b_i a_i^T for the lifts of a and b (z coordinates)
        P = np.einsum("ca,ic,cb->iab", a[1], left, b[1])
        P *= outer_p[:, :, None] * outer_p[:, None, :]
        Q = np.einsum("ac,ic,bc->iab", b[1], right, a[1])
        Q *= outer_q[:, :, None] * outer_q[:, None, :]
        P[-1] += last[:, None] * (a[0].T @ b[0]) * last[None, :]
        Q[0] += last[:, None] * (b[2].T @ a[2]) * last[None, :]
        return P - Q

    sig = np.exp(logs / N)
    lam = (sig[:, None] ** 2 + sig[None, :] ** 2)[None] - 2 * np.cos(np.pi * i / N)[
        :, None, None
    ] * (sig[:, None] * sig[None, :])[None]

    def solve(D):  # G^{-1} D for a stack (N-1, k, k), entrywise tridiagonal Toeplitz
        return scipy.fft.idst(scipy.fft.dst(D, type=1, axis=0) / lam, type=1, axis=0)

    def sym(A):
        return 0.5 * (A + A.transpose(0, 2, 1))

    Exy = E(z, w)
    Dxx, Dyy, Dxy = sym(E(z, z)), sym(E(w, w)), sym(Exy)
    Axy = Exy - Dxy  # skew part
    curvature_B = np.sum(solve(Dxx) * Dyy) - np.sum(solve(Dxy) * Dxy)
    oneill = 3.0 * np.sum(solve(Axy) * Axy)
    return float(curvature_B + oneill) / area


def _gauss_term(s, xi, eta) -> float:
    # <II(x,x), II(y,y)> - |II(x,y)|^2 with II(x,y) = Ux S^-1 Vy^T + Uy S^-1 Vx^T, from k x k
    # Gram matrices: <A B^T, C D^T>_F = sum((A^T C) * (B^T D)).
    Ux, Uy = xi[0] / s, eta[0] / s
    Vx, Vy = xi[2], eta[2]
    uxy, vxy = Ux.T @ Uy, Vx.T @ Vy
    both = 4.0 * np.sum(uxy * vxy)
    mixed = (
        np.sum((Ux.T @ Ux) * (Vy.T @ Vy))
        + np.sum((Uy.T @ Uy) * (Vx.T @ Vx))
        + 2.0 * np.sum(uxy * vxy.T)
    )
    return float(both - mixed)
