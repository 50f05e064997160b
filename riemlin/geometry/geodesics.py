r"""Geodesics, exp and log, parallel transport and curvature of :math:`(\mathcal M_k, g)`.

:math:`\mathcal M_k` is the manifold of rank-``k`` real ``m x n`` matrices and
:math:`g_W(\xi, \eta) = \langle \mathcal A_W^{-1}\xi, \eta\rangle_F` the metric that a
depth-``N`` linear network induces on its end-to-end matrix (Bah, Rauhut, Terstiege,
Westdickenberg, arXiv:1910.05505); ``N = 1`` is the embedded metric. Points are
``(u, s, vt)`` and tangent vectors ``(Up, M, Vp)`` with
:math:`\xi = u M v^\top + U_p v^\top + u V_p^\top` (pymanopt's conventions). Every
derivation below is written out in the user guide's chapter on the geometry.

**The geodesic equation in a factored frame.** With :math:`C` the difference of the
Levi-Civita connections of ``g`` and of the embedded metric
(:func:`riemlin.geometry.hessian.connection_difference`), a curve is a ``g``-geodesic iff the
tangential part of its acceleration is :math:`-C(\dot W, \dot W)`. Write the moving
point as :math:`W = U B V^\top` with orthonormal ``U`` (``m x k``), ``V`` (``n x k``)
and an invertible, not necessarily diagonal, ``k x k`` core ``B``, and its velocity as
:math:`\dot W = U M V^\top + U_p V^\top + U V_p^\top` (:math:`U^\top U_p = 0`,
:math:`V^\top V_p = 0`). Keeping the frames horizontal (:math:`U^\top\dot U = 0`,
:math:`V^\top\dot V = 0`) gives

.. math::

    \dot U &= U_p B^{-1}, \quad \dot V = V_p B^{-\top}, \quad \dot B = M, \\
    \dot M &= B^{-\top} U_p^\top U_p + V_p^\top V_p B^{-\top} - C_M, \\
    \dot U_p &= -U B^{-\top} U_p^\top U_p - U_p B^{-1} M - C_{U}, \qquad
    \dot V_p = -V B^{-1} V_p^\top V_p - V_p B^{-\top} M^\top - C_{V},

with :math:`(C_U, C_M, C_V)` the coordinates of :math:`C(\dot W, \dot W)` in the frame
``(U, V)``: with the SVD :math:`B = Q_1 \operatorname{diag}(s) Q_2^\top` of the small core
they are those of :func:`riemlin.geometry.hessian.connection_difference` at the singular values
``s``, rotated by :math:`Q_1, Q_2`. No derivative of an SVD appears, so nothing is
divided by a gap between singular values. The normal part of the acceleration (the
second fundamental form :math:`2 U_p B^{-1} V_p^\top` in this frame) is produced by the
moving frames. Parallel transport of :math:`\eta = U N V^\top + E V^\top + U F^\top`
solves the same equations linearized: :math:`\dot N = B^{-\top} U_p^\top E + F^\top V_p
B^{-\top} - C_M(\dot W, \eta)` and so on.

**Reduction to a ``2k x 2k`` problem.** The right-hand sides multiply ``U`` and
:math:`U_p` by ``k x k`` matrices only, so :math:`\operatorname{span}[U, U_p]` and
:math:`\operatorname{span}[V, V_p]` stay fixed along the geodesic (geometrically: the
matrices with column and row spaces in two fixed subspaces form a totally geodesic
submanifold, the fixed set of a group of isometries :math:`W \mapsto O_1 W O_2^\top`).
One QR factorization of :math:`[u, U_p]` and of :math:`[v, V_p]` reduces every
geodesic to one of :math:`\mathcal M_k` in :math:`\mathbb R^{2k \times 2k}`, integrated
at :math:`O(k^3 \log N)` per right-hand side (the tables of
:func:`riemlin.geometry.hessian.hessian_weights`), so ``exp`` costs :math:`O((m+n)k^2)` plus a
small integration whose cost does not grow with ``m`` or ``n``. Transport adds the
columns of the transported vector (``3k``); ``log`` works in
:math:`\operatorname{span}[u_a, u_b] \times \operatorname{span}[v_a, v_b]`.

**Incompleteness.** ``g`` is not complete: along the geodesic through
:math:`u\operatorname{diag}(s)v^\top` with velocity :math:`u\operatorname{diag}(\dot s)
v^\top`, :math:`s_a(t) = (s_a^{1/N} + t\,\dot s_a s_a^{1/N-1}/N)^N`, which reaches
zero at :math:`t = N s_a / |\dot s_a|`. The distance from ``W`` to the matrices of rank
below ``k`` is :math:`\sqrt N\, s_k^{1/N}` (:func:`boundary_distance`).

**Sectional curvature** comes from O'Neill's formula for the Riemannian submersion of
balanced layers onto :math:`(\mathcal M_k, g)` (``N >= 2``) and from the Gauss formula of
:math:`\mathcal M_k \subset \mathbb R^{m\times n}` (``N = 1``); see
:func:`sectional_curvature`.

References
----------
.. [BRTW] B. Bah, H. Rauhut, U. Terstiege, M. Westdickenberg, "Learning deep linear
   neural networks: Riemannian gradient flows and convergence to global minimizers",
   Information and Inference 11 (2022); arXiv:1910.05505.
.. [ON] B. O'Neill, "The fundamental equations of a submersion", Michigan Math. J. 13
   (1966) 459-469.
.. [HNW] E. Hairer, S. P. Nørsett, G. Wanner, "Solving Ordinary Differential Equations
   I", 2nd ed., Springer 1993 (DOP853).
.. [Broyden] C. G. Broyden, "A class of methods for solving nonlinear simultaneous
   equations", Math. Comp. 19 (1965) 577-593.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.integrate import DOP853
from scipy.optimize import brentq

from riemlin._validation import check_int, check_positive
from riemlin.geometry.hessian import connection_difference, hessian_weights
from riemlin.geometry.metric import metric_weights, rational_power

__all__ = [
    "RTOL",
    "BOUNDARY_TOL",
    "BoundaryError",
    "boundary_distance",
    "exp",
    "exp_unchecked",
    "geodesic",
    "parallel_transport",
    "rank_one_exp",
    "cone_radius",
    "orthonormal_basis",
    "check_tolerance",
    "check_int_depth",
]

#: Default relative tolerance of the geodesic integration (DOP853, on the state scaled so
#: that the largest singular value is one).
RTOL = 1e-12
#: Default threshold on :math:`s_k(W(t)) / \max(s_1(W(t)), s_1(W(0)))` below which a
#: geodesic is declared to reach the rank-deficient boundary.
BOUNDARY_TOL = 1e-8


class BoundaryError(ValueError):
    r"""A geodesic reaches the rank-deficient boundary of :math:`\mathcal M_k`.

    A ``ValueError`` with two attributes (in the time of the geodesic asked for).

    Parameters
    ----------
    message : str
        The error message (it also states both times).
    t : float
        Stored as :attr:`t`.
    t_boundary : float or None
        Stored as :attr:`t_boundary`.

    Attributes
    ----------
    t : float
        Where :math:`s_k / \max(s_1(t), s_1(0))` falls below ``boundary_tol`` (for the
        closed form of rank one: where the geodesic reaches the zero matrix).
    t_boundary : float or None
        Where the rank drops, extrapolated from :math:`s_k^{1/N}` being linear in ``t``
        (exact along aligned geodesics); ``None`` if ``s_k`` is not decreasing there.
    """

    def __init__(self, message: str, t: float, t_boundary: float | None):
        super().__init__(message)
        self.t = t
        self.t_boundary = t_boundary


# ---------------------------------------------------------------------- checks
def check_tolerance(value, name: str, below_one: bool = False) -> float:
    """A positive finite tolerance (in ``(0, 1)`` when ``below_one``).

    Parameters
    ----------
    value : float
        The tolerance.
    name : str
        The argument's name, for the error message.
    below_one : bool, default False
        Whether the tolerance must also be below one.

    Returns
    -------
    float
        ``value`` as a float.

    Raises
    ------
    TypeError, ValueError
        If ``value`` is not a positive finite number (below one when asked).
    """
    value = check_positive(value, name)
    if below_one and not value < 1:
        raise ValueError(f"{name} must be in (0, 1); got {value!r}")
    return value


def check_int_depth(depth) -> int:
    """The depth ``N >= 1`` of the network (an int).

    Parameters
    ----------
    depth : int
        The depth to check.

    Returns
    -------
    int
        ``depth`` as an int.

    Raises
    ------
    TypeError, ValueError
        If ``depth`` is not an int ``>= 1``.
    """
    return check_int(depth, "depth")


# ---------------------------------------------------------------------- the frame ODE
class _Layout(NamedTuple):
    """Sizes of the flat state ``[U, V, B, M, Up, Vp, (N, E, F) per transported vector]``."""

    ru: int
    rv: int
    k: int
    vectors: int

    def split(self, y):
        ru, rv, k = self.ru, self.rv, self.k
        shapes = [(ru, k), (rv, k), (k, k), (k, k), (ru, k), (rv, k)]
        shapes += [(k, k), (ru, k), (rv, k)] * self.vectors
        out, start = [], 0
        for shape in shapes:
            size = shape[0] * shape[1]
            out.append(y[start : start + size].reshape(shape))
            start += size
        return out


def _frame_connection(B, depth):
    """SVD of the core and a function ``C(z, w)`` in the frame, with ``z = rotate(xi)``."""
    Q1, s, Q2t = np.linalg.svd(B)
    Q2 = Q2t.T
    if depth == 1:
        return Q1, s, Q2, None, None
    K, c = metric_weights(s, depth)
    tables = hessian_weights(s, depth)

    def rotate(vector):
        # frame coordinates (Up, M, Vp) -> A_W^{-1} of the vector in SVD coordinates
        Up, M, Vp = vector
        return (Up @ Q2) / c, (Q1.T @ M @ Q2) / K, (Vp @ Q1) / c

    def connection(z, w):
        Cu, Cm, Cv = connection_difference(tables, z, w)
        return Cu @ Q2.T, Q1 @ Cm @ Q2.T, Cv @ Q1.T

    return Q1, s, Q2, rotate, connection


def _rhs(y, layout: _Layout, depth: int) -> np.ndarray:
    """Right-hand side of the geodesic and transport equations (module docstring)."""
    U, V, B, M, Up, Vp, *vectors = layout.split(y)
    Q1, s, Q2, rotate, connection = _frame_connection(B, depth)
    Binv = (Q2 / s) @ Q1.T
    BinvT = Binv.T
    GU, GV = Up.T @ Up, Vp.T @ Vp
    dM = BinvT @ GU + GV @ BinvT
    dUp = -(U @ (BinvT @ GU) + Up @ (Binv @ M))
    dVp = -(V @ (Binv @ GV) + Vp @ (BinvT @ M.T))
    z = None
    if connection is not None:
        z = rotate((Up, M, Vp))
        Cu, Cm, Cv = connection(z, z)
        dM -= Cm
        dUp -= Cu
        dVp -= Cv
    parts = [Up @ Binv, Vp @ BinvT, M, dM, dUp, dVp]
    for j in range(layout.vectors):
        Nm, Ep, Fp = vectors[3 * j : 3 * j + 3]
        UE, FV = Up.T @ Ep, Fp.T @ Vp
        dN = BinvT @ UE + FV @ BinvT
        dE = -(U @ (BinvT @ UE) + Up @ (Binv @ Nm))
        dF = -(V @ (Binv @ (Vp.T @ Fp)) + Vp @ (BinvT @ Nm.T))
        if connection is not None:
            Cu, Cm, Cv = connection(z, rotate((Ep, Nm, Fp)))
            dN -= Cm
            dE -= Cu
            dF -= Cv
        parts += [dN, dE, dF]
    return np.concatenate([p.ravel() for p in parts])


def _conditioning(y, layout: _Layout) -> float:
    # s_k(t) / max(s_1(t), s_1(0)), with s_1(0) = 1 in the scaled state: small when the
    # point nears rank k - 1, including when all singular values shrink together
    s = np.linalg.svd(layout.split(y)[2], compute_uv=False)
    return s[-1] / max(s[0], 1.0)


def _determinant(y, layout: _Layout) -> float:
    # changes sign when a singular value of the core passes through zero within a step
    return float(np.linalg.det(layout.split(y)[2]))


def _boundary_error(solver, layout, depth, boundary_tol, sign):
    # s_k / max(s_1, s_1(0)) fell below boundary_tol within the last step, or the core
    # passed through a singular matrix (its determinant changed sign). Locate the crossing
    # on the step's interpolant, then extrapolate s_k^(1/N) (linear in t along the
    # geodesics of aligned matrices) to where it vanishes.
    dense = solver.dense_output()
    t_old, t_new = solver.t_old, solver.t
    if _determinant(solver.y, layout) * _determinant(dense(t_old), layout) <= 0:
        t_new = brentq(lambda t: _determinant(dense(t), layout), t_old, t_new, xtol=1e-15)
    t_c = brentq(
        lambda t: _conditioning(dense(t), layout) - boundary_tol,
        t_old,
        t_new,
        xtol=1e-14 * max(1.0, abs(t_new)),
    )
    _, _, B, M, *_ = layout.split(dense(t_c))
    Q1, s, Q2t = np.linalg.svd(B)
    rate = Q1[:, -1] @ M @ Q2t[-1]  # d s_k / dt
    where = f"t = {sign * t_c:.10g}"
    t_star = None
    if rate < 0:
        t_star = sign * (t_c + depth * s[-1] / -rate)
        where += f"; extrapolating s_k^(1/N), it reaches rank < k at t ~ {t_star:.10g}"
    return BoundaryError(
        "the geodesic reaches the rank-deficient boundary of M_k: s_k / max(s_1, s_1(0)) "
        f"falls below boundary_tol={boundary_tol:g} at {where}. The deep-linear metric is "
        "incomplete; use a shorter tangent vector (or a smaller |t|)",
        sign * t_c,
        t_star,
    )


def _integrate(y0, layout, depth, t_end, t_eval, rtol, boundary_tol, sign=1.0, max_steps=None):
    """Integrate on ``[0, t_end]``; return the states at ``t_eval`` (ascending) and at the end."""
    if _conditioning(y0, layout) < boundary_tol:
        raise ValueError(
            f"the point is within boundary_tol={boundary_tol:g} of the rank-deficient boundary "
            "(s_k/s_1 below it); pass a smaller boundary_tol"
        )
    out = []
    if t_end == 0:
        return [y0.copy() for _ in t_eval], y0.copy()
    solver = DOP853(lambda _t, y: _rhs(y, layout, depth), 0.0, y0, t_end, rtol=rtol, atol=rtol)
    det0 = _determinant(y0, layout)
    j = steps = 0
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # rejected steps
        while solver.status == "running":
            message = solver.step()
            steps += 1
            if max_steps is not None and steps > max_steps:
                raise ValueError(f"the geodesic integration took more than {max_steps} steps")
            if solver.status == "failed":
                raise ValueError(
                    f"the geodesic integration failed at t = {sign * solver.t:.10g} "
                    f"({message}); the geodesic likely comes too close to the rank-deficient "
                    "boundary of M_k"
                )
            if (
                _conditioning(solver.y, layout) < boundary_tol
                or _determinant(solver.y, layout) * det0 <= 0
            ):
                raise _boundary_error(solver, layout, depth, boundary_tol, sign)
            dense = None
            while j < len(t_eval) and t_eval[j] <= solver.t:
                if dense is None:
                    dense = solver.dense_output()
                out.append(dense(t_eval[j]))
                j += 1
    return out, solver.y


# ---------------------------------------------------------------------- frames in and out
def orthonormal_basis(A) -> np.ndarray:
    """An orthonormal basis of the column space of ``A`` (reduced QR).

    Parameters
    ----------
    A : ndarray, shape (m, r)
        Columns of full rank ``r``.

    Returns
    -------
    ndarray, shape (m, r)
        Orthonormal columns spanning those of ``A``.
    """
    return np.linalg.qr(A)[0]


def _start(point, direction, vectors):
    """Reduce to the span of the columns involved and scale to ``s_max = 1``.

    Returns the bases ``(Qu, Qv)``, the layout, the flat initial state, the scale and the
    norms of the transported vectors.
    """
    u, s, vt = point
    v = vt.T
    Up, M, Vp = direction
    Qu = orthonormal_basis(np.hstack([u, Up] + [e[0] for e in vectors]))
    Qv = orthonormal_basis(np.hstack([v, Vp] + [e[2] for e in vectors]))
    k = s.size
    layout = _Layout(Qu.shape[1], Qv.shape[1], k, len(vectors))
    scale = float(np.max(s))
    parts = [Qu.T @ u, Qv.T @ v, np.diag(s / scale), M / scale, Qu.T @ Up / scale]
    parts.append(Qv.T @ Vp / scale)
    norms = []
    for Ep, Nm, Fp in vectors:
        norm = float(np.sqrt(np.sum(Ep**2) + np.sum(Nm**2) + np.sum(Fp**2))) or 1.0
        norms.append(norm)
        parts += [Nm / norm, Qu.T @ Ep / norm, Qv.T @ Fp / norm]
    y0 = np.concatenate([p.ravel() for p in parts])
    return Qu, Qv, layout, y0, scale, norms


def _finish(y, Qu, Qv, layout, scale, norms):
    """The point ``(u, s, vt)`` of a state, and its transported vectors in SVD coordinates."""
    U, V, B, _, _, _, *vecs = layout.split(y)
    Qa, Ra = np.linalg.qr(U)
    Qb, Rb = np.linalg.qr(V)
    P1, s, P2t = np.linalg.svd(Ra @ B @ Rb.T)
    u, v = Qa @ P1, Qb @ P2t.T
    out = []
    for j in range(layout.vectors):
        Nm, Ep, Fp = vecs[3 * j : 3 * j + 3]
        # eta = U N V^T + E V^T + U F^T (a small dense matrix in the reduced space),
        # in the tangent coordinates of the end point
        eta = (U @ Nm + Ep) @ V.T + U @ Fp.T
        Mf = u.T @ eta @ v
        Upf = eta @ v - u @ Mf
        Vpf = eta.T @ u - v @ Mf.T
        out.append((norms[j] * (Qu @ Upf), norms[j] * Mf, norms[j] * (Qv @ Vpf)))
    return (Qu @ u, scale * s, (Qv @ v).T), out


# ---------------------------------------------------------------------- public functions
def exp(point, tangent_vector, depth: int, *, rtol: float = RTOL, boundary_tol=BOUNDARY_TOL):
    r"""Riemannian exponential :math:`\exp_W(\xi)` of :math:`(\mathcal M_k, g)`.

    Integrates the geodesic equation in the factored frame of the module docstring
    (DOP853, Hairer–Nørsett–Wanner) on ``t`` in ``[0, 1]``, after reducing it to the
    :math:`2k`-dimensional column and row spaces of :math:`[u, U_p]` and
    :math:`[v, V_p]`. Cost :math:`O((m+n)k^2)` plus :math:`O(k^3\log N)` per
    right-hand side, whatever ``m``, ``n``; never an ``m x n`` array.

    Parameters
    ----------
    point : tuple (u, s, vt)
        The point :math:`W = u \operatorname{diag}(s) v^\top` (thin SVD, ``s > 0``).
    tangent_vector : tuple (Up, M, Vp)
        The initial velocity :math:`\xi = u M v^\top + U_p v^\top + u V_p^\top`.
    depth : int
        Depth ``N >= 1`` of the metric (``1``: the embedded metric).
    rtol : float, default 1e-12
        Relative (and absolute) tolerance of the integrator on the state scaled so that
        the largest singular value of ``W`` is one; the end point is accurate to a few
        times ``rtol`` relative to :math:`\|W\|_F` for geodesics of moderate length.
    boundary_tol : float, default 1e-8
        The geodesic is declared to reach the rank-deficient boundary when
        :math:`s_k(t) / \max(s_1(t), s_1(0))` falls below ``boundary_tol``, or a singular
        value passes through zero within a step (the core's determinant changes sign).
        The point passed must satisfy the same bound.

    Returns
    -------
    tuple (u, s, vt)
        The end point, of rank ``k`` with :math:`s_k \ge` ``boundary_tol``
        :math:`\max(s_1, s_1(0))`.

    Raises
    ------
    BoundaryError
        (a ``ValueError``) If the geodesic reaches the boundary for some ``t`` in
        ``(0, 1]``; its ``t`` and ``t_boundary`` say where.
    """
    depth = check_int_depth(depth)
    rtol = check_tolerance(rtol, "rtol", below_one=True)
    boundary_tol = check_tolerance(boundary_tol, "boundary_tol", below_one=True)
    return exp_unchecked(point, tangent_vector, depth, rtol, boundary_tol)


def exp_unchecked(point, tangent_vector, depth, rtol, boundary_tol, max_steps=None):
    """:func:`exp` without input checks, with an optional cap on the integrator's steps.

    Parameters
    ----------
    point : tuple (u, s, vt)
        As in :func:`exp` (not checked).
    tangent_vector : tuple (Up, M, Vp)
        As in :func:`exp` (not checked).
    depth : int
        As in :func:`exp` (not checked).
    rtol : float
        As in :func:`exp` (not checked).
    boundary_tol : float
        As in :func:`exp` (not checked).
    max_steps : int, optional
        Steps allowed before the integration is abandoned (``ValueError``).

    Returns
    -------
    tuple of ndarray
        The point ``(u, s, vt)``.
    """
    Qu, Qv, layout, y0, scale, norms = _start(point, tangent_vector, [])
    _, y1 = _integrate(y0, layout, depth, 1.0, [], rtol, boundary_tol, max_steps=max_steps)
    return _finish(y1, Qu, Qv, layout, scale, norms)[0]


def geodesic(
    point, tangent_vector, depth: int, times, *, rtol: float = RTOL, boundary_tol=BOUNDARY_TOL
):
    r"""Points :math:`\gamma(t) = \exp_W(t\xi)` of the geodesic at the given times.

    One integration per sign of ``t`` (negative times follow :math:`-\xi`), with the
    points in between read from DOP853's order-7 interpolant, whose error is of the order
    of ``rtol``.

    Parameters
    ----------
    point : tuple (u, s, vt)
        The point :math:`W = u \operatorname{diag}(s) v^\top` (thin SVD, ``s > 0``).
    tangent_vector : tuple (Up, M, Vp)
        The velocity :math:`\xi` at ``t = 0``.
    depth : int
        Depth ``N >= 1`` of the metric.
    times : float or array_like
        Real times, any order and sign.
    rtol : float, default 1e-12
        Integrator tolerance, as in :func:`exp`.
    boundary_tol : float, default 1e-8
        Boundary threshold, as in :func:`exp`.

    Returns
    -------
    list of tuple (u, s, vt)
        One point per time, in the order given (a single point for a scalar ``times``).

    Raises
    ------
    ValueError
        If a time is not finite.
    BoundaryError
        (a ``ValueError``) If the geodesic reaches the rank-deficient boundary before the
        farthest time; its ``t`` and ``t_boundary`` say where.
    """
    depth = check_int_depth(depth)
    rtol = check_tolerance(rtol, "rtol", below_one=True)
    boundary_tol = check_tolerance(boundary_tol, "boundary_tol", below_one=True)
    scalar = np.ndim(times) == 0
    try:
        t = np.atleast_1d(np.asarray(times, dtype=float))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"times must be real numbers; got {type(times).__name__}") from exc
    if t.ndim != 1 or not np.all(np.isfinite(t)):
        raise ValueError(f"times must be a finite scalar or 1-D array; got {times!r}")
    out = [None] * t.size
    for sign in (1.0, -1.0):
        idx = np.flatnonzero(sign * t > 0) if sign < 0 else np.flatnonzero(t >= 0)
        if idx.size == 0:
            continue
        direction = tuple(sign * part for part in tangent_vector)
        Qu, Qv, layout, y0, scale, norms = _start(point, direction, [])
        order = idx[np.argsort(sign * t[idx])]
        t_eval = sign * t[order]
        states, _ = _integrate(
            y0, layout, depth, float(t_eval[-1]), t_eval, rtol, boundary_tol, sign=sign
        )
        for i, y in zip(order, states):
            out[i] = _finish(y, Qu, Qv, layout, scale, norms)[0]
    return out[0] if scalar else out


def parallel_transport(
    point, direction, tangent_vectors, depth: int, *, rtol: float = RTOL, boundary_tol=BOUNDARY_TOL
):
    r"""Parallel transport along :math:`t \mapsto \exp_W(t\xi)`, ``t`` in ``[0, 1]``.

    Integrates :math:`\nabla^g_{\dot\gamma}\eta = P_T\dot\eta + C(\dot\gamma, \eta) = 0`
    together with the geodesic, in the frame of the module docstring (the span of the
    columns of the vectors is added to the reduced space). The transport is linear and
    isometric for ``g``, both to the integration tolerance.

    Parameters
    ----------
    point : tuple (u, s, vt)
        The point :math:`W = u \operatorname{diag}(s) v^\top` (thin SVD, ``s > 0``).
    direction : tuple (Up, M, Vp)
        The geodesic's initial velocity :math:`\xi`.
    tangent_vectors : sequence of tuple (Up, M, Vp)
        Vectors at ``point`` to transport.
    depth : int
        Depth ``N >= 1`` of the metric.
    rtol : float, default 1e-12
        Integrator tolerance, as in :func:`exp`.
    boundary_tol : float, default 1e-8
        Boundary threshold, as in :func:`exp`.

    Returns
    -------
    end : tuple (u, s, vt)
        :math:`\exp_W(\xi)`.
    transported : list of tuple (Up, M, Vp)
        The transported vectors, in the coordinates of ``end``.

    Raises
    ------
    BoundaryError
        As :func:`exp`.
    """
    depth = check_int_depth(depth)
    rtol = check_tolerance(rtol, "rtol", below_one=True)
    boundary_tol = check_tolerance(boundary_tol, "boundary_tol", below_one=True)
    Qu, Qv, layout, y0, scale, norms = _start(point, direction, list(tangent_vectors))
    _, y1 = _integrate(y0, layout, depth, 1.0, [], rtol, boundary_tol)
    return _finish(y1, Qu, Qv, layout, scale, norms)


def boundary_distance(point, depth: int) -> float:
    r"""Distance under ``g`` from ``W`` to the matrices of rank below ``k``.

    It is :math:`\sqrt N\, s_k^{1/N}`.

    Upper bound: the geodesic :math:`s_k(t) = (s_k^{1/N} - t/\sqrt N)^N` (unit speed,
    the other singular values and the singular vectors fixed) reaches rank ``k - 1`` at
    :math:`t = \sqrt N s_k^{1/N}`. Lower bound: a curve of ``g``-length ``L`` lifts to a
    horizontal curve of the same Euclidean length on the balanced layers, each of which
    has ``k``-th singular value :math:`s_k^{1/N}`; the rank drops only when all ``N``
    layers lose rank, which by Weyl's inequality :math:`|\sigma_k(A) - \sigma_k(B)| \le
    \|A - B\|_F` needs :math:`L \ge \sqrt N s_k^{1/N}`. At depth 1 this is the
    Eckart–Young distance :math:`s_k`.

    Parameters
    ----------
    point : tuple (u, s, vt)
        The point :math:`W = u \operatorname{diag}(s) v^\top` (thin SVD, ``s > 0``).
    depth : int
        Depth ``N >= 1`` of the metric.

    Returns
    -------
    float
        :math:`\sqrt N\, s_k^{1/N}`, ``s_k`` the smallest of ``s``.

    Raises
    ------
    TypeError
        If ``depth`` is not an int.
    ValueError
        If ``depth < 1``.
    """
    depth = check_int_depth(depth)
    return float(np.sqrt(depth) * rational_power(np.min(point[1]), 1, depth))


# ---------------------------------------------------------------------- rank one: a cone
def cone_radius(s, depth):
    r"""The distance ``sqrt(N) s^(1/N)`` of a rank-one point from the apex of the cone.

    Parameters
    ----------
    s : float or ndarray
        The singular value.
    depth : int
        Depth ``N`` of the metric.

    Returns
    -------
    float or ndarray
        The radius :math:`\sqrt N s^{1/N}`.
    """
    return np.sqrt(depth) * rational_power(s, 1, depth)


def rank_one_exp(point, tangent_vector, depth: int, t: float = 1.0):
    r"""Closed-form exponential of :math:`(\mathcal M_1, g)`: rank-one matrices are a cone.

    With :math:`W = s\,u v^\top`, :math:`r = \sqrt N s^{1/N}` and the link
    :math:`(S^{m-1}\times S^{n-1})/\pm` carrying :math:`h = \tfrac1N(g_{S^{m-1}} \oplus
    g_{S^{n-1}})`, the metric is the cone metric :math:`g = dr^2 + r^2 h` (from
    :math:`M^2/K + (\|U_p\|^2 + \|V_p\|^2)/c` with :math:`U_p = s\dot u`,
    :math:`V_p = s\dot v`). A cone geodesic is a straight line
    :math:`P(t) = (r_0 + \dot r t,\; r_0\omega t)` in the flat development: the radius is
    :math:`|P(t)|` and the link point moves along the geodesic of ``h`` through
    :math:`(\dot u, \dot v)` (two great circles) by the angle
    :math:`\varphi(t) = \operatorname{atan2}(r_0\omega t, r_0 + \dot r t)`, with
    :math:`\dot r = s^{1/N-1}\dot s/\sqrt N` and :math:`\omega^2 = (\|\dot u\|^2 +
    \|\dot v\|^2)/N`. The only point of lower rank, the zero matrix, is the apex: only
    the radial geodesics towards it reach it (at :math:`t = r_0/|\dot r|`).

    Parameters
    ----------
    point : tuple (u, s, vt)
        A rank-one point (``k = 1``).
    tangent_vector : tuple (Up, M, Vp)
        The initial velocity (``Up`` is ``m x 1``, ``M`` is ``1 x 1``).
    depth : int
        Depth ``N >= 1`` of the metric.
    t : float, default 1
        Time.

    Returns
    -------
    tuple (u, s, vt)
        Accurate to a few ulps of :math:`r_0 + |t|\,\|P'\|` in ``r``.

    Raises
    ------
    BoundaryError
        (a ``ValueError``) If the geodesic passes through the zero matrix (to rounding) by
        time ``t``, or ``s(t)`` underflows.
    """
    depth = check_int_depth(depth)
    u, s, vt = point
    Up, M, Vp = tangent_vector
    s0, N = float(s[0]), depth
    r0 = float(cone_radius(s0, N))
    rdot = float(M[0, 0]) * r0 / (N * s0)  # s^(1/N - 1) sdot / sqrt(N)
    du, dv = Up[:, 0] / s0, Vp[:, 0] / s0
    nu, nv = np.linalg.norm(du), np.linalg.norm(dv)
    omega = np.sqrt((nu**2 + nv**2) / N)
    px, py = r0 + rdot * t, r0 * omega * t
    r = np.hypot(px, py)
    speed = np.hypot(rdot, r0 * omega)
    # closest approach of the development line to the apex within [0, t]
    t_near = -r0 * rdot / speed**2 if speed > 0 else 0.0
    t_near = float(np.clip(t_near, min(0.0, t), max(0.0, t)))
    r_near = np.hypot(r0 + rdot * t_near, r0 * omega * t_near)
    s1 = rational_power(r / np.sqrt(N), N, 1)
    if r_near <= 64 * np.finfo(float).eps * (r0 + speed * abs(t)) or not s1 > 0:
        raise BoundaryError(
            "the geodesic reaches the rank-deficient boundary of M_k (the zero matrix) at "
            f"t ~ {t_near:.10g} (or s underflows). The deep-linear metric is incomplete; use "
            "a shorter tangent vector",
            t_near,
            t_near,
        )
    phi = np.arctan2(py, px)
    if omega > 0:
        # unit-speed link geodesic: u turns by phi |du| / omega, v by phi |dv| / omega
        u1, v1 = (
            x * np.cos(phi * nx / omega) + (d / nx if nx > 0 else d) * np.sin(phi * nx / omega)
            for x, d, nx in ((u[:, 0], du, nu), (vt[0], dv, nv))
        )
    else:
        u1, v1 = u[:, 0], vt[0]
    return u1[:, None].copy(), np.array([s1]), v1[None, :].copy()
