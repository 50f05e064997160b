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
import scipy.fft
from scipy.integrate import DOP853
from scipy.optimize import brentq

from riemlin._validation import check_int, check_positive
from riemlin.geometry.hessian import connection_difference, hessian_weights
from riemlin.geometry.metric import metric_weights, rational_power

__all__ = [
    "BoundaryError",
    "LogResult",
    "boundary_distance",
    "exp",
    "geodesic",
    "log",
    "parallel_transport",
    "rank_one_exp",
    "rank_one_log",
    "sectional_curvature",
]

#: Default relative tolerance of the geodesic integration (DOP853, on the state scaled so
#: that the largest singular value is one).
RTOL = 1e-12
#: Default threshold on :math:`s_k(W(t)) / \max(s_1(W(t)), s_1(W(0)))` below which a
#: geodesic is declared to reach the rank-deficient boundary.
BOUNDARY_TOL = 1e-8
#: Default tolerance of :func:`log` on :math:`\|\exp_a(\xi) - b\|_F / \|b\|_F`.
LOG_TOL = 1e-11
# log: integrator steps allowed per trial geodesic (a geodesic of moderate length takes
# 5 to 50 steps at rtol = 1e-12; trial steps of absurd length are refused, not integrated)
_LOG_MAX_STEPS = 500
# log: relative residual of the first start above which the other starts are tried too
_FAR = 1e-3
# log: trial steps per iteration before the Jacobian is rebuilt
_LOG_TRIALS = 6
# log: tangent dimension up to which a stalled iteration differences exp for its Jacobian
# (one integration per coordinate; k(r_u + r_v - k) <= 3k^2, so up to k = 4)
_LOG_DIFFERENCES = 64


class LogResult(NamedTuple):
    """Result of :func:`log`.

    Attributes
    ----------
    tangent_vector : tuple (Up, M, Vp)
        :math:`\\xi` with :math:`\\exp_a(\\xi) = b` to the stated residual.
    residual : float
        :math:`\\|\\exp_a(\\xi) - b\\|_F / \\|b\\|_F` reached (with ``exp`` at the given
        ``rtol``).
    iterations : int
        Accepted quasi-Newton steps.
    exps : int
        Geodesic integrations (calls of ``exp``) used, the start included.
    """

    tangent_vector: tuple
    residual: float
    iterations: int
    exps: int


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
def _check_positive(value, name: str, below_one: bool = False) -> float:
    value = check_positive(value, name)
    if below_one and not value < 1:
        raise ValueError(f"{name} must be in (0, 1); got {value!r}")
    return value


def _check_depth(depth) -> int:
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
def _orth(A) -> np.ndarray:
    return np.linalg.qr(A)[0]


def _start(point, direction, vectors):
    """Reduce to the span of the columns involved and scale to ``s_max = 1``.

    Returns the bases ``(Qu, Qv)``, the layout, the flat initial state, the scale and the
    norms of the transported vectors.
    """
    u, s, vt = point
    v = vt.T
    Up, M, Vp = direction
    Qu = _orth(np.hstack([u, Up] + [e[0] for e in vectors]))
    Qv = _orth(np.hstack([v, Vp] + [e[2] for e in vectors]))
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
    depth = _check_depth(depth)
    rtol = _check_positive(rtol, "rtol", below_one=True)
    boundary_tol = _check_positive(boundary_tol, "boundary_tol", below_one=True)
    return _exp(point, tangent_vector, depth, rtol, boundary_tol)


def _exp(point, tangent_vector, depth, rtol, boundary_tol, max_steps=None):
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
    depth = _check_depth(depth)
    rtol = _check_positive(rtol, "rtol", below_one=True)
    boundary_tol = _check_positive(boundary_tol, "boundary_tol", below_one=True)
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
    depth = _check_depth(depth)
    rtol = _check_positive(rtol, "rtol", below_one=True)
    boundary_tol = _check_positive(boundary_tol, "boundary_tol", below_one=True)
    Qu, Qv, layout, y0, scale, norms = _start(point, direction, list(tangent_vectors))
    _, y1 = _integrate(y0, layout, depth, 1.0, [], rtol, boundary_tol)
    return _finish(y1, Qu, Qv, layout, scale, norms)


