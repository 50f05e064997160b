r"""Derivatives of costs written on the SVD factors ``(u, s, vt)`` of a point of M_k.

pymanopt's autodiff backends differentiate a cost :math:`\tilde f(u, s, v^\top)` with
respect to the three arrays and hand the manifold the Euclidean gradient
``d = (du, ds, dvt)`` and Hessian-vector products along :meth:`embedding` directions.
When :math:`\tilde f` restricted to orthonormal frames is a function :math:`F` on
:math:`\mathcal M_k` (``f(u, s, vt) = F(u diag(s) vt)``), this module turns those arrays into
the Frobenius representers of :math:`DF(W)` and of the embedded Hessian
:math:`\operatorname{Hess}^e F(W)[\xi, \cdot]`, exactly, whatever the cost does with
``u``, ``s`` and ``vt``: costs through the product, costs of ``s`` alone, of the row or
column space, of single singular vectors, and mixtures. The derivation is in the user
guide, chapter *Costs on the SVD factors*.

The parametrization :math:`\varphi(u, s, v^\top) = u\,\mathrm{diag}(s)\,v^\top` is a local
diffeomorphism from orthonormal frames and positive ``s`` onto :math:`\mathcal M_k` where
the singular values are distinct, and its inverse (the SVD) has the derivative

.. math::

    \dot u = u X + U_p S^{-1}, \quad \dot s = \operatorname{diag}(M), \quad
    \dot v^\top = Y v^\top + S^{-1} V_p^\top, \qquad
    X_{ab} = \frac{\sigma_{ab}}{s_b - s_a} + \frac{\kappa_{ab}}{s_a + s_b}, \quad
    Y_{ab} = -\frac{\sigma_{ab}}{s_b - s_a} + \frac{\kappa_{ab}}{s_a + s_b}

along :math:`\xi = u M v^\top + U_p v^\top + u V_p^\top`, with
:math:`\sigma, \kappa` the symmetric and skew parts of ``M``. Only the symmetric part is
divided by a gap of singular values. The data are split into the part a cost through the
product would produce (no division by a gap, so it stays accurate when singular values
nearly coincide) and a rest handled by the general formula:

.. math::

    P = (u^\top du) S^{-1}, \quad Q = S^{-1}(dvt\, v), \quad G_0 = \tfrac12(P + Q), \quad
    E = P - Q.

For a cost through the product :math:`E = 0` and the representer of :math:`DF` has
``M = G_0`` (``ds`` on the diagonal); in general

.. math::

    M_{ab} = (G_0)_{ab} + \frac{s_a + s_b}{2(s_b - s_a)} \operatorname{skew}(E)_{ab}
    + \frac{s_b - s_a}{2(s_a + s_b)} \operatorname{sym}(E)_{ab} .

Entries of ``E`` at the level of the rounding errors of forming it are taken as zero, so a
cost through the product takes the stable path exactly. The Hessian is the second-order
chain rule of :math:`\varphi`,

.. math::

    \operatorname{Hess}^e F(W)[\xi, \eta] = \langle \nabla^2 \tilde f[\dot p_\xi],
    \dot p_\eta \rangle + \langle d, \ddot p(\xi, \eta)\rangle,

with :math:`\ddot p` the second derivative of the SVD along :math:`W + t\xi`; the part of
``d`` that comes through the product contributes, together with the matching terms of the
Hessian-vector product, the Weingarten term of a linear function, which the product part of
the data carries in closed form (:func:`product_hessian_terms`), and the rest contributes
the quadratic form of :func:`rest_hessian`.

Where two singular values coincide to within the relative gap ``tau`` (default
:data:`COINCIDENT_GAP`) the SVD is not differentiable and no data of a general cost
determine the derivative in the direction that splits them; there the value of a cost
through the product is used (directions through the symmetric preimage
``du = u M S^{-1}/2``, ``dvt = S^{-1} M vt / 2`` and no gap-divided terms).

Everything costs :math:`O((m + n)k^2 + k^3)`; no ``m x n`` array is formed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "COINCIDENT_GAP",
    "ProductSplit",
    "resolvable_pairs",
    "coefficients",
    "svd_derivative",
    "data_scale",
    "split_derivatives",
    "representer",
    "product_hessian_terms",
    "rest_hessian",
]

#: Relative gap ``|s_a - s_b| / max(s_a, s_b)`` below which two singular values are
#: treated as coinciding. The general formulas divide the data of a cost that does not go
#: through the product by the gap (once in the gradient, up to three times in the
#: Hessian); at ``sqrt(eps)`` the Hessian of a cost through the product, whose
#: Hessian-vector products along :func:`svd_derivative` directions carry rounding errors
#: of relative size ``eps / gap``, keeps about eight digits.
COINCIDENT_GAP = float(np.sqrt(np.finfo(float).eps))

#: Entries of the product residual below ``_ROUNDING_UNITS * sqrt(m + n) * eps`` times the
#: size of the data are rounding errors of a cost through the product.
_ROUNDING_UNITS = 8.0


class ProductSplit(NamedTuple):
    """The data of a derivative triple split into its product part and a rest.

    Attributes
    ----------
    G0 : ndarray, shape (k, k)
        ``(P + Q) / 2``: ``u^T G v`` for a cost through the product.
    E : ndarray, shape (k, k)
        ``P - Q`` with rounding-level entries (and pairs of coinciding singular values)
        set to zero; zero for a cost through the product.
    ds : ndarray, shape (k,)
        The ``s`` derivative.
    sigma : ndarray, shape (k,)
        ``ds - diag(G0)`` with rounding-level entries set to zero: the derivative of the
        terms of ``s`` alone; zero for a cost through the product.
    Up, Vp : ndarray, shapes (m, k) and (n, k)
        ``(I - u u^T) du S^{-1}`` and ``(I - v v^T) dvt^T S^{-1}``.
    """

    G0: np.ndarray
    E: np.ndarray
    ds: np.ndarray
    sigma: np.ndarray
    Up: np.ndarray
    Vp: np.ndarray


def resolvable_pairs(s: np.ndarray, tau: float = COINCIDENT_GAP) -> np.ndarray:
    """Mask of the pairs ``(a, b)``, ``a != b``, whose singular values differ by more than ``tau``.

    Parameters
    ----------
    s : ndarray, shape (k,)
        Positive singular values.
    tau : float
        Relative gap ``|s_a - s_b| / max(s_a, s_b)`` at or below which a pair is treated
        as coinciding.

    Returns
    -------
    ndarray of bool, shape (k, k)
        ``False`` on the diagonal.
    """
    si, sj = s[:, None], s[None, :]
    mask = np.abs(sj - si) > tau * np.maximum(si, sj)
    np.fill_diagonal(mask, False)
    return mask


def _gap_weights(s, resolvable):
    # W- = 1/(s_b - s_a) and W+ = 1/(s_a + s_b) on resolvable pairs, zero elsewhere.
    si, sj = s[:, None], s[None, :]
    diff = np.where(resolvable, sj - si, 1.0)
    return np.where(resolvable, 1.0 / diff, 0.0), np.where(resolvable, 1.0 / (si + sj), 0.0)


def _sym(A):
    return 0.5 * (A + A.T)


def _skew(A):
    return 0.5 * (A - A.T)


def coefficients(s, M, resolvable):
    """Coefficients ``X``, ``Y`` of ``du = u X + Up S^{-1}`` and ``dvt = Y vt + S^{-1} Vp^T``.

    Resolvable pairs: the derivative of the SVD,
    ``X = sym(M) / (s_b - s_a) + skew(M) / (s_a + s_b)``,
    ``Y = -sym(M) / (s_b - s_a) + skew(M) / (s_a + s_b)`` (both skew); coinciding pairs:
    the symmetric preimage ``X_ab = M_ab / (2 s_b)``, ``Y_ab = M_ab / (2 s_a)``. Zero
    diagonals; always ``X S + diag(M) + S Y = M``.

    Parameters
    ----------
    s : ndarray, shape (k,)
        Positive singular values of the point.
    M : ndarray, shape (k, k)
        The ``M`` block of the tangent vector ``(Up, M, Vp)``.
    resolvable : ndarray of bool, shape (k, k)
        The pairs treated as distinct, from :func:`resolvable_pairs`.

    Returns
    -------
    X : ndarray, shape (k, k)
        Coefficient of ``u`` in ``du``, zero diagonal.
    Y : ndarray, shape (k, k)
        Coefficient of ``vt`` in ``dvt``, zero diagonal.
    """
    wm, wp = _gap_weights(s, resolvable)
    sig, kap = _sym(M), _skew(M)
    off = ~resolvable
    np.fill_diagonal(off, False)
    X = sig * wm + kap * wp + np.where(off, M / (2.0 * s[None, :]), 0.0)
    Y = -sig * wm + kap * wp + np.where(off, M / (2.0 * s[:, None]), 0.0)
    return X, Y


def _coefficients_adjoint(s, gX, gY, resolvable):
    # Adjoint of M -> (X, Y) (off-diagonal part) for the Frobenius products.
    wm, wp = _gap_weights(s, resolvable)
    out = _sym((gX - gY) * wm) + _skew((gX + gY) * wp)
    off = ~resolvable
    np.fill_diagonal(off, False)
    return out + np.where(off, gX / (2.0 * s[None, :]) + gY / (2.0 * s[:, None]), 0.0)


def svd_derivative(u, s, vt, xi, resolvable):
    r"""The direction ``(du, ds, dvt)`` of ``(u, s, vt)`` that moves ``W`` along ``xi``.

    On resolvable pairs it is the derivative of the SVD (tangent to the orthonormal
    frames); on coinciding pairs the symmetric preimage. Always
    :math:`D\varphi[(du, ds, dvt)] = \xi`.

    Parameters
    ----------
    u, s, vt : ndarray
        The point.
    xi : tuple (Up, M, Vp)
        Tangent vector.
    resolvable : ndarray of bool
        From :func:`resolvable_pairs`.

    Returns
    -------
    tuple of ndarray
        ``(du, ds, dvt)`` of shapes ``(m, k)``, ``(k,)``, ``(k, n)``.
    """
    Up, M, Vp = xi
    X, Y = coefficients(s, M, resolvable)
    return u @ X + Up / s, np.diag(M).copy(), Y @ vt + Vp.T / s[:, None]


def data_scale(s, d) -> float:
    """The size of a derivative triple: ``max(|du_j| / s_j, |dvt_i| / s_i, |ds|)``.

    For a cost through the product these are the norms of ``G v_j``, ``G^T u_i`` and the
    diagonal of ``u^T G v``; the largest bounds the rounding errors of every entry of
    ``u^T du S^{-1}`` and ``S^{-1} dvt v`` (they come from products with ``G``).

    Parameters
    ----------
    s : ndarray, shape (k,)
        Positive singular values of the point.
    d : tuple of ndarray
        ``(du, ds, dvt)``, shapes ``(m, k)``, ``(k,)``, ``(k, n)``.

    Returns
    -------
    float
        The largest of the column norms of ``du`` divided by ``s``, the row norms of
        ``dvt`` divided by ``s`` and the entries of ``|ds|``.
    """
    du, ds, dvt = d
    return float(
        max(
            np.max(np.linalg.norm(du, axis=0) / s),
            np.max(np.linalg.norm(dvt, axis=1) / s),
            np.max(np.abs(ds)),
        )
    )


def split_derivatives(u, s, vt, d, resolvable, scale=None) -> ProductSplit:
    """Split a derivative triple ``d = (du, ds, dvt)`` into its product part and a rest.

    Parameters
    ----------
    u, s, vt : ndarray
        The point.
    d : tuple of ndarray
        Derivatives with respect to ``(u, s, vt)`` (a gradient, or a Hessian-vector product
        with its product-part terms removed).
    resolvable : ndarray of bool
        From :func:`resolvable_pairs`.
    scale : float, optional
        The size of the data ``d`` was formed from (default :func:`data_scale` of ``d``).
        Entries of ``E`` and of ``ds - diag(G0)`` below
        ``8 sqrt(m + n) eps scale`` are rounding errors of a cost through the product
        and are set to zero (measured on 150 random costs through the product with
        shapes up to 400, ``s`` spread over twelve decades and scaled by ``1e-6..1e6``:
        the largest entry was 0.42 of ``sqrt(m + n) eps scale``).

    Returns
    -------
    ProductSplit
        ``G0``, ``E``, ``ds``, ``sigma``, ``Up``, ``Vp`` (see :class:`ProductSplit`);
        ``E`` and ``sigma`` vanish for a cost through the product.
    """
    du, ds, dvt = d
    Du = u.T @ du
    Dvt = dvt @ vt.T
    P = Du / s[None, :]
    Q = Dvt / s[:, None]
    G0 = 0.5 * (P + Q)
    E = P - Q
    if scale is None:
        scale = data_scale(s, d)
    tol = _ROUNDING_UNITS * np.finfo(float).eps * np.sqrt(u.shape[0] + vt.shape[1]) * scale
    keep = np.abs(E) > tol
    ds = np.asarray(ds, dtype=float)
    sigma = ds - np.diag(G0)
    sigma = np.where(np.abs(sigma) > tol, sigma, 0.0)
    off = ~resolvable
    np.fill_diagonal(off, False)
    keep &= ~(off | off.T)
    E = np.where(keep, E, 0.0)
    Up = (du - u @ Du) / s
    Vp = (dvt.T - vt.T @ Dvt.T) / s
    return ProductSplit(G0, E, ds, sigma, Up, Vp)


def representer(split: ProductSplit, s, resolvable):
    r"""The Frobenius representer ``(Up, M, Vp)`` of ``eta -> <d, p'(eta)>`` on the tangent space.

    ``M = G0 + (s_a + s_b) / (2 (s_b - s_a)) skew(E) + (s_b - s_a) / (2 (s_a + s_b)) sym(E)``
    off the diagonal (``G0`` alone on coinciding pairs), ``ds`` on it. For a gradient
    triple this is the embedded Riemannian gradient :math:`P_T \nabla F(W)`.

    Parameters
    ----------
    split : ProductSplit
        The derivative triple split by :func:`split_derivatives`.
    s : ndarray, shape (k,)
        Singular values.
    resolvable : ndarray of bool, shape (k, k)
        The pairs treated as distinct, from :func:`resolvable_pairs`.

    Returns
    -------
    tuple of ndarray
        The tangent vector ``(Up, M, Vp)``, shapes ``(m, k)``, ``(k, k)``, ``(n, k)``.
    """
    si, sj = s[:, None], s[None, :]
    wm, wp = _gap_weights(s, resolvable)
    E = split.E
    M = split.G0 + 0.5 * (si + sj) * wm * _skew(E) + 0.5 * (sj - si) * wp * _sym(E)
    np.fill_diagonal(M, split.ds)
    return split.Up, M, split.Vp


def product_hessian_terms(u, s, vt, GV, GtU, direction):
    r"""Hessian-vector product of :math:`\langle \tilde G, u\,\mathrm{diag}(s)\,v^\top\rangle`.

    :math:`\tilde G` is the ambient matrix with :math:`\tilde G v = ` ``GV``,
    :math:`\tilde G^\top u = ` ``GtU`` and no doubly-normal block. Subtracting this from
    the Hessian-vector product of a cost leaves, for a cost through the product,
    ``(H v S + G_perp V_p, diag(u^T H v), S u^T H + U_p^T G_perp)`` with no term divided by
    a gap of singular values (``H`` the Euclidean Hessian-vector product of the cost on
    ``W``, ``G_perp`` the doubly-normal block of its gradient).

    Parameters
    ----------
    u, s, vt : ndarray
        The point.
    GV, GtU : ndarray
        :math:`\tilde G v` (``m x k``) and :math:`\tilde G^\top u` (``n x k``).
    direction : tuple
        ``(X, Y, Up, M, Vp)``: the coefficients of :func:`svd_derivative` and the tangent
        vector.

    Returns
    -------
    tuple of ndarray
        ``(du, ds, dvt)``.
    """
    X, Y, Up, M, Vp = direction
    m_diag = np.diag(M)
    G0 = u.T @ GV
    UpG = Up.T @ (GV - u @ G0)  # Up^T G~ v
    VpG = Vp.T @ (GtU - vt.T @ G0.T)  # Vp^T G~^T u
    hu = GV @ (np.diag(m_diag) + Y.T * s[None, :]) + u @ VpG.T
    hs = np.diag(X.T @ G0 + UpG / s[:, None] + G0 @ Y.T + VpG.T / s[None, :])
    hvt = (np.diag(m_diag) + s[:, None] * X.T) @ GtU.T + UpG @ vt
    return hu, hs, hvt


def rest_hessian(split: ProductSplit, s, resolvable, xi):
    r"""Representer of :math:`\eta \mapsto \langle d_R, \ddot p(\xi, \eta)\rangle`.

    ``d_R`` is the part of the gradient data a cost through the product would not have:
    ``E`` (row- or column-space terms, single singular vectors) and
    ``ds - diag(G0)`` (terms of ``s`` alone). Half the gradient of the quadratic form
    :math:`Q(\xi) = \langle d_R, \ddot p(\xi, \xi)\rangle`, with the ``s``-only part in
    divided-difference form (exact zero for the nuclear norm). Zero for a cost through the
    product.

    Parameters
    ----------
    split : ProductSplit
        Of the gradient, from :func:`split_derivatives`.
    s : ndarray, shape (k,)
        Positive singular values of the point.
    resolvable : ndarray of bool, shape (k, k)
        The pairs treated as distinct, from :func:`resolvable_pairs`.
    xi : tuple (Up, M, Vp)
        The tangent direction :math:`\xi`, shapes ``(m, k)``, ``(k, k)``, ``(n, k)``.

    Returns
    -------
    tuple of ndarray
        The tangent vector ``(Up, M, Vp)`` representing the form in :math:`\eta`.
    """
    Up, M, Vp = xi
    k = s.size
    si, sj = s[:, None], s[None, :]
    wm, wp = _gap_weights(s, resolvable)
    # s-only part, in divided differences of sigma = ds - diag(G0)
    sigma = split.sigma
    mean = 0.5 * (sigma[:, None] + sigma[None, :])
    # divided differences (sigma_a - sigma_b) / (s_a - s_b), zero on coinciding pairs
    dd = (sigma[:, None] - sigma[None, :]) * np.where(resolvable, -wm, 0.0)
    out_M = 2.0 * mean / (si + sj) * _skew(M) + dd * _sym(M)
    np.fill_diagonal(out_M, 0.0)
    out_Up = Up * (sigma / s)
    out_Vp = Vp * (sigma / s)
    E = split.E
    if not np.any(E):
        return out_Up, out_M, out_Vp
    # E part: R_E = the gap terms of the representer, Du_R = (E/2) S, Dv_R = -(E/2)^T S
    R = 0.5 * (si + sj) * wm * _skew(E) + 0.5 * (sj - si) * wp * _sym(E)
    np.fill_diagonal(R, 0.0)
    S = np.diag(s)
    dU = _sym(0.5 * E * sj) - _sym(R * sj)
    dV = _sym(-0.5 * E.T * sj) - _sym(si * R)
    X, Y = coefficients(s, M, resolvable)
    Sd = np.diag(np.diag(M))
    gX = -2 * R @ Sd - 2 * R @ Y.T @ S + dU @ X.T + X.T @ dU
    gY = -2 * S @ X.T @ R - 2 * Sd @ R + dV @ Y.T + Y.T @ dV
    gdiag = -2 * np.diag(X.T @ R) - 2 * np.diag(R @ Y.T)
    gM = _coefficients_adjoint(s, gX, gY, resolvable)
    gM[np.diag_indices(k)] += gdiag
    gUp = -2 * (Up / s) @ dU / s[None, :]
    gVp = -2 * (Vp / s) @ dV / s[None, :]
    return out_Up + 0.5 * gUp, out_M + 0.5 * gM, out_Vp + 0.5 * gVp
