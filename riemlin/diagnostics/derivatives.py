r"""Derivative checks that work for any pymanopt manifold.

pymanopt's ``check_gradient`` and ``check_hessian`` crash with NumPy >= 2.4 and always
draw a figure. These replacements return result objects and draw only when asked.

Taylor remainder test (Absil, Mahony, Sepulchre 2008, chapter 4; Boumal 2023, sections 4.8
and 6.8):
along a retraction curve :math:`c(t) = R_x(t\xi)`,

.. math::

    E_1(t) = |f(c(t)) - f(x) - t\, g_x(\operatorname{grad} f(x), \xi)| = O(t^2), \qquad
    E_2(t) = |E_1\text{-model} - \tfrac{t^2}{2} g_x(\operatorname{Hess} f(x)[\xi], \xi)|
           = O(t^3),

the second only when the retraction is second order for the metric (or at a critical
point). The slope of :math:`\log E` against :math:`\log t` is fitted on the window of
step sizes where the remainder is above round-off and most nearly linear; a correct
gradient gives 2, a correct Hessian 3. A check passes when the slope is at least the
expected one minus 0.1: a wrong derivative leaves an error one order lower (slope 1 or
2), while a higher slope only means the next Taylor term vanishes along the direction
(as at a critical point of an even function).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riemlin._validation import as_generator
from riemlin.geometry.manifold import FixedRankTangentVector

__all__ = [
    "SLOPE_TOLERANCE",
    "DerivativeCheck",
    "check_gradient",
    "check_hessian",
    "fit_slope",
    "loglog_slope",
    "draw_point",
    "draw_tangent",
    "tangent_residual",
    "is_fixed_rank",
    "claims_second_order",
]

#: A slope check passes at the expected slope minus this.
SLOPE_TOLERANCE = 0.1


def draw_point(manifold, gen):
    """A random point of any pymanopt manifold, from ``gen`` where the manifold takes one.

    Parameters
    ----------
    manifold : pymanopt.manifolds.manifold.Manifold
        Any pymanopt manifold (riemlin's or pymanopt's own).
    gen : numpy.random.Generator
        Source of randomness, passed as ``rng=gen`` to manifolds that accept it; pymanopt's
        own manifolds draw from numpy's global state instead.

    Returns
    -------
    object
        A point of ``manifold``, in its own representation.
    """
    try:
        return manifold.random_point(rng=gen)
    except TypeError:  # pymanopt manifolds draw from numpy's global state
        return manifold.random_point()


def draw_tangent(manifold, x, gen):
    """A random tangent vector at ``x``, from ``gen`` where the manifold takes one.

    Parameters
    ----------
    manifold : pymanopt.manifolds.manifold.Manifold
        Any pymanopt manifold (riemlin's or pymanopt's own).
    x : object
        A point of ``manifold``.
    gen : numpy.random.Generator
        Source of randomness (see :func:`draw_point`).

    Returns
    -------
    object
        A tangent vector at ``x``, in the manifold's representation.
    """
    try:
        return manifold.random_tangent_vector(x, rng=gen)
    except TypeError:
        return manifold.random_tangent_vector(x)


def loglog_slope(x, y) -> tuple[float, float]:
    """Least-squares slope of ``log10 y`` against ``log10 x``, and the residual sum of squares.

    Parameters
    ----------
    x, y : array_like
        Positive values, at least two.

    Returns
    -------
    slope : float
        The fitted exponent ``p`` of ``y ~ C x^p``.
    residual : float
        Sum of squared residuals of the fit in ``log10`` units (0 for two points).
    """
    coef, res, *_ = np.polyfit(np.log10(x), np.log10(y), 1, full=True)
    return float(coef[0]), float(res[0]) if len(res) else 0.0


def fit_slope(steps, remainders, floor: float, window: int = 6):
    """Slope of ``log remainder`` vs ``log step`` on the most linear window above ``floor``.

    Among all runs of ``window`` consecutive steps whose remainders all exceed ``floor``,
    the one with the smallest least-squares residual of a line in log-log coordinates is
    used.

    Parameters
    ----------
    steps : array_like, shape (T,)
        Positive step sizes, monotone.
    remainders : array_like, shape (T,)
        Taylor remainders at the steps.
    floor : float
        Round-off level: remainders at or below it are not used.
    window : int, default 6
        Number of consecutive steps a fit uses.

    Returns
    -------
    slope : float
        The fitted slope, ``nan`` when fewer than ``window`` consecutive remainders are
        above the floor.
    window : tuple of int or None
        Indices ``(start, stop)`` of the fitted window, ``None`` when no fit was possible.
    """
    steps = np.asarray(steps, dtype=float)
    rem = np.asarray(remainders, dtype=float)
    ok = rem > floor
    best = (np.inf, np.nan, None)
    for i in range(len(steps) - window + 1):
        if not ok[i : i + window].all():
            continue
        slope, resid = loglog_slope(steps[i : i + window], rem[i : i + window])
        if resid < best[0]:
            best = (resid, slope, (i, i + window))
    return best[1], best[2]


@dataclass
class DerivativeCheck:
    """Result of :func:`check_gradient` or :func:`check_hessian`.

    Attributes
    ----------
    kind : str
        ``"gradient"`` or ``"hessian"``.
    steps, remainders : ndarray
        Step sizes and Taylor remainders.
    slope, expected_slope : float
        Fitted and expected log-log slope (``nan`` when no slope could be fitted).
    window : tuple or None
        Indices ``(start, stop)`` of the fitted window.
    passed : bool
        Whether every check passed.
    message : str
        What was found, in words.
    tangent_residual : float or None
        Norm of the part of the gradient (or Hessian image) off the tangent space.
    symmetry_error : float or None
        ``|g(H a, b) - g(a, H b)| / (|H a| |b|)`` (Hessian checks).
    """

    kind: str
    steps: np.ndarray
    remainders: np.ndarray
    slope: float
    expected_slope: float
    window: tuple | None
    passed: bool
    message: str
    tangent_residual: float | None = None
    symmetry_error: float | None = None

    def plot(self, ax=None):
        """Log-log plot of the remainders with the fitted window and the expected slope.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw into; a new figure is made when ``None``.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn into.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        ax.loglog(self.steps, np.maximum(self.remainders, 1e-300), ".-", label="remainder")
        if self.window is not None:
            i, j = self.window
            ax.loglog(self.steps[i:j], self.remainders[i:j], "o", label=f"fit: {self.slope:.2f}")
            ref = self.remainders[i] * (self.steps / self.steps[i]) ** self.expected_slope
            ax.loglog(self.steps, ref, "k--", label=f"slope {self.expected_slope:g}")
        ax.set_xlabel("t")
        ax.set_ylabel("Taylor remainder")
        ax.set_title(f"{self.kind} check")
        ax.legend()
        return ax


