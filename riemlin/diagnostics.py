r"""Derivative checks and a manifold contract that work for any pymanopt manifold.

pymanopt's ``check_gradient`` and ``check_hessian`` crash with NumPy >= 2.4 and always
draw a figure. These replacements return result objects and draw only when asked.

Taylor remainder test (Absil, Mahony, Sepulchre 2008, Sec. 4; Boumal 2023, Sec. 4.8):
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

from dataclasses import dataclass, field

import numpy as np

from riemlin._validation import as_generator
from riemlin.manifold import FixedRankTangentVector

__all__ = [
    "DerivativeCheck",
    "ManifoldCheck",
    "ManifoldReport",
    "check_gradient",
    "check_hessian",
    "check_manifold",
    "fit_slope",
]

_SLOPE_TOL = 0.1


def _random_point(manifold, gen):
    try:
        return manifold.random_point(rng=gen)
    except TypeError:  # pymanopt manifolds draw from numpy's global state
        return manifold.random_point()


def _random_tangent(manifold, x, gen):
    try:
        return manifold.random_tangent_vector(x, rng=gen)
    except TypeError:
        return manifold.random_tangent_vector(x)


def fit_slope(steps, remainders, floor: float, window: int = 6):
    """Slope of ``log remainder`` vs ``log step`` on the most linear window above ``floor``.

    Returns ``(slope, (start, stop))`` or ``(nan, None)`` when fewer than ``window``
    consecutive remainders are above the floor.
    """
    steps = np.asarray(steps, dtype=float)
    rem = np.asarray(remainders, dtype=float)
    ok = rem > floor
    best = (np.inf, np.nan, None)
    for i in range(len(steps) - window + 1):
        if not ok[i : i + window].all():
            continue
        x, y = np.log10(steps[i : i + window]), np.log10(rem[i : i + window])
        coef, res, *_ = np.polyfit(x, y, 1, full=True)
        resid = float(res[0]) if len(res) else 0.0
        if resid < best[0]:
            best = (resid, float(coef[0]), (i, i + window))
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
        """Log-log plot of the remainders with the fitted window and the expected slope."""
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


def _tangent_residual(manifold, x, v):
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
        good = slope > expected - _SLOPE_TOL
        passed = good and extra_ok
        if good:
            msg = (
                f"slope {slope:.3f}, expected {expected:g}: the {kind} is consistent with the cost"
            )
            if slope > expected + _SLOPE_TOL:
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
    x = _random_point(manifold, gen) if point is None else point
    d = _random_tangent(manifold, x, gen) if direction is None else direction
    if direction is not None:
        if isinstance(d, (tuple, list)) and not hasattr(d, "_fields") and _fixed_rank(manifold):
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
    point, direction : optional
        Where and along which tangent vector to check; random (from ``rng``) otherwise.
    rng : None, int or Generator
        Randomness for the point and direction (riemlin manifolds; pymanopt's own
        manifolds use numpy's global state).

    Returns
    -------
    DerivativeCheck

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
    residual = _tangent_residual(manifold, x, grad)
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
    point, direction, rng
        As in :func:`check_gradient`.
    second_order_retraction : bool, optional
        Whether the retraction is second order for the metric. Default: ``True`` only for
        ``FixedRankDeepLinear`` whose ``second_order_retraction`` is true (``depth=1`` or
        ``retraction="second_order"``) and the metric projections of
        ``FixedRankEmbedded`` and ``Sphere``, as in :func:`check_manifold`.

    Returns
    -------
    DerivativeCheck

    Raises
    ------
    TypeError, ValueError
        As in :func:`check_gradient`.
    """
    manifold, gen, x, d = _start(problem, point, direction, rng)
    if second_order_retraction is None:
        second_order_retraction = _claims_second_order(manifold)
    grad = problem.riemannian_gradient(x)
    hess_d = problem.riemannian_hessian(x, d)
    a, b = _random_tangent(manifold, x, gen), _random_tangent(manifold, x, gen)
    ha, hb = problem.riemannian_hessian(x, a), problem.riemannian_hessian(x, b)
    scale = max(manifold.norm(x, ha) * manifold.norm(x, b), 1e-300)
    symmetry = abs(manifold.inner_product(x, ha, b) - manifold.inner_product(x, a, hb)) / scale
    lin = problem.riemannian_hessian(x, 2.0 * a - 3.0 * b) - (2.0 * ha - 3.0 * hb)
    linearity = manifold.norm(x, lin) / max(manifold.norm(x, ha) + manifold.norm(x, hb), 1e-300)
    residual = _tangent_residual(manifold, x, hess_d)
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


# ------------------------------------------------------------------ the contract
@dataclass
class ManifoldCheck:
    """One line of a :class:`ManifoldReport`."""

    name: str
    value: float
    tolerance: float
    passed: bool
    note: str = ""


