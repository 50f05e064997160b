"""Exact derivatives for every smooth cost on the SVD factors (u, s, vt).

pymanopt's autodiff backends hand the manifold derivatives with respect to the arrays
(u, s, vt). The conversions must give the Riemannian gradient and Hessian of the function
the cost defines on M_k whatever the cost does with u, s and vt, at every depth. Each cost
class is checked against Richardson-extrapolated central differences of
F(R(a xi + b eta)) with a retraction that is second order for the metric (so the mixed
second derivative at 0 is Hess^g F[xi, eta]), and through riemlin's Taylor-slope checks.
"""

import autograd.numpy as anp
import numpy as np
import pymanopt
import pytest
from pymanopt.optimizers import TrustRegions

from riemlin import (
    FixedRankDeepLinear,
    check_gradient,
    check_hessian,
    matrix_problem,
    record_gradient_norms,
)
from riemlin.geometry import parametrization as param
from riemlin.geometry.manifold import FixedRankPoint

M_, N_, K_ = 7, 6, 3
_rng = np.random.default_rng(20)
B = _rng.standard_normal((M_, N_))
A_COL = _rng.standard_normal((4, M_))
C_ROW = _rng.standard_normal((5, N_))
A_VEC = _rng.standard_normal(M_)


def _product(u, s, vt):
    W = u @ anp.diag(s) @ vt
    return 0.5 * anp.sum((W - B) ** 2) + 0.25 * anp.sum(W**4)


#: Smooth functions on M_k written on (u, s, vt), each invariant under the sign freedom of
#: the SVD (and, except "single vector", under rotations within repeated singular values).
COSTS = {
    "product": _product,
    "nuclear norm + fit": lambda u, s, vt: (
        anp.sum(s) + 0.5 * anp.sum((u @ anp.diag(s) @ vt - B) ** 2)
    ),
    "s only (powers, log)": lambda u, s, vt: anp.sum(s**3) - 0.5 * anp.sum(anp.log(s)),
    "column space": lambda u, s, vt: anp.sum((A_COL @ u) ** 2),
    "row space": lambda u, s, vt: anp.sum((C_ROW @ vt.T) ** 4),
    "single vector": lambda u, s, vt: (A_VEC @ u[:, 0]) ** 2 * s[1],
    "u and v jointly": lambda u, s, vt: anp.trace(u.T @ B @ vt.T) ** 2,
    "mixture": lambda u, s, vt: (
        anp.sum((A_COL @ u) ** 2) * anp.sum(s**2)
        + _product(u, s, vt) * anp.sum((C_ROW @ vt.T) ** 2)
        + anp.sum(anp.sqrt(s))
    ),
}
DEPTHS = [1, 2, 5]


def _svd_k(W, k=K_):
    u, s, vt = np.linalg.svd(W, full_matrices=False)
    return u[:, :k], s[:k], vt[:k]


def _setup(depth, seed=3):
    manifold = FixedRankDeepLinear(M_, N_, K_, depth=depth, rng=seed, retraction="second_order")
    return manifold, manifold.random_point()


def _derivatives_by_differences(manifold, x, f, xi, eta):
    """D F[xi] and Hess F[xi, eta] from F(R(a xi + b eta)), Richardson-extrapolated.

    Central differences with steps h and h/2 combined to cancel the h^2 term: the
    truncation error is O(h^4) (~1e-12 at h = 1e-3) and the rounding error about
    eps / h for the first and eps / h^2 for the mixed second difference (~1e-10), so a
    relative agreement of 1e-7 leaves a margin of a thousand for the factors of the cost.
    """

    def F(a, b):
        return f(*_svd_k(manifold.point_to_matrix(manifold.retraction(x, a * xi + b * eta))))

    def first(h):
        return (F(h, 0) - F(-h, 0)) / (2 * h)

    def mixed(h):
        return (F(h, h) - F(h, -h) - F(-h, h) + F(-h, -h)) / (4 * h * h)

    h = 1e-3
    return (4 * first(h / 2) - first(h)) / 3, (4 * mixed(h / 2) - mixed(h)) / 3