def tangent_residual(manifold, x, v):
    r"""The norm of the part of ``v`` off the tangent space at ``x`` (``None`` if unknown).

    Parameters
    ----------
    manifold : pymanopt.manifolds.manifold.Manifold
        Any pymanopt manifold (riemlin's or pymanopt's own).
    x : object
        A point of ``manifold``.
    v : object
        A vector in the manifold's tangent representation, e.g. a computed gradient.

    Returns
    -------
    float or None
        :math:`\|v - P_x v\|` in the manifold's norm, with :math:`P_x` its
        ``to_tangent_space``; ``None`` when the manifold does not implement that.
    """
    try:
        return float(manifold.norm(x, v - manifold.to_tangent_space(x, v)))
    except NotImplementedError:
        return None


def _remainders(problem, x, d, model):
    manifold = problem.manifold
    steps = np.logspace(-8, 0, 41)
    f0 = problem.cost(x)
    try:
        rem = np.array([abs(problem.cost(manifold.retraction(x, t * d)) - model(t)) for t in steps])
    except ValueError as exc:  # e.g. a step t * d that leaves the manifold
        raise ValueError(
            f"point and direction: the retraction along direction fails for steps up to 1 "
            f"({exc}); scale direction down"
        ) from None
    floor = 1e3 * np.finfo(float).eps * max(abs(f0), 1e-300)
    return steps, rem, floor


def _judge(kind, steps, rem, floor, expected, extra_ok=True, extra_msg=""):
    slope, window = fit_slope(steps, rem, floor)
    if np.all(rem <= floor):
        passed = extra_ok
        msg = f"the {kind} model is exact to round-off at every step"
    elif window is None:
        passed = False
        msg = (
            f"no range of steps where the remainder is above round-off and linear in log-log; "
            f"the {kind} is probably wrong"
        )
    else:
        good = slope > expected - SLOPE_TOLERANCE
        passed = good and extra_ok
        if good:
            msg = (
                f"slope {slope:.3f}, expected {expected:g}: the {kind} is consistent with the cost"
            )
            if slope > expected + SLOPE_TOLERANCE:
                msg += " (the next Taylor term vanishes along this direction)"
        else:
            lower = "1" if expected == 2 else "2"
            msg = (
                f"slope {slope:.3f}, expected {expected:g}: the {kind} does not match the cost "
                f"(a slope near {lower} means the {kind} is wrong, e.g. off by a factor, missing "
                "the metric, or not tangent)"
            )
    return slope, window, passed, msg + extra_msg


