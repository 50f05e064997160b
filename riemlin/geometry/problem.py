r"""pymanopt problems from costs written on the matrix ``W``: :func:`matrix_problem`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pymanopt

from riemlin.geometry.ambient import ambient_shape
from riemlin.geometry.manifold import FixedRankDeepLinear, FixedRankPoint, FixedRankTangentVector
from riemlin.geometry.tangent import tangent_low_rank

__all__ = ["matrix_problem", "record_gradient_norms"]


def matrix_problem(
    manifold: FixedRankDeepLinear,
    cost: Callable | None = None,
    gradient: Callable | None = None,
    hessian_vector_product: Callable | None = None,
    *,
    point_arguments: bool = False,
) -> pymanopt.Problem:
    r"""A ``pymanopt.Problem`` on :math:`\mathcal M_k` from a cost written on the matrix ``W``.

    The problem carries the Riemannian gradient :math:`\mathcal A_W(P_T\nabla f)`
    (:meth:`~riemlin.FixedRankDeepLinear.riemannian_gradient_from_matrix`) and, when a
    Hessian-vector product is available, the exact Riemannian Hessian under the
    deep-linear metric (:meth:`~riemlin.FixedRankDeepLinear.riemannian_hessian_from_matrix`),
    so every pymanopt optimizer runs on it, ``TrustRegions`` included. Unlike a cost on
    ``(u, s, vt)`` converted by pymanopt's ``FixedRankEmbedded``, nothing divides by
    :math:`s_i^2 - s_j^2`, so the derivatives stay accurate when singular values nearly
    coincide.

    Parameters
    ----------
    manifold : FixedRankDeepLinear
        The manifold.
    cost : callable
        ``cost(W) -> float`` on the dense ``m x n`` matrix (or on the point
        ``(u, s, vt)`` if ``point_arguments``). Required: line searches need it.
    gradient : callable, optional
        ``gradient(W) -> G``, the Euclidean gradient as a dense array, a
        ``scipy.sparse`` matrix or a low-rank triple ``(U, S, V)``. If omitted, autograd
        differentiates ``cost`` (which must then be written with ``autograd.numpy`` and
        take the dense matrix).
    hessian_vector_product : callable, optional
        ``hessian_vector_product(W, Xi) -> D(grad f)(W)[Xi]`` in the same formats as
        ``gradient``. ``Xi`` is the dense ambient matrix of the tangent vector, or its
        low-rank triple ``(U, S, V)`` (``U @ S @ V.T``, rank ``2k``) if
        ``point_arguments``. If omitted and ``gradient`` is omitted too, autograd
        provides it; if omitted while ``gradient`` is given, the problem has no Hessian
        and second-order solvers raise an error saying so.
    point_arguments : bool, default False
        Pass the point ``(u, s, vt)`` (and low-rank directions) to the callables
        instead of dense matrices, for problems too large to densify (e.g. matrix
        completion with a sparse gradient).

    Returns
    -------
    pymanopt.Problem
        With ``cost``, ``riemannian_gradient`` and (when available)
        ``riemannian_hessian`` set.

    Raises
    ------
    TypeError
        If ``manifold`` is not a :class:`~riemlin.FixedRankDeepLinear` or a given
        callable is not callable.
    ValueError
        If ``cost`` is missing, if autograd is asked for with ``point_arguments``, or
        (at call time) if ``gradient``/``hessian_vector_product`` return the wrong
        shape.

    Examples
    --------
    >>> import numpy as np, autograd.numpy as anp, pymanopt
    >>> from riemlin import FixedRankDeepLinear, matrix_problem
    >>> B = np.arange(12.0).reshape(4, 3)
    >>> manifold = FixedRankDeepLinear(4, 3, 1, depth=3, rng=0)
    >>> problem = matrix_problem(manifold, lambda W: 0.5 * anp.sum((W - B) ** 2))
    >>> opt = pymanopt.optimizers.TrustRegions(verbosity=0)
    >>> result = opt.run(problem, initial_point=manifold.random_point())
    >>> bool(abs(result.cost - 0.5 * np.linalg.svd(B, compute_uv=False)[1] ** 2) < 1e-10)
    True
    """
    if not isinstance(manifold, FixedRankDeepLinear):
        raise TypeError(
            f"manifold must be a riemlin.FixedRankDeepLinear; got {type(manifold).__name__}"
        )
    if cost is None:
        raise ValueError(
            "matrix_problem needs a cost (line searches and trust regions evaluate it); "
            "pass cost=f with f(W) -> float, and optionally gradient and "
            "hessian_vector_product"
        )
    for value, name in (
        (cost, "cost"),
        (gradient, "gradient"),
        (hessian_vector_product, "hessian_vector_product"),
    ):
        if value is not None and not callable(value):
            raise TypeError(f"{name} must be callable; got {type(value).__name__}")
    if gradient is None:
        if point_arguments:
            raise ValueError(
                "autograd differentiates a cost on the dense matrix only; with "
                "point_arguments=True pass gradient (and hessian_vector_product)"
            )
        if hessian_vector_product is not None:
            raise ValueError(
                "hessian_vector_product without gradient: pass both, or neither to let "
                "autograd derive both from cost"
            )
        gradient, hessian_vector_product = _autograd_derivatives(cost)

    m, n = manifold.m, manifold.n

    def arg(point):
        return point if point_arguments else (point[0] * point[1]) @ point[2]

    def direction(point, xi):
        if point_arguments:
            return tangent_low_rank(point, xi)
        return manifold.tangent_to_matrix(point, xi)

    def checked(value, name):
        shape = ambient_shape(value, f"the value returned by {name}")
        if tuple(shape) != (m, n):
            raise ValueError(f"{name} must return an {m}x{n} matrix; got shape {tuple(shape)}")
        return value

    @pymanopt.function.numpy(manifold)
    def problem_cost(u, s, vt):
        return float(cost(arg(FixedRankPoint(u, s, vt))))

    last = {}  # the argument and gradient at the last point (solvers revisit it)

    def argument_and_gradient(u, s, vt):
        # Second-order solvers ask for many Hessian-vector products at one point: the
        # gradient is evaluated once per point (the arrays of a point are not mutated).
        if not (last and last["u"] is u and last["s"] is s and last["vt"] is vt):
            W = arg(FixedRankPoint(u, s, vt))
            last.update(u=u, s=s, vt=vt, W=W, G=checked(gradient(W), "gradient"))
        return last["W"], last["G"]

    @pymanopt.function.numpy(manifold)
    def riemannian_gradient(u, s, vt):
        _, G = argument_and_gradient(u, s, vt)
        return manifold.riemannian_gradient_from_matrix(FixedRankPoint(u, s, vt), G)

    if hessian_vector_product is None:

        @pymanopt.function.numpy(manifold)
        def riemannian_hessian(u, s, vt, Up, M, Vp):
            raise ValueError(
                "this problem has no Hessian: matrix_problem was given a gradient but no "
                "hessian_vector_product; pass one to use second-order solvers"
            )

    else:

        @pymanopt.function.numpy(manifold)
        def riemannian_hessian(u, s, vt, Up, M, Vp):
            point = FixedRankPoint(u, s, vt)
            xi = FixedRankTangentVector(Up, M, Vp)
            W, G = argument_and_gradient(u, s, vt)
            H = checked(hessian_vector_product(W, direction(point, xi)), "hessian_vector_product")
            return manifold.riemannian_hessian_from_matrix(point, G, H, xi)

    return pymanopt.Problem(
        manifold,
        problem_cost,
        riemannian_gradient=riemannian_gradient,
        riemannian_hessian=riemannian_hessian,
    )


def _autograd_derivatives(cost):
    import autograd

    grad = autograd.grad(cost)

    def gradient(W):
        return np.asarray(grad(W), dtype=float)

    def hessian_vector_product(W, Xi):
        # d/dt grad(W + t Xi) at t = 0, forward over reverse
        return np.asarray(autograd.make_jvp(grad)(W)(Xi)[1], dtype=float)

    return gradient, hessian_vector_product


def record_gradient_norms(problem: pymanopt.Problem) -> list:
    r"""Record the Riemannian gradient norm at every point where a solver asks for it.

    pymanopt's ``TrustRegions`` keeps no log of its iterates; this wraps the problem's
    Riemannian gradient (in place) so that each evaluation appends
    ``manifold.norm(point, grad)`` to the returned list. Solvers evaluate the gradient once
    per accepted iterate (line-search solvers also at the start), so the list traces the
    convergence, e.g. the quadratic rate of ``TrustRegions`` near a minimizer.

    Parameters
    ----------
    problem : pymanopt.Problem
        Any problem with a Riemannian gradient (e.g. from :func:`matrix_problem`).

    Returns
    -------
    list of float
        Filled as the solver runs: one Riemannian gradient norm
        :math:`\|\operatorname{grad} f(W)\|_{g}` per gradient evaluation.

    Raises
    ------
    TypeError
        If ``problem`` is not a ``pymanopt.Problem``.

    Examples
    --------
    >>> import numpy as np, autograd.numpy as anp, pymanopt
    >>> from riemlin import FixedRankDeepLinear, matrix_problem, record_gradient_norms
    >>> B = np.arange(12.0).reshape(4, 3)
    >>> manifold = FixedRankDeepLinear(4, 3, 1, depth=2, rng=0)
    >>> problem = matrix_problem(manifold, lambda W: 0.5 * anp.sum((W - B) ** 2))
    >>> norms = record_gradient_norms(problem)
    >>> _ = pymanopt.optimizers.TrustRegions(verbosity=0).run(problem)
    >>> bool(norms[-1] < 1e-6 < norms[0])
    True
    """
    if not isinstance(problem, pymanopt.Problem):
        raise TypeError(f"problem must be a pymanopt.Problem; got {type(problem).__name__}")
    norms = []
    manifold = problem.manifold
    gradient = problem.riemannian_gradient  # pymanopt's point-level wrapper

    def recording(point):
        g = gradient(point)
        norms.append(float(manifold.norm(point, g)))
        return g

    problem._riemannian_gradient = recording  # the attribute behind the property
    return norms
