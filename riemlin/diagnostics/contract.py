r"""The contract of a pymanopt manifold, checked on random points: :func:`check_manifold`.

Each check reports its figure and the tolerance it is held to; the derivative identity
goes through the Taylor test of :mod:`riemlin.diagnostics.derivatives`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from riemlin._validation import as_generator
from riemlin.diagnostics.derivatives import (
    SLOPE_TOLERANCE,
    check_gradient,
    claims_second_order,
    draw_point,
    draw_tangent,
    fit_slope,
    tangent_residual,
)

__all__ = ["ManifoldCheck", "ManifoldReport", "check_manifold"]


@dataclass
class ManifoldCheck:
    """One line of a :class:`ManifoldReport`.

    Attributes
    ----------
    name : str
        What was checked, e.g. ``"projection idempotent"``.
    value : float
        The measured figure (a relative error, or a fitted slope).
    tolerance : float
        The bound ``value`` is held to.
    passed : bool
        Whether ``value`` is within ``tolerance``.
    note : str
        Extra context (empty by default).
    """

    name: str
    value: float
    tolerance: float
    passed: bool
    note: str = ""


@dataclass
class ManifoldReport:
    """Result of :func:`check_manifold`: each check with its figure and tolerance.

    ``report[name]`` gives the check called ``name``; ``str(report)`` is a table.

    Attributes
    ----------
    manifold : str
        Description of the manifold checked (its ``str``).
    checks : list of ManifoldCheck
        The checks, in the order they ran.
    """

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
        Randomness for the points, vectors and test cost (riemlin manifolds; pymanopt's
        own manifolds draw points from numpy's global state).
    second_order_retraction : bool, optional
        Whether to check second order. Default: ``FixedRankDeepLinear`` with
        ``second_order_retraction`` true, and the metric projections of
        ``FixedRankEmbedded`` and ``Sphere``.

    Returns
    -------
    ManifoldReport
        Every check with its figure and tolerance; ``report.passed`` is true when all
        passed.

    Raises
    ------
    TypeError
        If ``rng`` is not None, an int seed, a SeedSequence or a Generator.
    ValueError
        If ``rng`` is a negative seed.
    """
    gen = as_generator(rng)
    report = ManifoldReport(str(manifold))
    add = report.checks.append
    x = draw_point(manifold, gen)
    y = draw_point(manifold, gen)
    xi = draw_tangent(manifold, x, gen)
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
    ok = exact or slope >= 2 - SLOPE_TOLERANCE
    add(
        ManifoldCheck(
            "retraction first order (slope >= 2)",
            2.0 if exact else slope,
            SLOPE_TOLERANCE,
            ok,
            "exact" if exact else "",
        )
    )

    if second_order_retraction is None:
        second_order_retraction = claims_second_order(manifold)
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
        ok2 = exact2 or slope2 >= 3 - SLOPE_TOLERANCE
        note = "tangential part of the remainder"
        value = 3.0 if exact2 else slope2
        add(
            ManifoldCheck("retraction second order (slope >= 3)", value, SLOPE_TOLERANCE, ok2, note)
        )

    # inner product symmetric positive definite: on at most dim vectors (more are
    # linearly dependent, and their Gram matrix is singular whatever the metric)
    vecs = [draw_tangent(manifold, x, gen) for _ in range(max(1, min(5, int(manifold.dim))))]
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
    res = tangent_residual(manifold, y, moved)
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
            SLOPE_TOLERANCE,
            grad_check.passed,
            grad_check.message,
        )
    )
    return report