class _TangentCoordinates:
    """Orthonormal coordinates of the tangent space at ``(u, s, v)`` (Frobenius isometric)."""

    def __init__(self, u, v):
        k = u.shape[1]
        self.u, self.v, self.k = u, v, k
        self.uperp = np.linalg.qr(u, mode="complete")[0][:, k:]
        self.vperp = np.linalg.qr(v, mode="complete")[0][:, k:]
        self.sizes = (self.uperp.shape[1] * k, k * k, self.vperp.shape[1] * k)
        self.dim = sum(self.sizes)

    def flatten(self, xi) -> np.ndarray:
        Up, M, Vp = xi
        return np.concatenate([(self.uperp.T @ Up).ravel(), M.ravel(), (self.vperp.T @ Vp).ravel()])

    def vector(self, f):
        a, b, _ = self.sizes
        k = self.k
        return (
            self.uperp @ f[:a].reshape(-1, k),
            f[a : a + b].reshape(k, k),
            self.vperp @ f[a + b :].reshape(-1, k),
        )

    def matrix(self, xi) -> np.ndarray:
        Up, M, Vp = xi
        return (self.u @ M + Up) @ self.v.T + self.u @ Vp.T


def _second_order_model(coords, s, depth, xi):
    r"""Columns of :math:`\delta \mapsto \delta + \mathrm{II}(\xi, \delta) - C(\xi, \delta)`.

    The derivative at :math:`\xi` of the second-order Taylor polynomial
    :math:`W + \xi + \tfrac12(\mathrm{II} - C)(\xi, \xi)` of :math:`\exp_W(\xi)` (as an
    ambient matrix), on the coordinate basis; it differs from :math:`D\exp_W(\xi)` by
    :math:`O(\|\xi\|^2)`.
    """
    Up, _, Vp = xi
    if depth > 1:
        K, c = metric_weights(s, depth)
        tables = hessian_weights(s, depth)
        z = (Up / c, xi[1] / K, Vp / c)
    cols = []
    for e in np.eye(coords.dim):
        delta = coords.vector(e)
        dUp, dM, dVp = delta
        col = coords.matrix(delta) + (Up / s) @ dVp.T + (dUp / s) @ Vp.T
        if depth > 1:
            col -= coords.matrix(connection_difference(tables, z, (dUp / c, dM / K, dVp / c)))
        cols.append(col.ravel())
    return np.array(cols).T


class _Shooting:
    """``F(xi) = exp_a(xi) - b`` in the reduced space, counting geodesic integrations."""

    def __init__(self, u, s, v, Y, depth, rtol, boundary_tol):
        self.u, self.s, self.v, self.Y = u, s, v, Y
        self.depth, self.rtol, self.boundary_tol = depth, rtol, boundary_tol
        self.coords = _TangentCoordinates(u, v)
        self.exps = 0

    def __call__(self, f):
        """The residual, or ``None`` when the geodesic reaches the boundary (or is absurd)."""
        self.exps += 1
        try:
            z = _exp(
                (self.u, self.s, self.v.T),
                self.coords.vector(f),
                self.depth,
                self.rtol,
                self.boundary_tol,
                _LOG_MAX_STEPS,
            )
        except ValueError:
            return None
        return ((z[0] * z[1]) @ z[2] - self.Y).ravel()

    def model(self, f):
        return _second_order_model(self.coords, self.s, self.depth, self.coords.vector(f))

    def differences(self, f, F):
        """Forward differences of exp, steps 1e-7 of the iterate (errors ~1e-7 relative)."""
        h = 1e-7 * max(1.0, np.linalg.norm(f))
        cols = []
        for e in np.eye(self.coords.dim):
            G = self(f + h * e)
            cols.append(np.zeros_like(F) if G is None else (G - F) / h)
        return np.array(cols).T

    def starts(self, r, ub, sb, vb):
        """The best start, its residual and the other starts tried (secant information).

        First the second-order inverse of exp (its correction kept only where smaller
        than the first-order term); if its relative residual exceeds ``_FAR``, also the
        frame rotation (and the first-order start if the first geodesic failed).
        """
        coords, depth, s = self.coords, self.depth, self.s
        first = coords.flatten(r)
        f = first
        if depth > 1:
            z = _inverse_metric(s, depth, r)
            correction = coords.flatten(connection_difference(hessian_weights(s, depth), z, z))
            if np.linalg.norm(correction) < np.linalg.norm(first):
                f = first + 0.5 * correction
        F = self(f)
        tried = []
        if F is None or np.linalg.norm(F) > _FAR * np.linalg.norm(self.Y):
            others = [coords.flatten(_rotation_start(self.u, s, self.v, ub, sb, vb, depth))]
            if F is None and depth > 1:
                others.append(first)
            for candidate in others:
                G = self(candidate)
                if G is not None and (F is None or np.linalg.norm(G) < np.linalg.norm(F)):
                    tried.append((f, F))
                    f, F = candidate, G
                else:
                    tried.append((candidate, G))
        while F is None:  # shorten the start until its geodesic stays away from the boundary
            if self.exps > 8:
                break
            f = 0.5 * f
            F = self(f)
        return f, F, [(g, G) for g, G in tried if G is not None]