@dataclass
class ManifoldReport:
    """Result of :func:`check_manifold`: each check with its figure and tolerance."""

    manifold: str
    checks: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(c.passed for c in self.checks)

    def __getitem__(self, name: str) -> ManifoldCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def __str__(self) -> str:
        lines = [f"contract of {self.manifold}: {'PASS' if self.passed else 'FAIL'}"]
        for c in self.checks:
            mark = "ok  " if c.passed else "FAIL"
            lines.append(f"  {mark} {c.name:<34} {c.value:10.3e} (tol {c.tolerance:.1e}) {c.note}")
        return "\n".join(lines)


def _ambient(manifold, x, v=None):
    """Dense ambient array of a point (``v is None``) or of a tangent vector at ``x``."""
    if v is None:
        if isinstance(x, (tuple, list)) and len(x) == 3:
            u, s, vt = x
            return (u * s) @ vt
        return np.asarray(x, dtype=float)
    if hasattr(manifold, "tangent_to_matrix"):
        return manifold.tangent_to_matrix(x, v)
    emb = manifold.embedding(x, v)
    if isinstance(emb, (tuple, list)) and len(emb) == 3:
        U, S, V = emb
        return U @ S @ V.T
    return np.asarray(emb, dtype=float)


def _test_problem(manifold, x, gen):
    """A smooth non-quadratic cost on the ambient matrix, with its Riemannian gradient."""
    import pymanopt

    X = _ambient(manifold, x)
    B = gen.standard_normal(X.shape)

    def F(A):
        return 0.5 * np.sum((A - B) ** 2) + 0.25 * np.sum(A**4)

    def G(A):
        return A - B + A**3

    @pymanopt.function.numpy(manifold)
    def cost(*args):
        return F(_ambient(manifold, args if len(args) > 1 else args[0]))

    if hasattr(manifold, "riemannian_gradient_from_matrix"):

        @pymanopt.function.numpy(manifold)
        def rgrad(*args):
            pt = args if len(args) > 1 else args[0]
            return manifold.riemannian_gradient_from_matrix(pt, G(_ambient(manifold, pt)))

        return pymanopt.Problem(manifold, cost, riemannian_gradient=rgrad)
    if isinstance(x, (tuple, list)):  # e.g. FixedRankEmbedded: its gradient is a projection

        @pymanopt.function.numpy(manifold)
        def rgrad3(*args):
            return manifold.projection(args, G(_ambient(manifold, args)))

        return pymanopt.Problem(manifold, cost, riemannian_gradient=rgrad3)

    @pymanopt.function.numpy(manifold)
    def egrad(A):
        return G(np.asarray(A, dtype=float))

    return pymanopt.Problem(manifold, cost, euclidean_gradient=egrad)


def _fixed_rank(manifold) -> bool:
    from pymanopt.manifolds import FixedRankEmbedded

    from riemlin.manifold import FixedRankDeepLinear

    return isinstance(manifold, (FixedRankDeepLinear, FixedRankEmbedded))


def _claims_second_order(manifold) -> bool:
    """Retractions known to be second order for the manifold's own metric."""
    from pymanopt.manifolds import FixedRankEmbedded, Sphere

    from riemlin.manifold import FixedRankDeepLinear

    if isinstance(manifold, FixedRankDeepLinear):
        return manifold.second_order_retraction
    return isinstance(manifold, (FixedRankEmbedded, Sphere))  # metric projections