def _errors(depth, name):
    manifold, x = _setup(depth)
    f = COSTS[name]
    problem = pymanopt.Problem(manifold, pymanopt.function.autograd(manifold)(f))
    xi = manifold.random_tangent_vector(x, rng=11)
    eta = manifold.random_tangent_vector(x, rng=12)
    grad = problem.riemannian_gradient(x)
    hess = problem.riemannian_hessian(x, xi)
    d1, d2 = _derivatives_by_differences(manifold, x, f, xi, eta)
    g_err = abs(manifold.inner_product(x, grad, xi) - d1) / max(abs(d1), manifold.norm(x, grad))
    h_err = abs(manifold.inner_product(x, hess, eta) - d2) / max(abs(d2), manifold.norm(x, hess))
    return g_err, h_err


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("name", list(COSTS))
def test_gradient_and_hessian_match_differences_for_every_cost_class(depth, name):
    g_err, h_err = _errors(depth, name)
    assert g_err < 1e-7, g_err
    assert h_err < 1e-7, h_err


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("name", ["nuclear norm + fit", "column space", "mixture"])
def test_taylor_slopes_are_two_and_three(depth, name):
    """check_gradient slope 2; check_hessian slope 3 (second-order retraction for g)."""
    manifold, x = _setup(depth, seed=5)
    problem = pymanopt.Problem(manifold, pymanopt.function.autograd(manifold)(COSTS[name]))
    g = check_gradient(problem, x, rng=1)
    h = check_hessian(problem, x, rng=2)
    assert g.passed and abs(g.slope - 2) < 0.1, g.message
    assert h.passed and abs(h.slope - 3) < 0.1, h.message
    assert h.symmetry_error < 1e-10


def test_the_old_product_only_conversion_would_fail_these_checks():
    """The two costs of the defect report, against what a product-only conversion gives.

    Treating the data as if the cost went through the product (M = (P + Q)/2, the Hessian
    without the rest) is off by O(1) for the column-space gradient and the nuclear-norm
    Hessian; the exact conversion is not.
    """
    manifold, x = _setup(1, seed=7)
    u, s, vt = x
    for name in ("column space", "nuclear norm + fit"):
        f = COSTS[name]
        problem = pymanopt.Problem(manifold, pymanopt.function.autograd(manifold)(f))
        d = problem.euclidean_gradient(x)
        res = param.resolvable_pairs(s)
        split = param.split_derivatives(u, s, vt, d, res)
        naive = (split.Up, split.G0.copy(), split.Vp)
        np.fill_diagonal(naive[1], split.ds)
        exact = param.representer(split, s, res)
        if name == "column space":
            assert np.linalg.norm(exact[1]) < 1e-13  # the column space does not see M
            assert np.linalg.norm(naive[1] - exact[1]) > 1e-2
        else:
            assert np.any(split.sigma != 0)  # the nuclear norm is a term of s alone
    assert _errors(1, "column space")[0] < 1e-7


def test_product_costs_keep_the_stable_path_near_repeated_singular_values():
    """No division by a gap for a cost through the product: gradient exact to rounding at
    every gap; the Hessian along the SVD derivative carries eps / gap (measured 4e-10 at
    gap 1e-7), and below the coincidence gap the product path is exact again."""
    manifold = FixedRankDeepLinear(8, 6, 3, depth=3, rng=3)
    u, _, vt = manifold.random_point()
    Bm = np.random.default_rng(0).standard_normal((8, 6))

    def f(u, s, vt):
        W = u @ anp.diag(s) @ vt
        return 0.5 * anp.sum((W - Bm) ** 2) + 0.25 * anp.sum(W**4)

    problem = pymanopt.Problem(manifold, pymanopt.function.autograd(manifold)(f))
    eps = np.finfo(float).eps
    for gap in (1e-2, 1e-5, 1e-7, 1e-9, 1e-13, 0.0):
        s = np.array([1.0 + gap, 1.0, 0.5])
        x = FixedRankPoint(u, s, vt)
        W = (u * s) @ vt
        G = W - Bm + W**3
        xi = manifold.random_tangent_vector(x, rng=1)
        H = manifold.tangent_to_matrix(x, xi)
        ref_g = manifold.riemannian_gradient_from_matrix(x, G)
        ref_h = manifold.riemannian_hessian_from_matrix(x, G, H + 3 * W**2 * H, xi)
        g_err = manifold.norm(x, problem.riemannian_gradient(x) - ref_g) / manifold.norm(x, ref_g)
        h_err = manifold.norm(x, problem.riemannian_hessian(x, xi) - ref_h)
        h_err /= manifold.norm(x, ref_h)
        assert g_err < 1e-14
        bound = 1e-13 if gap <= param.COINCIDENT_GAP else 1e-13 + 100 * eps / gap
        assert h_err < bound, (gap, h_err)