def log(
    point_a,
    point_b,
    depth: int,
    *,
    tol: float = LOG_TOL,
    max_iterations: int = 50,
    rtol: float = RTOL,
    boundary_tol: float = BOUNDARY_TOL,
) -> LogResult:
    r"""Riemannian logarithm: :math:`\xi \in T_a\mathcal M_k` with :math:`\exp_a(\xi) = b`.

    Shooting. Both points lie in :math:`\operatorname{span}[u_a, u_b] \times
    \operatorname{span}[v_a, v_b]`, a totally geodesic copy of :math:`\mathcal M_k` in
    :math:`\mathbb R^{2k\times 2k}` where everything below runs.

    * **Start**: the second-order inverse of the exponential,
      :math:`\xi_0 = r + \tfrac12 C(r, r)` with :math:`r = P_{T_a}(b - a)` (since
      :math:`P_{T_a}(\exp_a(\xi) - a) = \xi - \tfrac12 C(\xi,\xi) + O(\|\xi\|^3)`);
      if its residual exceeds ``1e-3`` of :math:`\|b\|_F`, also the velocity of the curve
      that turns the singular frames along Grassmann geodesics (after a Procrustes
      alignment) and moves the core in :math:`s^{1/N}`, whichever is better.
    * **Iterations**: Broyden's quasi-Newton method on the ambient residual
      :math:`F(\xi) = \exp_a(\xi) - b` (zero only at ``b``), in least-squares form. The
      initial Jacobian is the derivative of the second-order Taylor polynomial of the
      exponential, :math:`\delta + \mathrm{II}(\xi,\delta) - C(\xi,\delta)` (off by
      :math:`O(\|\xi\|^2)`), updated by the secant of every trial, accepted or not (a
      rejected trial is solved again from the update, with half the step after a trial
      geodesic reached the boundary). Steps are at most twice the start or the iterate.
      When an accepted step does not halve the residual and the tangent space has at most
      64 dimensions (``k <= 4``), the Jacobian is replaced by forward differences of
      ``exp`` (Newton). The iteration stops when the residual has not halved in ten
      steps.

    The geodesic found is the one continued from the start: for points closer than the
    injectivity radius it is the minimizing one; far apart, or when the minimizing
    curve passes near the rank-deficient boundary, it may not be, or none may be found.

    Parameters
    ----------
    point_a, point_b : tuple (u, s, vt)
        The two points (thin SVDs); the result is a tangent vector at ``point_a``.
    depth : int
        Depth ``N >= 1`` of the metric.
    tol : float, default 1e-11
        Stop when :math:`\|\exp_a(\xi) - b\|_F \le` ``tol`` :math:`\|b\|_F`.
    max_iterations : int, default 50
        Accepted steps before giving up.
    rtol : float, default 1e-12
        Integrator tolerance of every ``exp`` (:func:`exp`); ``tol`` should exceed it by a
        factor of ten or more.
    boundary_tol : float, default 1e-8
        Boundary threshold of every ``exp``.

    Returns
    -------
    LogResult
        The tangent vector at ``point_a``, the residual reached, the iterations and the
        number of geodesic integrations.

    Raises
    ------
    ValueError
        If the shooting does not reach ``tol``; the message gives the residual reached,
        the iterations and the likely reason.
    """
    depth = _check_depth(depth)
    tol = _check_positive(tol, "tol", below_one=True)
    rtol = _check_positive(rtol, "rtol", below_one=True)
    boundary_tol = _check_positive(boundary_tol, "boundary_tol", below_one=True)
    max_iterations = check_int(max_iterations, "max_iterations", minimum=0)
    ua, sa, vta = point_a
    ub, sb, vtb = point_b
    Qu = _orth(np.hstack([ua, ub]))
    Qv = _orth(np.hstack([vta.T, vtb.T]))
    scale = float(np.max(sa))
    u, s, v = Qu.T @ ua, sa / scale, Qv.T @ vta.T
    Y = ((Qu.T @ ub) * (sb / scale)) @ (vtb @ Qv)
    norm_Y = np.linalg.norm(Y)
    shoot = _Shooting(u, s, v, Y, depth, rtol, boundary_tol)

    def failure(F, iterations):
        return _log_failure(point_a, point_b, F, iterations, shoot.exps, tol, norm_Y)

    r = _project(u, v, Y - (u * s) @ v.T)
    f, F, tried = shoot.starts(r, Qu.T @ ub, sb / scale, Qv.T @ vtb.T)
    if F is None:
        raise failure(None, 0)
    region = 2 * np.linalg.norm(shoot.coords.flatten(r))
    J = shoot.model(f)
    for g, G in tried:  # the other starts give secant information for free
        J += np.outer(G - F - J @ (g - f), g - f) / ((g - f) @ (g - f))
    iterations, reset, history = 0, False, [np.linalg.norm(F)]
    while np.linalg.norm(F) > tol * norm_Y:
        if iterations >= max_iterations:
            raise failure(F, iterations)
        accepted, lam = False, 1.0
        for _ in range(_LOG_TRIALS):
            step = -np.linalg.lstsq(J, F, rcond=None)[0]
            limit = max(region, 2 * np.linalg.norm(f))
            taken = lam * step * min(1.0, limit / np.linalg.norm(step))
            F_trial = shoot(f + taken)
            if F_trial is None:  # the trial geodesic reaches the boundary: shorten
                lam *= 0.5
                continue
            J += np.outer(F_trial - F - J @ taken, taken) / (taken @ taken)
            if np.linalg.norm(F_trial) < (1 - 1e-4 * lam) * np.linalg.norm(F):
                f, F, accepted = f + taken, F_trial, True
                break
            lam *= 0.5
        small = shoot.coords.dim <= _LOG_DIFFERENCES
        if accepted:
            iterations += 1
            reset = False
            history.append(np.linalg.norm(F))
            if len(history) > 10 and history[-1] > 0.5 * history[-11]:  # stagnation
                raise failure(F, iterations)
            if history[-1] > 0.5 * history[-2] and small:
                J = shoot.differences(f, F)  # slow progress: Newton on differences
        elif not reset:  # the secant information misleads: start again
            J = shoot.differences(f, F) if small else shoot.model(f)
            reset = True
        else:
            raise failure(F, iterations)
    Up, M, Vp = shoot.coords.vector(f)
    xi = (scale * (Qu @ Up), scale * M, scale * (Qv @ Vp))
    return LogResult(xi, float(np.linalg.norm(F) / norm_Y), iterations, shoot.exps)


