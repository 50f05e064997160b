r"""Riemannian gradient flow and descent of a loss on :math:`\mathcal M_k`.

The flow is

.. math::

    \dot W = -\mathcal A_W\big(\nabla L(W)\big)
           = -\operatorname{grad}^g L(W), \qquad W(0) = W_0 \in \mathcal M_k,

the Riemannian gradient flow under the deep-linear metric; by the equivalence theorem of
Bah, Rauhut, Terstiege and Westdickenberg (arXiv:1910.05505) it is the curve
traced by the end-to-end matrix of balanced layers trained by gradient flow. Only the
products :math:`\nabla L\, v` and :math:`\nabla L^\top u` are evaluated (the loss
protocol of :mod:`riemlin.losses`).

Two formulations (``formulation``), each stepped by DOP853 or LSODA (``integrator``;
the default ``"auto"`` chooses, see below):

``"dense"``
    The ``m x n`` matrix itself; the right-hand
    side takes the thin SVD of the current ``W`` (truncated to rank ``k``). A reference
    for small sizes.
``"manifold"``
    The factored coordinates ``W = U S V^T`` (``U`` ``m x k``, ``S`` ``k x k``,
    ``V`` ``n x k``) of dynamical low-rank approximation (Koch and Lubich 2007, the
    differential equations for the factors): with the tangent vector
    :math:`\dot W = u M v^\top + U_p v^\top + u V_p^\top` in the coordinates of the thin
    SVD ``u diag(s) vt`` of the current ``U S V^T``,

    .. math::

        \dot U = U_p\,(v^\top V)^{-\top} S^{-1}, \quad
        \dot S = (u^\top U)^{-1} M\, (v^\top V)^{-\top}, \quad
        \dot V = V_p\,(u^\top U)^{-\top} S^{-\top},

    which give :math:`\tfrac{d}{dt}(U S V^\top) = \dot W` exactly for *any* full-rank
    ``(U, S, V)`` (so a drift of ``U^T U`` away from ``I`` does not perturb ``W``), and
    keep ``U^T U`` and ``V^T V`` constant (``U^T \dot U = 0``). The SVD of ``U S V^T``
    comes from two ``k x k`` Cholesky factors and a ``k x k`` SVD, and the inverses above
    reduce to products with ``k x k`` matrices known from it (:func:`_factor_velocity`);
    the loss products :math:`\nabla L\, v`, :math:`\nabla L^\top u` come from one
    call of :func:`riemlin.losses.gradient_products`. With DOP853 the method has
    order 8 with an embedded 5th/3rd-order error control; it costs
    :math:`O((m+n)k^2)` per stage plus the loss products, and never forms an ``m x n``
    array. In the SVD frame the factor velocities are :math:`U_p S^{-1}` and
    :math:`V_p S^{-1}`; under the deep-linear metric :math:`U_p, V_p` carry the weight
    :math:`c_a = s_a^{2(N-1)/N}`, so they scale like :math:`s_a^{(N-2)/N}` and stay
    bounded as :math:`s_k \to 0` for :math:`N \ge 2`. For :math:`N = 1` (the embedded
    metric) they grow like :math:`1/s_k`, the known stiffness of these coordinates
    (Koch and Lubich 2007; Lubich and Oseledets 2014). A collapse of :math:`s_k` is
    reported as rank loss.

Deep flows are stiff for another reason: the core block of :math:`\mathcal A_W` carries
:math:`K_{aa} = N c_a`, ``N`` times the weight of the ``U_p``, ``V_p`` blocks, so the
Jacobian of the factored flow has eigenvalues of size :math:`N c_a` times the curvature
of the loss (about ``-2400`` at depth 20 on the benchmark problem of the user guide,
chapter "Performance at scale"), and an explicit method runs at its stability limit:
its cost grows with the depth. The default ``integrator="auto"`` therefore steps the
factored flow with LSODA (Petzold 1983), which follows a non-stiff flow with Adams
methods and switches to BDF methods, not limited by stability, once it detects
stiffness. Its Jacobian, ``(m + n + k) k`` square, comes from forward differences of the
velocity over all unknowns at once (:func:`_factor_jacobian`) and is saved and reused
while it is fresh (:class:`_SavedJacobian`); that is affordable for small factored
states, so ``"auto"`` means LSODA up to :data:`AUTO_IMPLICIT_STATES` unknowns and DOP853
above (and always for ``formulation="dense"``, whose ``m n`` unknowns LSODA would
differentiate one by one). Run single-threaded BLAS (``threadpoolctl``) for small
problems: the dense LU factorizations of the Jacobian and the batched ``k x k`` kernels
gain nothing from threads and lose much to a busy second core.

Status codes of :class:`FlowResult`: ``0`` success, ``-1`` the integrator failed
(step size underflow, or more than ``1e7`` steps still ahead at the recent mean step
size), ``-2`` divergence (a non-finite state, velocity or loss, or an exploding loss),
``-3`` loss of rank (``s_min / s_max`` below ``rank_tol``, a retraction that leaves
:math:`\mathcal M_k`, or, at depth 1 with ``formulation="manifold"``, below
``eps / (100 rtol)``, where rounding makes the factored coordinates crawl). Numerical
breakdowns never raise; see :mod:`riemlin.dynamics.stepping`.

References
----------
.. [BRTW] B. Bah, H. Rauhut, U. Terstiege, M. Westdickenberg, "Learning deep linear
   neural networks: Riemannian gradient flows and convergence to global minimizers",
   Inf. Inference 11 (2022), arXiv:1910.05505.
.. [KL07] O. Koch, C. Lubich, "Dynamical low-rank approximation", SIAM J. Matrix Anal.
   Appl. 29 (2007) 434-454.
.. [LO14] C. Lubich, I. V. Oseledets, "A projector-splitting integrator for dynamical
   low-rank approximation", BIT 54 (2014) 171-188.
.. [HNW] E. Hairer, S. P. Nørsett, G. Wanner, "Solving Ordinary Differential Equations
   I", 2nd ed., Springer 1993 (DOP853).
.. [P83] L. Petzold, "Automatic selection of methods for solving stiff and nonstiff
   systems of ordinary differential equations", SIAM J. Sci. Stat. Comput. 4 (1983)
   136-148 (LSODA).
.. [H05] A. C. Hindmarsh et al., "SUNDIALS: Suite of nonlinear and differential/algebraic
   equation solvers", ACM Trans. Math. Softw. 31 (2005) 363-396 (CVODE's reuse of a
   saved Jacobian).
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import DOP853, LSODA

from riemlin._validation import (
    check_array,
    check_int,
    check_optional_step,
    check_point,
    check_positive,
    check_times,
    numerical_rank,
)
from riemlin.dynamics.result import FlowResult
from riemlin.dynamics.stepping import (
    DIVERGED,
    RANK_LOST,
    SUCCESS,
    Breakdown,
    guarded,
    march,
)
from riemlin.geometry.manifold import FixedRankDeepLinear, FixedRankPoint, FixedRankTangentVector
from riemlin.geometry.metric import apply_metric, metric_weights
from riemlin.geometry.tangent import project_products, tangent_matrix
from riemlin.losses.base import check_loss, check_loss_shape, gradient_products, is_point

__all__ = ["riemannian_gradient", "riemannian_gradient_flow", "riemannian_gradient_descent"]

_INTEGRATORS = {"DOP853": DOP853, "LSODA": LSODA}
_FD_STEP = np.sqrt(np.finfo(float).eps)  # forward differences: error ~ sqrt(eps)
#: ``integrator="auto"`` steps the factored flow with LSODA and the Jacobian of
#: :func:`_factor_jacobian` up to this many unknowns ``(m + n + k) k``, and with DOP853
#: above (and always for ``formulation="dense"``).
AUTO_IMPLICIT_STATES = 1000
#: Accepted steps after which the saved Jacobian of the factored flow is re-evaluated
#: (:class:`_SavedJacobian`; CVODE's ``MSBJ``).
JACOBIAN_AGE = 50


# ---------------------------------------------------------------------- helpers
def riemannian_gradient(manifold: FixedRankDeepLinear, point, loss) -> FixedRankTangentVector:
    r""":math:`\mathcal A_W(P_T \nabla L(W))` from the loss products (no ``m x n`` array).

    ``M = u^T G v``, ``Up = G v - u M``, ``Vp = G^T u - v M^T`` with ``G v`` and
    ``G^T u`` from :func:`riemlin.losses.gradient_products` (Bah et al.,
    arXiv:1910.05505, for the metric).

    Parameters
    ----------
    manifold : FixedRankDeepLinear
        Supplies the depth of the metric.
    point : FixedRankPoint
        The point ``(u, s, vt)``.
    loss : loss protocol object
        See :mod:`riemlin.losses`.

    Returns
    -------
    FixedRankTangentVector
        The Riemannian gradient ``(Up, M, Vp)``.
    """
    u, s, vt = point
    GV, GtU = gradient_products(loss, point, vt.T, u)
    proj = project_products(u, vt, GV, GtU)
    return FixedRankTangentVector(*apply_metric(metric_weights(s, manifold.depth), proj))


def _start(W0, loss, depth, k, rank_tol):
    """Validate the start; return the manifold and the point."""
    check_loss(loss)
    depth = check_int(depth, "depth")
    if is_point(W0):
        u, s, vt = check_point(W0, "W0")
        if k is not None and check_int(k, "k") != s.size:
            raise ValueError(f"k={k} does not match the rank {s.size} of the point W0")
        manifold = FixedRankDeepLinear(u.shape[0], vt.shape[1], s.size, depth)
        point = FixedRankPoint(u, s, vt)
    else:
        W0 = check_array(W0, "W0")
        if W0.ndim != 2:
            raise ValueError(
                f"W0 must be an (m, n) matrix or a point (u, s, vt); got shape {W0.shape}"
            )
        m, n = W0.shape
        if k is None:
            sv = np.linalg.svd(W0, compute_uv=False)
            k = numerical_rank(sv, (m, n))
            if k == 0:
                raise ValueError("W0 is the zero matrix; the flow needs a start of rank >= 1")
        k = check_int(k, "k")
        if k > min(m, n):
            raise ValueError(f"k={k} exceeds min(m, n) = {min(m, n)} for W0 of shape {(m, n)}")
        manifold = FixedRankDeepLinear(m, n, k, depth)
        try:
            point = manifold.point_from_matrix(W0)
        except ValueError as exc:
            raise ValueError(f"W0: {exc}") from None
    m, n = manifold.m, manifold.n
    check_loss_shape(loss, (m, n), "W0")
    if getattr(loss, "shape", None) is None:
        _check_products(loss, point, m, n)
    if point[1][-1] <= rank_tol * point[1][0]:
        raise ValueError(
            f"W0 is numerically rank deficient: s_min/s_max = {point[1][-1] / point[1][0]:.3g} "
            f"<= rank_tol = {rank_tol:g}"
        )
    return manifold, point


def _check_products(loss, point, m, n):
    # A loss without a declared shape: its gradient products at the start must be
    # (m, k) and (n, k), else the mismatch would surface deep inside the integrator.
    u, s, vt = point
    try:
        GV, GtU = gradient_products(loss, point, vt.T, u)
    except ValueError as exc:
        raise ValueError(f"loss: its gradient does not fit the {m}x{n} start W0 ({exc})") from None
    k = s.size
    for name, P, want in (("G v", GV, (m, k)), ("G^T u", GtU, (n, k))):
        if np.shape(P) != want:
            raise ValueError(
                f"loss: the gradient product {name} at the {m}x{n} start W0 has shape "
                f"{np.shape(P)}, expected {want}; the loss and W0 do not match"
            )


def _output_mode(output, m, n):
    if output not in ("auto", "matrix", "point"):
        raise ValueError(f"output must be 'auto', 'matrix' or 'point'; got {output!r}")
    if output == "auto":
        return "matrix" if m * n <= 10**6 else "point"
    return output


def _finish(times, losses, points, svals, mode, status, message, nfev):
    stored = {"points": list(points)}
    if mode == "matrix":
        shape = (len(points), points[0][0].shape[0], points[0][2].shape[1])
        stored = {"matrices": np.array([(u * s) @ vt for u, s, vt in points]).reshape(shape)}
    return FlowResult(
        t=times,
        loss=losses,
        status=status,
        message=message,
        nfev=nfev,
        singular_values=np.array(svals),
        **stored,
    )


def _factor_frame(U, S, V):
    r"""The thin SVD ``u diag(s) v^T`` of ``U S V^T`` and the ``k x k`` changes of frame.

    With the Cholesky factors :math:`U^\top U = R_u^\top R_u`, :math:`V^\top V =
    R_v^\top R_v` (upper triangular :math:`R`, so :math:`U R_u^{-1}` has orthonormal
    columns: the Q of a QR of ``U``) and the SVD :math:`R_u S R_v^\top = U_c
    \operatorname{diag}(s) V_c^\top`: ``u = U T_u``, ``v = V T_v`` with
    :math:`T_u = R_u^{-1} U_c`, :math:`T_v = R_v^{-1} V_c`, whose inverses are
    :math:`T_u^{-1} = U_c^\top R_u`, :math:`T_v^{-1} = V_c^\top R_v`. Returns
    ``(u, s, v, T_u, T_v, T_u^{-1}, T_v^{-1})``; stacks of states (a leading axis) give
    stacks of each. Cost: one batched ``k x k`` Cholesky
    factorization, one ``k x k`` SVD and one batched ``k x k`` solve, no QR of the tall
    factors. The Cholesky factor is as accurate as a QR here because the flow keeps
    :math:`U^\top U` and :math:`V^\top V` constant (see :func:`_factor_velocity`), so
    both stay near ``I``. (``numpy.linalg`` throughout: scipy's LAPACK wrappers link a
    second OpenBLAS, whose threads slow the tiny ``k x k`` solves down on a busy machine.)

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``U`` or ``V`` is numerically rank deficient or the SVD does not converge.
    """
    gram = np.stack((_mT(U) @ U, _mT(V) @ V))  # (2, ..., k, k): both in one call
    L = np.linalg.cholesky(gram)  # lower triangular, R = L^T
    Ru, Rv = _mT(L[0]), _mT(L[1])
    Uc, s, Vct = np.linalg.svd(Ru @ S @ L[1])
    T = np.linalg.solve(_mT(L), np.stack((Uc, _mT(Vct))))
    return U @ T[0], s, V @ T[1], T[0], T[1], _mT(Uc) @ Ru, Vct @ Rv


def _mT(A):
    return np.swapaxes(A, -1, -2)


def _factor_velocity(U, S, V, loss, depth):
    r"""The velocities ``(dU, dS, dV)`` of the factored flow at ``W = U S V^T``.

    With the frame of :func:`_factor_frame` (``U = u T_u^{-1}``, ``V = v T_v^{-1}``,
    ``S = T_u diag(s) T_v^T``) and the Riemannian gradient
    :math:`\mathcal A_W(P_T \nabla L) = u (K \odot M) v^\top + U_p' v^\top + u V_p'^\top`
    (:math:`U_p' = U_p \operatorname{diag}(c)`, :math:`V_p' = V_p \operatorname{diag}(c)`),
    the velocities of the module docstring simplify to

    .. math::

        \dot U = -U_p' \operatorname{diag}(s)^{-1} T_u^{-1}, \quad
        \dot S = -T_u (K \odot M) T_v^\top, \quad
        \dot V = -V_p' \operatorname{diag}(s)^{-1} T_v^{-1},

    (:math:`b^{-\top} S^{-1} = \operatorname{diag}(s)^{-1} T_u^{-1}` with
    :math:`b = v^\top V = T_v^{-1}`), so no ``k x k`` system is solved. ``U^T dU = 0`` and
    ``V^T dV = 0``: the flow keeps ``U^T U`` and ``V^T V`` constant.

    Stacks of states (a leading axis, for finite-difference Jacobians) go through
    ``numpy.linalg``'s batched kernels and one loss call per state.
    """
    u, s, v, Tu, Tv, Tu_inv, Tv_inv = _factor_frame(U, S, V)
    if U.ndim == 2:
        Gv, Gtu = gradient_products(loss, FixedRankPoint(u, s, v.T), v, u)
    else:
        Gv, Gtu = np.empty_like(u), np.empty_like(v)
        for i in range(u.shape[0]):
            point = FixedRankPoint(u[i], s[i], v[i].T)
            Gv[i], Gtu[i] = gradient_products(loss, point, v[i], u[i])
    M = _mT(u) @ Gv
    K, c = metric_weights(s, depth)
    w = (c / s)[..., :, None]
    dU = (u @ M - Gv) @ (w * Tu_inv)
    dS = Tu @ (K * M) @ -_mT(Tv)
    dV = (v @ _mT(M) - Gtu) @ (w * Tv_inv)
    return dU, dS, dV


def _factor_jacobian(y, f, sizes, loss, depth):
    r"""The Jacobian :math:`\partial F / \partial y` of the factored velocity at the state ``y``.

    Forward differences over all states at once: column ``j`` is
    :math:`(F(y + h_j e_j) - F(y)) / h_j` with :math:`h_j = \sqrt{\varepsilon}
    \max(|y_j|, c_j)`, where :math:`c_j` is the scale of ``y_j``'s block: 1 for the
    entries of ``U`` and ``V`` (columns of norm about 1) and the largest entry of ``S``
    for those of ``S``, so that the steps stay relative at any scale of ``W`` (error
    :math:`O(\sqrt{\varepsilon})` relative, ample for the Newton iterations of an
    implicit method, whose convergence and not whose accuracy depends on the Jacobian).
    The perturbed states go through the batched ``k x k`` kernels of
    :func:`_factor_velocity`; the loss products cost one call per state, the one part
    that depends on the loss (the loss protocol has no Hessian).
    """
    (m, k), a, b = sizes, sizes[0] * sizes[1], sizes[0] * sizes[1] + sizes[1] ** 2
    scale = np.ones_like(y)
    scale[a:b] = np.abs(y[a:b]).max(initial=np.finfo(float).tiny)
    h = _FD_STEP * np.maximum(np.abs(y), scale)
    Y = np.repeat(y[None, :], y.size, axis=0)
    Y[np.diag_indices(y.size)] += h
    dU, dS, dV = _factor_velocity(
        Y[:, :a].reshape(y.size, m, k),
        Y[:, a:b].reshape(y.size, k, k),
        Y[:, b:].reshape(y.size, -1, k),
        loss,
        depth,
    )
    J = np.empty((y.size, y.size))
    J[:, :a] = dU.reshape(y.size, a)
    J[:, a:b] = dS.reshape(y.size, b - a)
    J[:, b:] = dV.reshape(y.size, y.size - b)
    J -= f
    J /= h[:, None]
    return J.T


class _SavedJacobian:
    r"""A Jacobian callback for LSODA that re-evaluates only when the saved one may be stale.

    ODEPACK's LSODA keeps only the LU factors of its Newton matrix
    :math:`I - h \gamma J`, so it asks for a new Jacobian whenever :math:`h \gamma`
    changes by more than 30%, besides every 20 steps and after a failed Newton iteration.
    Here the last Jacobian is saved and handed back unless it is :data:`JACOBIAN_AGE`
    accepted steps old, or no step was accepted since the last request (the Newton
    iteration failed with it, or the step failed the error test; the second case costs
    an evaluation that was not needed): the rule of CVODE's direct linear solvers (Hindmarsh et
    al., ACM TOMS 31 (2005) 363-396), which re-evaluate the Jacobian only then and
    otherwise re-factor the saved one for the new :math:`h \gamma`. The Jacobian only
    steers the Newton iteration, so the solution's accuracy does not depend on its age;
    the step-size control sees any slower convergence.
    """

    def __init__(self, evaluate):
        self.evaluate = evaluate
        self.saved = None
        self.age = 0
        self.accepted = False

    def step_accepted(self) -> None:
        self.age += 1
        self.accepted = True

    def __call__(self, t, y):
        if self.saved is None or self.age >= JACOBIAN_AGE or not self.accepted:
            self.saved = self.evaluate(y)
            self.age = 0
        self.accepted = False
        return self.saved


def _point_from_factors(U, S, V) -> FixedRankPoint:
    u, s, v = _factor_frame(U, S, V)[:3]
    return FixedRankPoint(u, s, v.T)


def _point_from_dense(Y, m, n, k) -> FixedRankPoint:
    u, s, vt = np.linalg.svd(Y.reshape(m, n), full_matrices=False)
    return FixedRankPoint(u[:, :k], s[:k], vt[:k])


def _choose_integrator(integrator: str, formulation: str, states: int) -> str:
    """The stepper ``integrator="auto"`` stands for (see :data:`AUTO_IMPLICIT_STATES`)."""
    if integrator != "auto":
        return integrator
    if formulation == "manifold" and states <= AUTO_IMPLICIT_STATES:
        return "LSODA"
    return "DOP853"


# ---------------------------------------------------------------------- the flow
def riemannian_gradient_flow(
    W0,
    loss,
    depth: int,
    t_eval,
    formulation: str = "manifold",
    rtol: float = 1e-9,
    atol: float = 1e-12,
    *,
    k: int | None = None,
    output: str = "auto",
    first_step: float | None = None,
    max_step: float = np.inf,
    rank_tol: float = 1e-13,
    max_loss_ratio: float = 1e8,
    integrator: str = "auto",
) -> FlowResult:
    r"""Integrate the Riemannian gradient flow :math:`\dot W = -\mathcal A_W(\nabla L(W))`.

    Parameters
    ----------
    W0 : ndarray, shape (m, n), or FixedRankPoint
        Start, a rank-``k`` matrix or a point ``(u, s, vt)``.
    loss : RegressionLoss, MatrixLoss or any object of the loss protocol
        See :mod:`riemlin.losses`.
    depth : int
        Depth ``N >= 1`` of the metric (``N = 1``: the embedded metric).
    t_eval : array_like, shape (T,)
        Strictly increasing output times; the flow starts at ``t_eval[0]``.
    formulation : {"manifold", "dense"}, default "manifold"
        ``"manifold"``: the factors ``(U, S, V)`` (Koch–Lubich coordinates), no
        ``m x n`` array; see the module docstring. ``"dense"``: the ``m x n`` matrix,
        with an SVD per evaluation (a reference for small sizes; it follows the matrix
        through a drop of rank, where the factored coordinates stop at depth 1).
    rtol, atol : float
        Tolerances of the step-size control (scipy's meaning: per component of the
        state, ``|err_i| <= atol + rtol |y_i|`` in RMS).
    k : int, optional
        Rank; defaults to the numerical rank of a matrix ``W0`` or to ``len(s)``.
    output : {"auto", "matrix", "point"}
        Form of ``FlowResult.W``: dense matrices, or points ``(u, s, vt)``; ``"auto"``
        gives matrices when ``m * n <= 1e6``.
    first_step, max_step : float, optional
        Passed to the stepper (with ``integrator="DOP853"``, ``first_step = max_step = h``
        and large tolerances give a fixed step ``h``, used to measure the order).
    rank_tol : float, default 1e-13
        The run stops with status ``-3`` when ``s_min / s_max`` falls below it. At depth
        1 with ``formulation="manifold"`` it also stops (``-3``) once ``s_min / s_max <= eps /
        (100 rtol)``: the velocities of the factors divide by ``s_min`` and carry
        rounding errors ``eps s_max / s_min`` relative, so from there the steps shrink
        like ``s_min`` and the cost per unit time grows like ``1 / s_min``.
    max_loss_ratio : float, default 1e8
        The run stops with status ``-2`` when the loss is not finite or
        ``|L(W)| > max_loss_ratio * max(|L(W0)|, 1)`` (checked after every step).
    integrator : {"auto", "DOP853", "LSODA"}, default "auto"
        The time stepper. ``"auto"``: LSODA with the saved forward-difference Jacobian
        for ``formulation="manifold"`` with at most :data:`AUTO_IMPLICIT_STATES` unknowns
        ``(m + n + k) k``, DOP853 otherwise; fast on stiff deep flows without a choice
        by the caller (module docstring). ``"DOP853"``: explicit, order 8 (Hairer,
        Nørsett, Wanner); on a stiff flow it runs at its stability limit, at a cost that
        grows with the depth. ``"LSODA"``: ODEPACK's automatic switch between Adams
        (non-stiff) and BDF (stiff) methods (Petzold 1983; Hindmarsh 1983) through
        :class:`scipy.integrate.LSODA`; with ``formulation="manifold"`` its Jacobian is
        formed by forward differences of the velocity over all unknowns at once (each
        column counts as one evaluation in ``nfev``) and reused until it is
        :data:`JACOBIAN_AGE` steps old or a Newton iteration fails with it; with
        ``formulation="dense"`` LSODA differentiates the ``m n`` unknowns one by one,
        which only suits small sizes. The two methods estimate their local errors
        differently, so at the same ``rtol`` and ``atol`` their end points can differ in
        accuracy, either way and on some problems by orders of magnitude (small starts
        in particular, where ``atol`` dominates). For a reference solution use
        ``"DOP853"`` with tight tolerances, or compare with a run at a tighter ``rtol``.

    Returns
    -------
    FlowResult
        ``imbalance`` and ``factors`` are ``None``.

    Raises
    ------
    ValueError, TypeError
        For bad arguments (shapes, dtypes other than real, non-finite entries, a point
        whose frames are not orthonormal, ``t_eval`` not increasing, a start of lower
        rank than ``k``, a loss whose shape or gradient does not fit the start, an
        unknown ``formulation``, ``first_step``/``max_step`` that are not positive).
        Numerical breakdowns (a non-finite gradient, a start whose loss overflows, loss
        of rank, a run that would crawl) are not raised: they end in ``status``.

    References
    ----------
    Bah et al., arXiv:1910.05505 (the flow); Koch and Lubich, SIAM J. Matrix Anal.
    Appl. 29 (2007), doi:10.1137/050639703 (the factored coordinates); Hairer, Nørsett,
    Wanner (DOP853); L. Petzold, "Automatic selection of methods for solving stiff and
    nonstiff systems of ordinary differential equations", SIAM J. Sci. Stat. Comput. 4
    (1983) 136-148, and A. C. Hindmarsh, "ODEPACK, a systematized collection of ODE
    solvers", IMACS Trans. Sci. Comput. 1 (1983) 55-64 (LSODA).

    Examples
    --------
    >>> import numpy as np
    >>> from riemlin.losses import RegressionLoss
    >>> loss = RegressionLoss(np.eye(3), np.diag([3.0, 2.0, 1.0]))
    >>> res = riemannian_gradient_flow(np.diag([1.0, 1.0, 0.0]), loss, 2, [0.0, 20.0])
    >>> res.success, round(float(res.loss[-1]), 10)
    (True, 0.5)
    """
    if formulation not in ("dense", "manifold"):
        raise ValueError(f"formulation must be 'dense' or 'manifold'; got {formulation!r}")
    if integrator not in ("auto", *_INTEGRATORS):
        raise ValueError(f"integrator must be 'auto', 'DOP853' or 'LSODA'; got {integrator!r}")
    t = check_times(t_eval)
    rtol = check_positive(rtol, "rtol")
    atol = check_positive(atol, "atol")
    rank_tol = check_positive(rank_tol, "rank_tol")
    max_loss_ratio = check_positive(max_loss_ratio, "max_loss_ratio")
    first_step = check_optional_step(first_step, "first_step")
    max_step = check_positive(max_step, "max_step", allow_inf=True)
    manifold, point = _start(W0, loss, depth, k, rank_tol)
    m, n, kk = manifold.m, manifold.n, manifold.k
    mode = _output_mode(output, m, n)
    nfev = 0

    if formulation == "dense":

        def to_point(y):
            return _point_from_dense(y, m, n, kk)

        def rhs(_t, y):
            nonlocal nfev
            nfev += 1
            p = to_point(y)
            return -tangent_matrix(p, riemannian_gradient(manifold, p, loss)).ravel()

        y0 = ((point[0] * point[1]) @ point[2]).ravel()
        jac = None
    else:
        a, b = m * kk, m * kk + kk * kk

        def unpack(y):
            return y[:a].reshape(m, kk), y[a:b].reshape(kk, kk), y[b:].reshape(n, kk)

        def to_point(y):
            return _point_from_factors(*unpack(y))

        depth = manifold.depth

        def velocity(y):
            dU, dS, dV = _factor_velocity(*unpack(y), loss, depth)
            out = np.empty_like(y)
            out[:a], out[a:b], out[b:] = dU.ravel(), dS.ravel(), dV.ravel()
            return out

        def rhs(_t, y):
            nonlocal nfev
            nfev += 1
            return velocity(y)

        def fresh_jacobian(y):
            nonlocal nfev
            nfev += y.size + 1  # each column counts as one evaluation
            return _factor_jacobian(y, velocity(y), (m, kk), loss, depth)

        jac = _SavedJacobian(fresh_jacobian)

        u, s, vt = point
        y0 = np.concatenate((u.ravel(), np.diag(s).ravel(), vt.T.ravel()))

    loss0 = loss.value(point)
    times, losses, points, svals = [t[0]], [loss0], [point], [point[1].copy()]
    if not np.isfinite(loss0):
        message = f"divergence at t={t[0]:.6g}: the loss at the start is {loss0}"
        return _finish(times, losses, points, svals, mode, DIVERGED, message, nfev)
    limit = max_loss_ratio * max(abs(loss0), 1.0)
    # At depth 1 the factored coordinates move U, V with velocities (I - uu^T) G v / s,
    # computed with rounding errors of relative size eps * s_1 / s_k. Once that exceeds
    # rtol the step-size control shrinks the steps like rtol s_k / (eps s_1) (measured:
    # h = 0.7 rtol s_k / (eps s_1) for rtol from 1e-12 to 1e-6) and the cost per unit
    # time grows like 1/s_k: minutes instead of milliseconds. Stop at a hundred times
    # that point (about 2e3 evaluations per unit time), s_k / s_1 <= eps / (100 rtol).
    stiff_ratio = np.finfo(float).eps / (100.0 * rtol)
    resolve = formulation == "manifold" and manifold.depth == 1

    def value_at(tt, p):
        value = loss.value(p)
        if not abs(value) <= limit:
            raise Breakdown(DIVERGED, f"divergence at t={tt:.6g}: loss {value:.3g}")
        return value

    def after_step(tt, y):
        if jac is not None:
            jac.step_accepted()
        p = to_point(y)
        s = p[1]
        if not s[-1] > rank_tol * s[0]:
            raise Breakdown(
                RANK_LOST,
                f"loss of rank at t={tt:.6g}: s_min/s_max = {s[-1] / s[0]:.3g} "
                f"< rank_tol={rank_tol:g}",
            )
        if resolve and not s[-1] > stiff_ratio * s[0]:
            raise Breakdown(
                RANK_LOST,
                f"loss of rank at t={tt:.6g}: s_min/s_max = {s[-1] / s[0]:.3g} <= "
                f"eps / (100 rtol) = {stiff_ratio:.3g}: at depth 1 the factored coordinates "
                "compute their velocities to a relative accuracy eps s_max / s_min only, "
                "and from here the step size shrinks like s_min (formulation='dense' follows "
                "the matrix through the drop of rank)",
            )
        value_at(tt, p)

    def record(tt, y):
        p = to_point(y)
        value = value_at(tt, p)
        times.append(tt)
        losses.append(value)
        points.append(p)
        svals.append(p[1].copy())

    method = _choose_integrator(integrator, formulation, y0.size)

    guard = guarded(rhs, reject_trials=method == "DOP853")

    def make_solver():
        options = dict(rtol=rtol, atol=atol, first_step=first_step, max_step=max_step)
        if method == "LSODA" and formulation == "manifold":
            options["jac"] = guarded(jac)
        return _INTEGRATORS[method](guard, t[0], y0, t[-1], **options)

    status, message = SUCCESS, "The flow reached the end of t_eval."
    if t.size > 1:
        status, message = march(make_solver, t, record, after_step, trial_guard=guard)
    return _finish(times, losses, points, svals, mode, status, message, nfev)


# ---------------------------------------------------------------------- descent
def riemannian_gradient_descent(
    W0,
    loss,
    depth: int,
    step: float,
    n_steps: int,
    *,
    k: int | None = None,
    output: str = "auto",
    rank_tol: float = 1e-13,
    max_loss_ratio: float = 1e8,
) -> FlowResult:
    r"""Retraction-based Riemannian gradient descent on :math:`(\mathcal M_k, g)`.

    .. math::

        W_{t+1} = R_{W_t}\big(-\eta\, \mathcal A_{W_t}(P_{T} \nabla L(W_t))\big),

    with :math:`R` the metric-projection (truncated SVD) retraction of
    :meth:`FixedRankDeepLinear.retraction`. A first-order discretization of the flow of
    :func:`riemannian_gradient_flow` (Bah et al., arXiv:1910.05505; Nguegnang, Rauhut,
    Terstiege, arXiv:2108.02040 for descent on the layers).

    Parameters
    ----------
    W0 : ndarray, shape (m, n), or FixedRankPoint
        Start.
    loss : loss protocol object
        See :mod:`riemlin.losses`.
    depth : int
        Depth ``N >= 1``.
    step : float
        Step size :math:`\eta > 0`.
    n_steps : int
        Number of steps (``>= 0``).
    k : int, optional
        Rank; defaults to the numerical rank of a matrix ``W0`` or to ``len(s)``.
    output : {"auto", "matrix", "point"}
        Form of ``FlowResult.W``: dense matrices, or points ``(u, s, vt)``; ``"auto"``
        gives matrices when ``m * n <= 1e6``.
    rank_tol : float, default 1e-13
        The run stops with status ``-3`` when ``s_min / s_max`` falls below it.
    max_loss_ratio : float, default 1e8
        The run stops with status ``-2`` when the loss is not finite or
        ``|L(W)| > max_loss_ratio * max(|L(W0)|, 1)`` (checked after every step).

    Returns
    -------
    FlowResult
        ``t = step * (0, 1, ..., n_steps)`` (truncated if the run stops early);
        status ``-2`` on divergence (a non-finite gradient step, iterate or loss, or a
        start whose loss is not finite), ``-3`` when the iterate loses rank.

    Raises
    ------
    ValueError, TypeError
        For bad arguments, as in :func:`riemannian_gradient_flow`.
    """
    step = check_positive(step, "step")
    n_steps = check_int(n_steps, "n_steps", minimum=0)
    rank_tol = check_positive(rank_tol, "rank_tol")
    max_loss_ratio = check_positive(max_loss_ratio, "max_loss_ratio")
    manifold, point = _start(W0, loss, depth, k, rank_tol)
    mode = _output_mode(output, manifold.m, manifold.n)
    loss0 = loss.value(point)
    limit = max_loss_ratio * max(abs(loss0), 1.0)
    times, losses, points, svals = [0.0], [loss0], [point], [point[1].copy()]
    status, message, nfev = SUCCESS, f"{n_steps} steps done.", 0
    if not np.isfinite(loss0):
        status, message = DIVERGED, f"divergence at step 0: the loss at the start is {loss0}"
        n_steps = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i in range(1, n_steps + 1):
            grad = riemannian_gradient(manifold, point, loss)
            nfev += 1
            move = FixedRankTangentVector(*(-step * x for x in grad))
            if not all(np.all(np.isfinite(x)) for x in move):
                status, message = DIVERGED, f"divergence at step {i}: non-finite gradient step"
                break
            try:
                new = manifold.retraction(point, move)
            except ValueError as exc:
                status, message = RANK_LOST, f"loss of rank at step {i}: {exc}"
                break
            except np.linalg.LinAlgError as exc:
                status, message = DIVERGED, f"divergence at step {i}: {exc}"
                break
            s = new[1]
            if not all(np.all(np.isfinite(x)) for x in new):
                status, message = DIVERGED, f"divergence at step {i}: non-finite iterate"
                break
            if not s[-1] > rank_tol * s[0]:
                status = RANK_LOST
                message = f"loss of rank at step {i}: s_min/s_max = {s[-1] / s[0]:.3g}"
                break
            value = loss.value(new)
            if not abs(value) <= limit:
                status = DIVERGED
                message = f"divergence at step {i}: loss {value:.3g} (step too large?)"
                break
            point = new
            times.append(i * step)
            losses.append(value)
            points.append(point)
            svals.append(s.copy())
    return _finish(times, losses, points, svals, mode, status, message, nfev)