def test_coinciding_singular_values_use_the_product_value():
    """At exactly repeated singular values the conversions stay finite and, for a cost
    through the product, exact; the embedding is the bounded symmetric preimage there."""
    manifold = FixedRankDeepLinear(6, 5, 3, depth=2, rng=4)
    x = manifold.random_point(spread=1.0)  # all singular values equal to one
    assert np.all(x[1] == 1.0)
    problem = matrix_problem(manifold, lambda W: 0.5 * anp.sum((W - B[:6, :5]) ** 2))
    usv = pymanopt.Problem(
        manifold,
        pymanopt.function.autograd(manifold)(
            lambda u, s, vt: 0.5 * anp.sum((u @ anp.diag(s) @ vt - B[:6, :5]) ** 2)
        ),
    )
    xi = manifold.random_tangent_vector(x, rng=2)
    for a, b in zip(usv.riemannian_gradient(x), problem.riemannian_gradient(x)):
        np.testing.assert_allclose(a, b, atol=1e-14)
    ha, hb = usv.riemannian_hessian(x, xi), problem.riemannian_hessian(x, xi)
    assert manifold.norm(x, ha - hb) <= 1e-13 * manifold.norm(x, hb)
    du, ds, dvt = manifold.embedding(x, xi)
    u, s, vt = x
    Up, M, Vp = xi
    off = M - np.diag(np.diag(M))
    np.testing.assert_allclose(du, u @ off / 2 + Up, atol=1e-15)
    np.testing.assert_allclose(dvt, off @ vt / 2 + Vp.T, atol=1e-15)


def test_embedding_is_the_derivative_of_the_svd():
    """The embedding moves u diag(s) vt along xi and stays tangent to the orthonormal
    frames (u^T du and vt dvt^T skew), which is what makes the Hessian exact for costs
    that do not go through the product."""
    manifold, x = _setup(3)
    u, s, vt = x
    xi = manifold.random_tangent_vector(x, rng=3)
    du, ds, dvt = manifold.embedding(x, xi)
    moved = du @ np.diag(s) @ vt + u @ np.diag(ds) @ vt + u @ np.diag(s) @ dvt
    np.testing.assert_allclose(moved, manifold.tangent_to_matrix(x, xi), atol=1e-13)
    np.testing.assert_allclose(u.T @ du + (u.T @ du).T, 0, atol=1e-13)
    np.testing.assert_allclose(vt @ dvt.T + (vt @ dvt.T).T, 0, atol=1e-13)
    # against the SVD of W + t xi
    t = 1e-6
    W = manifold.point_to_matrix(x)
    up, sp_, vtp = _svd_k(W + t * manifold.tangent_to_matrix(x, xi))
    um, sm, vtm = _svd_k(W - t * manifold.tangent_to_matrix(x, xi))
    signs = np.sign(np.sum(up * u, axis=0))
    signs_m = np.sign(np.sum(um * u, axis=0))
    np.testing.assert_allclose((up * signs - um * signs_m) / (2 * t), du, atol=1e-7)
    np.testing.assert_allclose((sp_ - sm) / (2 * t), ds, atol=1e-7)


def test_tangent_to_low_rank_is_the_ambient_matrix():
    manifold, x = _setup(2)
    xi = manifold.random_tangent_vector(x, rng=4)
    U, S, V = manifold.tangent_to_low_rank(x, xi)
    assert U.shape == (M_, 2 * K_) and V.shape == (N_, 2 * K_)
    np.testing.assert_allclose(U @ S @ V.T, manifold.tangent_to_matrix(x, xi), atol=1e-14)
    back = manifold.projection(x, (U, S, V))
    for a, b in zip(back, xi):
        np.testing.assert_allclose(a, b, atol=1e-14)


def test_trust_regions_converge_quadratically_on_nuclear_norm_regularized_completion():
    """Nuclear-norm regularized matrix completion written on (u, s, vt) with autograd:
    TrustRegions with the exact Hessian converges quadratically (the gradient norm at
    least squares, up to a constant, in the last steps) at depths 1 and 3."""
    rng = np.random.default_rng(8)
    m, n, k = 12, 10, 2
    truth = rng.standard_normal((m, k)) @ rng.standard_normal((k, n))
    mask = rng.random((m, n)) < 0.6
    lam = 0.05
    for depth in (1, 3):
        manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=1)

        @pymanopt.function.autograd(manifold)
        def cost(u, s, vt):
            W = u @ anp.diag(s) @ vt
            return 0.5 * anp.sum(mask * (W - truth) ** 2) + lam * anp.sum(s)

        problem = pymanopt.Problem(manifold, cost)
        norms = record_gradient_norms(problem)
        x0 = manifold.point_from_matrix(truth + 0.05 * rng.standard_normal((m, n)))
        TrustRegions(verbosity=0, min_gradient_norm=1e-12, max_iterations=60).run(
            problem, initial_point=x0
        )
        tail = np.array([g for g in norms if g > 1e-13])[-4:]
        assert norms[-1] < 1e-10
        rates = np.log(tail[1:]) / np.log(tail[:-1])
        assert np.max(rates) > 1.8, (depth, tail)