def check_manifold(manifold, rng=None, *, second_order_retraction=None) -> ManifoldReport:
    """Run the contract of a pymanopt manifold (possibly with a non-Euclidean metric).

    Checks: projection idempotent; retraction first order (``R_x(t xi) - x - t xi =
    O(t^2)`` in the embedding); inner product symmetric and positive definite (on
    ``min(5, dim)`` random vectors, so manifolds of dimension 1 and 2 are covered);
    ``metric_operator`` and its inverse consistent with each other and with the Frobenius
    product (where defined); transport lands in the tangent space;
    ``random_tangent_vector`` has unit norm; ``zero_vector`` is zero; and the gradient
    identity ``g(grad f, xi) = Df[xi]`` through :func:`check_gradient` for a smooth test
    cost. Where the retraction is claimed to be second order for the manifold's metric,
    that is checked too: the tangential part of ``R_x(t xi) - x - t xi + t^2/2 C(xi, xi)``
    is ``O(t^3)``, with ``C`` the manifold's ``connection_difference`` (zero for embedded
    metrics).

    Parameters
    ----------
    manifold : pymanopt.manifolds.manifold.Manifold
        The manifold; points and tangent vectors must have dense ambient forms (arrays,
        or ``(u, s, vt)`` points with ``tangent_to_matrix`` or low-rank ``embedding``
        triples as for fixed-rank matrices).
    rng : None, int or Generator
    second_order_retraction : bool, optional
        Whether to check second order. Default: ``FixedRankDeepLinear`` with
        ``second_order_retraction`` true, and the metric projections of
        ``FixedRankEmbedded`` and ``Sphere``.

    Returns
    -------
    ManifoldReport
    """
    gen = as_generator(rng)
    report = ManifoldReport(str(manifold))
    add = report.checks.append
    x = _random_point(manifold, gen)
    y = _random_point(manifold, gen)
    xi = _random_tangent(manifold, x, gen)
    X = _ambient(manifold, x)

    # projection idempotent
    Z = gen.standard_normal(X.shape)
    P1 = manifold.projection(x, Z)
    P2 = manifold.projection(x, _ambient(manifold, x, P1))
    err = np.linalg.norm(_ambient(manifold, x, P2 - P1)) / np.linalg.norm(_ambient(manifold, x, P1))
    add(ManifoldCheck("projection idempotent", err, 1e-10, err < 1e-10))

    # retraction first order
    Xi = _ambient(manifold, x, xi)
    steps = np.logspace(-5, -1, 9)
    rem = np.array(
        [
            np.linalg.norm(_ambient(manifold, manifold.retraction(x, t * xi)) - X - t * Xi)
            for t in steps
        ]
    )
    floor = 1e3 * np.finfo(float).eps * np.linalg.norm(X)
    slope, _ = fit_slope(steps, rem, floor, window=5)
    exact = bool(np.all(rem <= floor))
    ok = exact or slope >= 2 - _SLOPE_TOL
    add(
        ManifoldCheck(
            "retraction first order (slope >= 2)",
            2.0 if exact else slope,
            _SLOPE_TOL,
            ok,
            "exact" if exact else "",
        )
    )

    if second_order_retraction is None:
        second_order_retraction = _claims_second_order(manifold)
    if second_order_retraction:
        # second order for the manifold's metric: the tangential acceleration of
        # t -> R_x(t xi) is -C(xi, xi), C the difference between the metric's connection
        # and the embedded one (zero for embedded metrics)
        accel = np.zeros_like(X)
        if hasattr(manifold, "connection_difference"):
            accel = -_ambient(manifold, x, manifold.connection_difference(x, xi, xi))
        tang = []
        for t in steps:
            D = (
                _ambient(manifold, manifold.retraction(x, t * xi))
                - X
                - t * Xi
                - 0.5 * t * t * accel
            )
            tang.append(np.linalg.norm(_ambient(manifold, x, manifold.projection(x, D))))
        tang = np.array(tang)
        slope2, _ = fit_slope(steps, tang, floor, window=5)
        exact2 = bool(np.all(tang <= floor))
        ok2 = exact2 or slope2 >= 3 - _SLOPE_TOL
        note = "tangential part of the remainder"
        value = 3.0 if exact2 else slope2
        add(ManifoldCheck("retraction second order (slope >= 3)", value, _SLOPE_TOL, ok2, note))

    # inner product symmetric positive definite: on at most dim vectors (more are
    # linearly dependent, and their Gram matrix is singular whatever the metric)
    vecs = [_random_tangent(manifold, x, gen) for _ in range(max(1, min(5, int(manifold.dim))))]
    gram = np.array([[manifold.inner_product(x, a, b) for b in vecs] for a in vecs])
    asym = np.abs(gram - gram.T).max() / np.abs(gram).max()
    add(ManifoldCheck("inner product symmetric", asym, 1e-12, asym < 1e-12))
    lam = np.linalg.eigvalsh(0.5 * (gram + gram.T)).min() / np.abs(gram).max()
    add(
        ManifoldCheck(
            "inner product positive definite",
            lam,
            0.0,
            lam > 0,
            "smallest Gram eigenvalue / largest entry",
        )
    )

    # metric operator
    if hasattr(manifold, "metric_operator"):
        back = manifold.metric_operator_inverse(x, manifold.metric_operator(x, xi))
        err = manifold.norm(x, back - xi) / manifold.norm(x, xi)
        add(ManifoldCheck("metric_operator inverse", err, 1e-12, err < 1e-12))
        eta = vecs[0]
        lhs = manifold.inner_product(x, manifold.metric_operator(x, xi), eta)
        rhs = float(np.sum(Xi * _ambient(manifold, x, eta)))
        err = abs(lhs - rhs) / max(
            abs(rhs), np.linalg.norm(Xi) * np.linalg.norm(_ambient(manifold, x, eta))
        )
        add(ManifoldCheck("g(A xi, eta) = <xi, eta>_F", err, 1e-10, err < 1e-10))

    # transport lands in the tangent space
    moved = manifold.transport(x, y, xi)
    res = _tangent_residual(manifold, y, moved)
    if res is not None:
        rel = res / max(manifold.norm(y, moved), 1e-300)
        add(ManifoldCheck("transport is tangent", rel, 1e-10, rel < 1e-10))

    # unit random tangent vectors, zero vector
    err = abs(manifold.norm(x, xi) - 1.0)
    add(ManifoldCheck("random_tangent_vector unit norm", err, 1e-12, err < 1e-12))
    z = manifold.norm(x, manifold.zero_vector(x))
    add(ManifoldCheck("zero_vector is zero", z, 0.0, z == 0.0))

    # gradient identity, through the Taylor test
    grad_check = check_gradient(_test_problem(manifold, x, gen), x, xi)
    add(
        ManifoldCheck(
            "gradient identity (Taylor slope 2)",
            grad_check.slope,
            _SLOPE_TOL,
            grad_check.passed,
            grad_check.message,
        )
    )
    return report