def _project(u, v, Z):
    M = u.T @ Z @ v
    return Z @ v - u @ M, M, Z.T @ u - v @ M.T


def _grassmann_log(x, y):
    """Procrustes rotation ``Q`` (``y Q`` closest to ``x``) and the Grassmann log ``x -> y Q``."""
    P, _, Qt = np.linalg.svd(y.T @ x)
    Q = P @ Qt
    C = x.T @ (y @ Q)  # symmetric positive semidefinite: cos of the principal angles
    R = y @ Q - x @ C
    w, E = np.linalg.eigh(0.5 * (C + C.T))
    w = np.clip(w, -1.0, 1.0)
    # theta / sin(theta) at cos(theta) = w, with its series 1 + (1 - w)/3 near w = 1
    near = w > 1 - 1e-6
    ratio = np.where(near, 1 + (1 - w) / 3, np.arccos(w) / np.sqrt(np.where(near, 1.0, 1 - w**2)))
    return Q, R @ (E * ratio) @ E.T


def _rotation_start(u, s, v, ub, sb, vb, depth):
    r"""Velocity of the curve that turns the frames along Grassmann geodesics and moves the core.

    The frames of ``b`` are aligned with those of ``a`` by Procrustes rotations
    :math:`O_1, O_2`; the core moves from ``diag(s)`` to :math:`O_1^\top S_b O_2`, its
    diagonal linearly in :math:`s^{1/N}` (exact for aligned points).
    """
    O1, Du = _grassmann_log(u, ub)
    O2, Dv = _grassmann_log(v, vb)
    M = O1.T @ (sb[:, None] * O2) - np.diag(s)
    d = np.diagonal(M) + s
    grow = (
        depth
        * rational_power(s, depth - 1, depth)
        * (rational_power(np.maximum(d, 1e-300), 1, depth) - rational_power(s, 1, depth))
    )
    M[np.diag_indices_from(M)] = np.where(d > 0, grow, d - s)
    return Du * s, M, Dv * s


def _inverse_metric(s, depth, xi):
    K, c = metric_weights(s, depth)
    Up, M, Vp = xi
    return Up / c, M / K, Vp / c