def test_accuracy_near_repeated_singular_values_against_50_digits():
    """The measured loss near a repeated pair (gap 1e-6, depth 1), against 50-digit
    differences of F(truncated SVD of W + a xi + b eta): a cost through the product keeps
    the gradient to rounding and the Hessian to ~eps/gap; a column-space cost loses about
    eps/gap^2 in the Hessian (measured 3e-8 here); the guide's table lists more gaps."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    m, n, k = 7, 6, 3
    rng = np.random.default_rng(1)
    Bm = rng.standard_normal((m, n))
    A = rng.standard_normal((4, m))
    manifold = FixedRankDeepLinear(m, n, k, depth=1, rng=2)
    u, _, vt = manifold.random_point()
    s = np.array([1.0 + 1e-6, 1.0, 0.6])
    x = FixedRankPoint(u, s, vt)

    def fit_mp(U, S, Vt):
        return sum(e**2 for e in (U * mpmath.diag(S) * Vt - mpmath.matrix(Bm))) / 2

    cases = {
        "product": (
            lambda u, s, vt: 0.5 * anp.sum((u @ anp.diag(s) @ vt - Bm) ** 2),
            fit_mp,
            (1e-15, 1e-11),
        ),
        "column space": (
            lambda u, s, vt: anp.sum((A @ u) ** 2),
            lambda U, S, Vt: sum(e**2 for e in mpmath.matrix(A) * U),
            (1e-11, 1e-6),
        ),
    }
    xi = manifold.random_tangent_vector(x, rng=3)
    eta = manifold.random_tangent_vector(x, rng=4)
    W0 = mpmath.matrix(u.tolist()) * mpmath.diag([mpmath.mpf(v) for v in s])
    W0 = W0 * mpmath.matrix(vt.tolist())
    X = mpmath.matrix(manifold.tangent_to_matrix(x, xi).tolist())
    Y = mpmath.matrix(manifold.tangent_to_matrix(x, eta).tolist())
    h = mpmath.mpf("1e-15")
    for f, f_mp, (g_tol, h_tol) in cases.values():

        def F(a, b, f_mp=f_mp):
            U, S, V = mpmath.svd_r(W0 + a * X + b * Y)
            return f_mp(U[:, :k], [S[i] for i in range(k)], V[:k, :])

        d1 = float((F(h, 0) - F(-h, 0)) / (2 * h))
        d2 = float((F(h, h) - F(h, -h) - F(-h, h) + F(-h, -h)) / (4 * h * h))
        problem = pymanopt.Problem(manifold, pymanopt.function.autograd(manifold)(f))
        g = problem.riemannian_gradient(x)
        H = problem.riemannian_hessian(x, xi)
        assert abs(manifold.inner_product(x, g, xi) - d1) <= g_tol * manifold.norm(x, g)
        assert abs(manifold.inner_product(x, H, eta) - d2) <= h_tol * manifold.norm(x, H)


@pytest.mark.parametrize("part", [0, 1, 2])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_derivatives_are_refused(part, bad):
    """NaN or inf in any of (du, ds, dvt), for the gradient or the Hessian-vector
    product, ends in a ValueError naming the argument, never in a silent NaN."""
    manifold, x = _setup(2)
    problem = pymanopt.Problem(manifold, pymanopt.function.autograd(manifold)(_product))
    d = [np.array(a, dtype=float) for a in problem.euclidean_gradient(x)]
    xi = manifold.random_tangent_vector(x, rng=1)
    h = [np.array(a, dtype=float) for a in problem.euclidean_hessian(x, xi)]
    broken = [a.copy() for a in d]
    broken[part].flat[0] = bad
    with pytest.raises(ValueError, match="euclidean_gradient"):
        manifold.euclidean_to_riemannian_gradient(x, broken)
    with pytest.raises(ValueError, match="euclidean_gradient"):
        manifold.euclidean_to_riemannian_hessian(x, broken, h, xi)
    broken = [a.copy() for a in h]
    broken[part].flat[0] = bad
    with pytest.raises(ValueError, match="euclidean_hessian"):
        manifold.euclidean_to_riemannian_hessian(x, d, broken, xi)