def _start(problem, point, direction, rng):
    """The manifold, the generator, and the point and direction of a derivative check."""
    import pymanopt

    if not isinstance(problem, pymanopt.Problem):
        raise TypeError(f"problem must be a pymanopt.Problem; got {type(problem).__name__}")
    manifold = problem.manifold
    gen = as_generator(rng)
    if direction is not None and point is None:
        raise ValueError("direction is tangent at a point: give point as well")
    x = draw_point(manifold, gen) if point is None else point
    d = draw_tangent(manifold, x, gen) if direction is None else direction
    if direction is not None:
        if isinstance(d, (tuple, list)) and not hasattr(d, "_fields") and is_fixed_rank(manifold):
            d = FixedRankTangentVector(*d) if len(d) == 3 else d  # a plain (Up, M, Vp)
        try:
            norm = manifold.norm(x, d)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"point or direction: {exc}") from None
        if not (np.isfinite(norm) and norm > 0):
            raise ValueError(
                f"direction must be a nonzero finite tangent vector at point; its norm there "
                f"is {norm}: along a zero direction every Taylor remainder is zero and the "
                "check proves nothing"
            )
    return manifold, gen, x, d


def check_gradient(problem, point=None, direction=None, rng=None) -> DerivativeCheck:
    r"""Check ``problem.riemannian_gradient`` against ``problem.cost``.

    Fits the slope of :math:`|f(R_x(t\xi)) - f(x) - t\,g(\operatorname{grad} f, \xi)|`,
    which is 2 for a correct gradient with any retraction.

    Parameters
    ----------
    problem : pymanopt.Problem
        Any pymanopt problem.
    point : object, optional
        Where to check, a point of ``problem.manifold``; random (from ``rng``) otherwise.
    direction : object, optional
        Along which tangent vector at ``point`` to check (needs ``point``); random
        otherwise. A plain triple ``(Up, M, Vp)`` is accepted on fixed-rank manifolds.
    rng : None, int or Generator
        Randomness for the point and direction (riemlin manifolds; pymanopt's own
        manifolds use numpy's global state).

    Returns
    -------
    DerivativeCheck
        The steps, remainders, fitted slope (expected 2), whether the check passed and
        why, and the tangent residual of the gradient.

    Raises
    ------
    TypeError
        If ``problem`` is not a ``pymanopt.Problem``.
    ValueError
        If ``direction`` is given without ``point``, or is zero or not finite.
    """
    manifold, gen, x, d = _start(problem, point, direction, rng)
    grad = problem.riemannian_gradient(x)
    f0 = problem.cost(x)
    df = manifold.inner_product(x, grad, d)
    steps, rem, floor = _remainders(problem, x, d, lambda t: f0 + t * df)
    residual = tangent_residual(manifold, x, grad)
    scale = max(manifold.norm(x, grad), 1e-300)
    tangent_ok = residual is None or residual <= 1e-8 * scale
    extra = "" if tangent_ok else f"; the gradient is not tangent (residual {residual:.2e})"
    slope, window, passed, msg = _judge("gradient", steps, rem, floor, 2.0, tangent_ok, extra)
    return DerivativeCheck("gradient", steps, rem, slope, 2.0, window, passed, msg, residual)