def _log_failure(point_a, point_b, F, iterations, exps, tol, norm_Y):
    ratio = min(np.min(p[1]) / np.max(p[1]) for p in (point_a, point_b))
    reached = (
        "every trial geodesic from the start reached the rank-deficient boundary"
        if F is None
        else f"the residual ||exp_a(xi) - b||_F / ||b||_F reached {np.linalg.norm(F) / norm_Y:.2e}"
    )
    return ValueError(
        f"log: no geodesic from point_a to point_b found to tol={tol:g}: {reached} after "
        f"{iterations} iterations ({exps} geodesic integrations). Likely the points are too "
        "far apart for shooting, or the geodesics between them pass near the rank-deficient "
        f"boundary (smallest s_k/s_1 of the two points: {ratio:.2e}); try points closer "
        "together, or a larger max_iterations"
    )


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
    depth = _check_depth(depth)
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
    depth = _check_depth(depth)
    return float(np.sqrt(depth) * rational_power(np.min(point[1]), 1, depth))


# ---------------------------------------------------------------------- rank one: a cone
def _cone_radius(s, depth):
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
    depth = _check_depth(depth)
    u, s, vt = point
    Up, M, Vp = tangent_vector
    s0, N = float(s[0]), depth
    r0 = float(_cone_radius(s0, N))
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


def rank_one_log(point_a, point_b, depth: int) -> LogResult:
    r"""Closed-form logarithm of :math:`(\mathcal M_1, g)`, defined for every pair of points.

    In the cone picture of :func:`rank_one_exp`, the link distance is
    :math:`\theta = \min_\pm \sqrt{\alpha^2 + \beta^2}/\sqrt N` with
    :math:`\alpha = \angle(u_a, \pm u_b)`, :math:`\beta = \angle(v_a, \pm v_b)` (the sign
    flips both, as :math:`s\,uv^\top = s(-u)(-v)^\top`), at most :math:`\pi/\sqrt{2N} <
    \pi`, so every pair is joined by the unique minimizing geodesic that develops to the
    segment from :math:`(r_a, 0)` to :math:`(r_b\cos\theta, r_b\sin\theta)`, and

    .. math:: d(a, b)^2 = r_a^2 + r_b^2 - 2 r_a r_b\cos\theta, \qquad r = \sqrt N s^{1/N}.

    Parameters
    ----------
    point_a, point_b : tuple (u, s, vt)
        Rank-one points.
    depth : int
        Depth ``N >= 1`` of the metric.

    Returns
    -------
    LogResult
        The tangent vector at ``point_a``; ``residual`` is
        :math:`\|\exp_a(\xi) - b\|_F / \|b\|_F` by :func:`rank_one_exp`, ``iterations``
        and ``exps`` are zero.

    Raises
    ------
    TypeError
        If ``depth`` is not an int.
    ValueError
        If ``depth < 1``.
    """
    depth = _check_depth(depth)
    N = depth
    ua, sa, vta = point_a[0][:, 0], float(point_a[1][0]), point_a[2][0]
    ub, sb, vtb = point_b[0][:, 0], float(point_b[1][0]), point_b[2][0]

    def angle(x, y):  # angle and unit direction at x towards y on the sphere
        perp = y - x * (x @ y)
        norm = np.linalg.norm(perp)
        return np.arctan2(norm, x @ y), (perp / norm if norm > 0 else perp)

    best = None
    for sign in (1.0, -1.0):
        (alpha, tu), (beta, tv) = angle(ua, sign * ub), angle(vta, sign * vtb)
        if best is None or alpha**2 + beta**2 < best[0] ** 2 + best[1] ** 2:
            best = (alpha, beta, tu, tv)
    alpha, beta, tu, tv = best
    theta = np.hypot(alpha, beta) / np.sqrt(N)
    ra, rb = _cone_radius(sa, N), _cone_radius(sb, N)
    rdot = (rb - ra) - 2 * rb * np.sin(theta / 2) ** 2  # rb cos(theta) - ra
    # link velocity omega * (alpha tu, beta tv) / theta with omega = rb sin(theta) / ra
    factor = rb * np.sinc(theta / np.pi) / ra
    du, dv = factor * alpha * tu, factor * beta * tv
    xi = (sa * du[:, None], np.array([[rdot * N * sa / ra]]), sa * dv[:, None])
    end = rank_one_exp(point_a, xi, N)
    Y = sb * np.outer(ub, vtb)
    residual = np.linalg.norm(end[1][0] * np.outer(end[0][:, 0], end[2][0]) - Y) / sb
    return LogResult(xi, float(residual), 0, 0)
