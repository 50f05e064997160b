r"""The Riemannian logarithm of :math:`(\mathcal M_k, g)` by shooting, and the distance.

:math:`\log_a(b)` is the initial velocity of a geodesic from ``a`` that reaches ``b`` at
``t = 1``: the root of :math:`\xi \mapsto \exp_a(\xi) - b`, found by Broyden's method
(C. G. Broyden, Math. Comp. 19 (1965) 577-593) from the starts and with the safeguards
derived in the user guide's chapter on the geometry; rank one has a closed form (the cone
of :mod:`riemlin.geometry.geodesics`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from riemlin._validation import check_int
from riemlin.geometry.geodesics import (
    BOUNDARY_TOL,
    RTOL,
    check_int_depth,
    check_tolerance,
    cone_radius,
    exp_unchecked,
    orthonormal_basis,
    rank_one_exp,
)
from riemlin.geometry.hessian import connection_difference, hessian_weights
from riemlin.geometry.metric import metric_weights, rational_power

__all__ = ["LOG_TOL", "LogResult", "log", "rank_one_log"]

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
            z = exp_unchecked(
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
    depth = check_int_depth(depth)
    tol = check_tolerance(tol, "tol", below_one=True)
    rtol = check_tolerance(rtol, "rtol", below_one=True)
    boundary_tol = check_tolerance(boundary_tol, "boundary_tol", below_one=True)
    max_iterations = check_int(max_iterations, "max_iterations", minimum=0)
    ua, sa, vta = point_a
    ub, sb, vtb = point_b
    Qu = orthonormal_basis(np.hstack([ua, ub]))
    Qv = orthonormal_basis(np.hstack([vta.T, vtb.T]))
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
    depth = check_int_depth(depth)
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
    ra, rb = cone_radius(sa, N), cone_radius(sb, N)
    rdot = (rb - ra) - 2 * rb * np.sin(theta / 2) ** 2  # rb cos(theta) - ra
    # link velocity omega * (alpha tu, beta tv) / theta with omega = rb sin(theta) / ra
    factor = rb * np.sinc(theta / np.pi) / ra
    du, dv = factor * alpha * tu, factor * beta * tv
    xi = (sa * du[:, None], np.array([[rdot * N * sa / ra]]), sa * dv[:, None])
    end = rank_one_exp(point_a, xi, N)
    Y = sb * np.outer(ub, vtb)
    residual = np.linalg.norm(end[1][0] * np.outer(end[0][:, 0], end[2][0]) - Y) / sb
    return LogResult(xi, float(residual), 0, 0)