def check_hessian(
    problem, point=None, direction=None, rng=None, *, second_order_retraction=None
) -> DerivativeCheck:
    r"""Check ``problem.riemannian_hessian`` against the cost and the gradient.

    Always checks that the Hessian is linear, tangent and self-adjoint for the metric
    (:math:`g(H a, b) = g(a, H b)`). The Taylor slope 3 is checked only where it is
    meaningful: the retraction is second order for the metric, or ``point`` is a
    critical point. :class:`riemlin.FixedRankDeepLinear` with ``depth > 1`` and its
    default ``retraction="svd"`` has a retraction that is second order only for the
    embedded metric, so at a non-critical point only the symmetry checks apply
    (``expected_slope`` is then ``nan``); with ``retraction="second_order"`` the slope
    is checked.

    Parameters
    ----------
    problem : pymanopt.Problem
        A problem with a Riemannian Hessian.
    point : object, optional
        Where to check, as in :func:`check_gradient`.
    direction : object, optional
        Along which tangent vector to check, as in :func:`check_gradient`.
    rng : None, int or Generator
        Randomness for the point, the direction and the two random vectors of the
        symmetry check.
    second_order_retraction : bool, optional
        Whether the retraction is second order for the metric. Default: ``True`` only for
        ``FixedRankDeepLinear`` whose ``second_order_retraction`` is true (``depth=1`` or
        ``retraction="second_order"``) and the metric projections of
        ``FixedRankEmbedded`` and ``Sphere``, as in :func:`check_manifold`.

    Returns
    -------
    DerivativeCheck
        The steps, remainders, fitted slope (expected 3, or ``nan`` when the slope is
        not meaningful), whether the checks passed and why, the tangent residual and
        the symmetry error.

    Raises
    ------
    TypeError, ValueError
        As in :func:`check_gradient`.
    """
    manifold, gen, x, d = _start(problem, point, direction, rng)
    if second_order_retraction is None:
        second_order_retraction = claims_second_order(manifold)
    grad = problem.riemannian_gradient(x)
    hess_d = problem.riemannian_hessian(x, d)
    a, b = draw_tangent(manifold, x, gen), draw_tangent(manifold, x, gen)
    ha, hb = problem.riemannian_hessian(x, a), problem.riemannian_hessian(x, b)
    scale = max(manifold.norm(x, ha) * manifold.norm(x, b), 1e-300)
    symmetry = abs(manifold.inner_product(x, ha, b) - manifold.inner_product(x, a, hb)) / scale
    lin = problem.riemannian_hessian(x, 2.0 * a - 3.0 * b) - (2.0 * ha - 3.0 * hb)
    linearity = manifold.norm(x, lin) / max(manifold.norm(x, ha) + manifold.norm(x, hb), 1e-300)
    residual = tangent_residual(manifold, x, hess_d)
    hscale = max(manifold.norm(x, hess_d), 1e-300)
    structure_ok = symmetry < 1e-8 and linearity < 1e-8
    structure_ok = structure_ok and (residual is None or residual <= 1e-8 * hscale)
    extra = f"; symmetry error {symmetry:.2e}, linearity error {linearity:.2e}" + (
        "" if residual is None else f", tangent residual {residual:.2e}"
    )
    f0 = problem.cost(x)
    df = manifold.inner_product(x, grad, d)
    d2f = manifold.inner_product(x, hess_d, d)
    steps, rem, floor = _remainders(problem, x, d, lambda t: f0 + t * df + 0.5 * t * t * d2f)
    critical = manifold.norm(x, grad) <= 1e-8 * max(abs(f0), 1.0)
    if second_order_retraction or critical:
        slope, window, passed, msg = _judge("hessian", steps, rem, floor, 3.0, structure_ok, extra)
        expected = 3.0
    else:
        slope, window = fit_slope(steps, rem, floor)
        expected = float("nan")
        passed = structure_ok
        msg = (
            "the retraction is not second order for this metric and the point is not "
            "critical, so only symmetry, linearity and tangency were checked" + extra
        )
    if not structure_ok:
        msg = "the Hessian is not a symmetric linear map into the tangent space" + extra
    return DerivativeCheck(
        "hessian", steps, rem, slope, expected, window, passed, msg, residual, symmetry
    )


def is_fixed_rank(manifold) -> bool:
    """Whether ``manifold`` is riemlin's or pymanopt's manifold of fixed-rank matrices.

    Parameters
    ----------
    manifold : pymanopt.manifolds.manifold.Manifold
        Any pymanopt manifold (riemlin's or pymanopt's own).

    Returns
    -------
    bool
        ``True`` for :class:`riemlin.FixedRankDeepLinear` and pymanopt's
        ``FixedRankEmbedded``.
    """
    from pymanopt.manifolds import FixedRankEmbedded

    from riemlin.geometry.manifold import FixedRankDeepLinear

    return isinstance(manifold, (FixedRankDeepLinear, FixedRankEmbedded))


def claims_second_order(manifold) -> bool:
    """Retractions known to be second order for the manifold's own metric.

    Parameters
    ----------
    manifold : pymanopt.manifolds.manifold.Manifold
        Any pymanopt manifold (riemlin's or pymanopt's own).

    Returns
    -------
    bool
        ``True`` for a :class:`riemlin.FixedRankDeepLinear` whose
        ``second_order_retraction`` is true, and for pymanopt's ``FixedRankEmbedded`` and
        ``Sphere`` (metric projections); ``False`` otherwise.
    """
    from pymanopt.manifolds import FixedRankEmbedded, Sphere

    from riemlin.geometry.manifold import FixedRankDeepLinear

    if isinstance(manifold, FixedRankDeepLinear):
        return manifold.second_order_retraction
    return isinstance(manifold, (FixedRankEmbedded, Sphere))  # metric projections
