"""Conformance with pymanopt 2.2.1's own tests of ``FixedRankEmbedded``.

Every property that pymanopt 2.2.1 checks for its fixed-rank manifold is checked here on
``FixedRankDeepLinear`` at depths 1, 2 and 5. Where riemlin deliberately differs, the
test asserts riemlin's behaviour and a comment says what pymanopt does instead.

pymanopt test  ->  riemlin test: same / different, and why
-------------------------------------------------------------------------------------------
tests/manifolds/test_fixed_rank.py
  test_dim  ->  test_dim: same, (m + n - k) k.
  test_typical_dist  ->  test_typical_dist: same, the dimension.
  test_dist  ->  test_distance_exp_and_log: different. pymanopt raises
      NotImplementedError for dist (and exp, log); riemlin has them at every depth
      (riemlin.geometry.geodesics: the geodesic equation integrated, log by shooting).
  test_inner_product  ->  test_inner_product: same at depth 1 (Frobenius product of the
      ambient matrices); different at depth > 1, <A_W^{-1} xi, eta>_F (the deep metric).
  test_norm  ->  test_norm: same, the square root of the inner product.
  test_proj_range  ->  test_projection_is_tangent: same.
  test_projection  ->  test_projection_is_frobenius_closest: same at every depth (the
      projection is Frobenius-orthogonal, not g-orthogonal); the ambient form comes from
      tangent_to_low_rank instead of embedding.
  test_proj_tangents  ->  test_projection_fixes_tangent_vectors: same, via
      tangent_to_low_rank (and the dense tangent_to_matrix).
  test_random_point  ->  test_random_point: shapes, orthonormal frames and distinct draws
      the same; different singular values: log-uniform in [spread**-0.5, spread**0.5]
      (pymanopt: sorted U(0, 1), so arbitrarily close to 0); seeded.
  test_random_tangent_vector  ->  test_random_tangent_vector: same, unit norm in the
      manifold's metric (the Frobenius norm only at depth 1).
  test_transport  ->  test_transport: same (projection of the ambient vector, equal to
      pymanopt's at every depth), via tangent_to_low_rank.
  test_apply_ambient, test_apply_ambient_transpose  ->  test_ambient_products: same
      products; public functions of riemlin.geometry.ambient (pymanopt: private methods), which
      also take a 1-D S and scipy.sparse.
  test_embedding  ->  test_tangent_to_low_rank, test_embedding_is_the_svd_derivative:
      different. riemlin's embedding is the derivative of the SVD, a direction with the
      point's shapes in (u, s, vt) space; pymanopt's ambient triple is tangent_to_low_rank.
  test_euclidean_to_riemannian_hessian (empty in pymanopt)  ->
      test_hessian_matches_matrix_path, test_trust_regions_on_riemlin_only: different.
      pymanopt's conversion cannot take autodiff data (ValueError); riemlin's is exact.
  test_retraction  ->  test_retraction: same properties and the same point as pymanopt's;
      the variant is Manopt's current one (QR of [u, Up]), with no eps added to s, and
      retraction="second_order" is second order for the deep metric.
  test_euclidean_to_riemannian_gradient  ->  test_gradient_matches_pymanopt,
      test_gradient_is_adjoint_of_embedding: same values at depth 1 on random data; A_W
      of them at depth N; exact as the adjoint of embedding.
tests/test_problem_backend_interface.py (Product([FixedRankEmbedded, Euclidean(n)]))
  test_cost_function  ->  test_product_cost: same.
  test_gradient_operator_shapes  ->  test_product_gradient_shapes: same.
  test_hessian_operator_shapes  ->  test_product_hessian_shapes: same.
  test_problem_cost  ->  test_product_problem_cost: same.
  test_problem_gradient_operator  ->  test_product_problem_gradient: same.
  test_problem_hessian_operator  ->  test_product_problem_hessian: same on a Product, whose
      embedding is the identity; test_hessian_along_embedding: on the manifold alone the
      direction is riemlin's embedding (pymanopt's has the wrong shapes).
examples/low_rank_matrix_approximation.py (run per backend by tests/test_examples.py)
  ->  test_pymanopt_backends.py::test_low_rank_example: different, the run is asserted to
      reach the Eckart-Young minimum (pymanopt only runs it); tensorflow is not covered.

Beyond pymanopt's tests, the class docstring's account of what carries over from
FixedRankEmbedded and what differs is checked by running the same problems (costs on
(u, s, vt) with autograd, a gradient by projection with numpy) and solvers on both
classes: test_same_iterates_at_depth_one, test_same_problems_reach_known_minima,
test_trust_regions_on_riemlin_only, test_retraction_keeps_the_frames_orthonormal (where
pymanopt's retraction drifts off the frames and ends below the minimum),
test_projection_is_not_the_gradient_at_depth_above_one and
test_a_step_that_drops_the_rank_raises.
"""

from types import SimpleNamespace

import autograd.numpy as anp
import numpy as np
import pymanopt
import pytest
import scipy.sparse as sp
from pymanopt.manifolds import Euclidean, FixedRankEmbedded, Product
from pymanopt.optimizers import ConjugateGradient, SteepestDescent, TrustRegions

from riemlin import FixedRankDeepLinear, FixedRankTangentVector, check_gradient, matrix_problem
from riemlin.geometry.ambient import ambient_matmul, ambient_rmatmul
from riemlin.reference import metric_operator_inverse_dense

#: Assertions about pymanopt's own behaviour (its retraction drift, its TrustRegions
#: failure, its rank-dropping step) hold for the 2.2 series checked here; under another
#: release they are skipped, so a pymanopt fix cannot fail riemlin's suite.
PYMANOPT_22 = pymanopt.__version__.startswith("2.2.")

M_, N_, K_ = 10, 5, 3  # pymanopt's sizes
DEPTHS = [1, 2, 5]


@pytest.fixture(params=DEPTHS, ids=lambda d: f"N{d}")
def manifold(request):
    return FixedRankDeepLinear(M_, N_, K_, depth=request.param, rng=request.param)


def _matrix(x):
    u, s, vt = x
    return (u * s) @ vt


def _tangent_matrix(x, xi):
    """u M vt + Up vt + u Vp^T, from the definition (no riemlin code)."""
    u, _, vt = x
    Up, M, Vp = xi
    return u @ M @ vt + Up @ vt + u @ Vp.T


def _frobenius(A, B):
    return float(np.sum(A * B))


# ------------------------------------------------------ tests/manifolds/test_fixed_rank.py
def test_dim(manifold):
    assert manifold.dim == (M_ + N_ - K_) * K_


def test_typical_dist(manifold):
    assert manifold.typical_dist == manifold.dim


def test_distance_exp_and_log(manifold):
    # pymanopt's FixedRankEmbedded raises NotImplementedError for dist, exp and log;
    # riemlin integrates the geodesic equation of its metric and shoots for log.
    x = manifold.random_point()
    xi = 0.3 * manifold.random_tangent_vector(x)
    y = manifold.exp(x, xi)
    # log inverts exp to its tolerance, 1e-11 of |y|_F in the end point
    assert manifold.norm(x, manifold.log(x, y) - xi) < 1e-9
    assert manifold.dist(x, y) == pytest.approx(0.3, rel=1e-9)
    embedded = FixedRankEmbedded(M_, N_, K_)
    for call in (lambda: embedded.dist(x, y), lambda: embedded.exp(x, xi)):
        with pytest.raises(NotImplementedError):
            call()


def test_inner_product(manifold):
    x = manifold.random_point()
    xi, eta = manifold.random_tangent_vector(x), manifold.random_tangent_vector(x)
    Xi, Eta = _tangent_matrix(x, xi), _tangent_matrix(x, eta)
    # riemlin: g(xi, eta) = <A_W^{-1} Xi, Eta>_F, with A_W^{-1} from the dense reference
    # (eigendecompositions, no shared code); agreement to rounding of the m x n
    # eigendecompositions, relative to |Xi| |Eta| scaled by the largest weight 1/c.
    g = manifold.inner_product(x, xi, eta)
    dense = _frobenius(metric_operator_inverse_dense(_matrix(x), Xi, manifold.depth), Eta)
    assert abs(g - dense) < 1e-10 * max(abs(dense), 1.0)
    frob = _frobenius(Xi, Eta)
    if manifold.depth == 1:
        # pymanopt's property: the Frobenius product of the ambient matrices
        assert abs(g - frob) < 1e-12 * np.linalg.norm(Xi) * np.linalg.norm(Eta)
    else:
        # pymanopt has only the embedded metric; the deep metric differs from it by O(1)
        # for singular values spread over a factor 10 (random_point's default)
        assert abs(g - frob) > 1e-2 * np.linalg.norm(Xi) * np.linalg.norm(Eta)


def test_norm(manifold):
    x = manifold.random_point()
    xi = manifold.random_tangent_vector(x) * 3.0
    assert manifold.norm(x, xi) == pytest.approx(np.sqrt(manifold.inner_product(x, xi, xi)))
    assert manifold.norm(x, xi) == pytest.approx(3.0)


def test_projection_is_tangent(manifold):
    x = manifold.random_point()
    Z = np.random.default_rng(1).standard_normal((M_, N_))
    Up, M, Vp = manifold.projection(x, Z)
    u, _, vt = x
    # the Gram products are sums of ~m products of O(|Z|) numbers: rounding ~ m eps |Z|
    tol = 1e-13 * np.linalg.norm(Z)
    assert np.abs(u.T @ Up).max() < tol
    assert np.abs(vt @ Vp).max() < tol
    assert M.shape == (K_, K_)


def test_projection_is_frobenius_closest(manifold):
    # Same as pymanopt at every depth: the projection is Frobenius-orthogonal onto the
    # tangent space (it does not depend on the metric; it is not the g-orthogonal one).
    gen = np.random.default_rng(2)
    x = manifold.random_point()
    Z = gen.standard_normal((M_, N_))
    P = manifold.projection(x, Z)
    residual = Z - _tangent_matrix(x, P)
    for _ in range(3):
        eta = manifold.random_tangent_vector(x)
        assert abs(_frobenius(residual, _tangent_matrix(x, eta))) < 1e-12 * np.linalg.norm(Z)
        # pymanopt's own form of the property: a displaced tangent vector is farther
        U, S, V = manifold.tangent_to_low_rank(x, P + 0.01 * eta)
        assert np.linalg.norm(U @ S @ V.T - Z) > np.linalg.norm(residual)
    flat = FixedRankDeepLinear(M_, N_, K_, depth=1).projection(x, Z)
    for a, b in zip(P, flat):
        np.testing.assert_array_equal(a, b)


def test_projection_fixes_tangent_vectors(manifold):
    x = manifold.random_point()
    xi = manifold.random_tangent_vector(x)
    # pymanopt: projection(x, embedding(x, xi)) == xi. riemlin's embedding is a direction
    # in (u, s, vt) space; the ambient low-rank triple is tangent_to_low_rank.
    for ambient in (manifold.tangent_to_low_rank(x, xi), manifold.tangent_to_matrix(x, xi)):
        for a, b in zip(manifold.projection(x, ambient), xi):
            # unit xi; the products with u, v round at ~m eps
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


def test_random_point(manifold):
    x, y = manifold.random_point(), manifold.random_point()
    u, s, vt = x
    assert u.shape == (M_, K_) and s.shape == (K_,) and vt.shape == (K_, N_)
    np.testing.assert_allclose(u.T @ u, np.eye(K_), atol=1e-14)
    np.testing.assert_allclose(vt @ vt.T, np.eye(K_), atol=1e-14)
    for a, b in zip(x, y):
        assert np.linalg.norm(a - b) > 1e-6
    # pymanopt draws s from U(0, 1), sorted decreasing, so s can be arbitrarily close
    # to 0; riemlin draws log-uniformly from [spread**-0.5, spread**0.5] (spread 10)
    assert np.all(np.diff(s) <= 0)
    assert np.all(s >= 10**-0.5) and np.all(s <= 10**0.5)
    # riemlin only: seeded draws are reproducible
    for a, b in zip(manifold.random_point(rng=7), manifold.random_point(rng=7)):
        np.testing.assert_array_equal(a, b)


def test_random_tangent_vector(manifold):
    x = manifold.random_point()
    xi, eta = manifold.random_tangent_vector(x), manifold.random_tangent_vector(x)
    Up, M, Vp = xi
    assert Up.shape == (M_, K_) and M.shape == (K_, K_) and Vp.shape == (N_, K_)
    u, _, vt = x
    assert np.abs(u.T @ Up).max() < 1e-13 and np.abs(vt @ Vp).max() < 1e-13
    # unit norm in the manifold's own metric; at depth 1 that is pymanopt's Frobenius norm
    assert manifold.norm(x, xi) == pytest.approx(1.0, abs=1e-14)
    assert manifold.norm(x, xi - eta) > 1e-6
    frob = np.linalg.norm(_tangent_matrix(x, xi))
    if manifold.depth == 1:
        assert frob == pytest.approx(1.0, abs=1e-14)


def test_transport(manifold):
    x, y = manifold.random_point(), manifold.random_point()
    xi = manifold.random_tangent_vector(x)
    moved = manifold.transport(x, y, xi)
    # pymanopt: projection(y, embedding(x, xi)); the ambient triple is tangent_to_low_rank
    expected = manifold.projection(y, manifold.tangent_to_low_rank(x, xi))
    assert manifold.norm(y, moved - expected) < 1e-13
    # and it is pymanopt's transport, at every depth (projection is metric-free)
    theirs = FixedRankEmbedded(M_, N_, K_).transport(x, y, xi)
    for a, b in zip(moved, theirs):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


def test_ambient_products():
    # pymanopt tests its private _apply_ambient(_transpose) on a dense matrix and on a
    # triple (U, S, V) with S a matrix; riemlin's are the public functions of
    # riemlin.geometry.ambient and accept a 1-D S and scipy.sparse too.
    gen = np.random.default_rng(3)
    Z = gen.standard_normal((M_, N_))
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    B, A = gen.standard_normal((N_, 4)), gen.standard_normal((M_, 4))
    for form in (Z, (U, np.diag(s), Vt.T), (U, s, Vt.T), sp.csr_matrix(Z)):
        np.testing.assert_allclose(ambient_matmul(form, B), Z @ B, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ambient_rmatmul(form, A), Z.T @ A, rtol=1e-12, atol=1e-12)


def test_tangent_to_low_rank(manifold):
    x = manifold.random_point()
    xi = manifold.random_tangent_vector(x)
    U, S, V = manifold.tangent_to_low_rank(x, xi)
    np.testing.assert_allclose(U @ S @ V.T, _tangent_matrix(x, xi), rtol=0, atol=1e-13)
    # the same arrays as pymanopt's FixedRankEmbedded.embedding
    for a, b in zip((U, S, V), FixedRankEmbedded(M_, N_, K_).embedding(x, xi)):
        np.testing.assert_array_equal(a, b)


def test_embedding_is_the_svd_derivative(manifold):
    # pymanopt: embedding returns the ambient triple (U, S, V). riemlin: the derivative
    # (du, ds, dvt) of the thin SVD along xi, with the point's shapes, so that autodiff
    # Hessian-vector products along it are defined (pymanopt's are not: wrong shapes).
    u, _, vt = manifold.random_point()
    x = (u, np.array([3.0, 2.0, 1.0]), vt)  # gaps O(1) for the finite differences below
    xi = manifold.random_tangent_vector(x)
    du, ds, dvt = manifold.embedding(x, xi)
    s = x[1]
    assert du.shape == u.shape and ds.shape == s.shape and dvt.shape == vt.shape
    # tangent to the orthonormal frames, and mapped onto xi by (u, s, vt) -> u diag(s) vt
    assert np.abs(u.T @ du + du.T @ u).max() < 1e-12
    assert np.abs(vt @ dvt.T + dvt @ vt.T).max() < 1e-12
    moved = du @ np.diag(s) @ vt + u @ np.diag(ds) @ vt + u @ np.diag(s) @ dvt
    np.testing.assert_allclose(moved, _tangent_matrix(x, xi), rtol=0, atol=1e-12)
    # central difference of numpy's SVD (signs aligned with u): O(h^2) ~ 1e-8 truncation
    # with singular-value gaps O(1), rounding eps / h ~ 1e-11
    h = 1e-4
    W, Xi = _matrix(x), _tangent_matrix(x, xi)

    def svd(t):
        a, b, c = np.linalg.svd(W + t * Xi, full_matrices=False)
        sign = np.sign(np.sum(a[:, :K_] * u, axis=0))
        return a[:, :K_] * sign, b[:K_], c[:K_] * sign[:, None]

    for fd, exact in zip((svd(h)[i] - svd(-h)[i] for i in range(3)), (du, ds, dvt)):
        np.testing.assert_allclose(fd / (2 * h), exact, rtol=0, atol=1e-6)


def test_gradient_matches_pymanopt(manifold):
    # pymanopt checks its conversion of random (du, ds, dvt) against its closed form.
    # riemlin at depth 1 gives the same values; at depth N it applies A_W to them.
    gen = np.random.default_rng(4)
    x = manifold.random_point()
    d = (gen.standard_normal((M_, K_)), gen.standard_normal(K_), gen.standard_normal((K_, N_)))
    ours = manifold.euclidean_to_riemannian_gradient(x, d)
    theirs = FixedRankEmbedded(M_, N_, K_).euclidean_to_riemannian_gradient(x, d)
    # pymanopt divides by s_b^2 - s_a^2 (down to 3e-3 at the depth-5 point): agreement
    # to about eps / gap ~ 1e-13 relative
    expected = manifold.metric_operator(x, theirs)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * np.abs(b).max())
    if manifold.depth == 1:
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * np.abs(b).max())


def test_gradient_is_adjoint_of_embedding(manifold):
    """g(grad, xi) = <(du, ds, dvt), embedding(xi)> for any data: the chain rule."""
    gen = np.random.default_rng(5)
    x = manifold.random_point()
    for _ in range(3):
        d = (gen.standard_normal((M_, K_)), gen.standard_normal(K_), gen.standard_normal((K_, N_)))
        xi = manifold.random_tangent_vector(x)
        grad = manifold.euclidean_to_riemannian_gradient(x, d)
        chain = sum(_frobenius(a, b) for a, b in zip(d, manifold.embedding(x, xi)))
        assert manifold.inner_product(x, grad, xi) == pytest.approx(chain, rel=1e-12, abs=1e-12)


def test_hessian_matches_matrix_path(manifold):
    # pymanopt's test of euclidean_to_riemannian_hessian is empty (its conversion cannot
    # take autodiff data). riemlin's equals the Hessian computed from the matrix W by an
    # independent path (Weingarten formula and the change of connection).
    B = np.random.default_rng(6).standard_normal((M_, N_))

    def f(W):
        return 0.5 * anp.sum((W - B) ** 2) + 0.25 * anp.sum(W**4)

    on_usv = pymanopt.Problem(
        manifold, pymanopt.function.autograd(manifold)(lambda u, s, vt: f(u @ anp.diag(s) @ vt))
    )
    on_matrix = matrix_problem(manifold, f)
    x = manifold.random_point()
    xi = manifold.random_tangent_vector(x)
    a, b = on_usv.riemannian_hessian(x, xi), on_matrix.riemannian_hessian(x, xi)
    assert manifold.norm(x, a - b) < 1e-11 * manifold.norm(x, b)


@pytest.mark.parametrize("variant", ["svd", "second_order"])
def test_retraction(manifold, variant):
    retr = FixedRankDeepLinear(M_, N_, K_, depth=manifold.depth, retraction=variant)
    x = manifold.random_point()
    xi = manifold.random_tangent_vector(x)
    y = retr.retraction(x, xi)
    np.testing.assert_allclose(y[0].T @ y[0], np.eye(K_), atol=1e-14)
    np.testing.assert_allclose(y[2] @ y[2].T, np.eye(K_), atol=1e-14)
    # pymanopt: R(x, 1e-6 xi) = W + 1e-6 Xi to atol 1e-5. Here the remainder is
    # O(t^2 |xi|^2 / s_min) ~ 1e-11 at t = 1e-6, far below that.
    t = 1e-6
    step = _matrix(retr.retraction(x, t * xi)) - _matrix(x) - t * _tangent_matrix(x, xi)
    assert np.abs(step).max() < 1e-10
    # pymanopt's retraction is the same point (its older QR variant, plus eps added to
    # each singular value); riemlin's variant is Manopt's current one, and
    # "second_order" first corrects the step by -C(xi, xi)/2 (no change at depth 1)
    if variant == "svd" or manifold.depth == 1:
        theirs = FixedRankEmbedded(M_, N_, K_).retraction(x, xi)
        np.testing.assert_allclose(_matrix(y), _matrix(theirs), rtol=0, atol=1e-13)
    else:
        assert (
            np.abs(_matrix(y) - _matrix(FixedRankEmbedded(M_, N_, K_).retraction(x, xi))).max()
            > 1e-3
        )


def test_a_step_that_drops_the_rank_raises(manifold):
    # Not a property pymanopt tests, but one code moving over meets: pymanopt adds eps to
    # every singular value and returns a "point" with s = 2.2e-16 when W + xi has rank
    # below k; riemlin raises a ValueError that says to take a shorter step.
    x = manifold.random_point()
    to_zero = FixedRankTangentVector(np.zeros((M_, K_)), -np.diag(x[1]), np.zeros((N_, K_)))
    if PYMANOPT_22:
        assert np.all(FixedRankEmbedded(M_, N_, K_).retraction(x, to_zero)[1] < 1e-15)
    with pytest.raises(ValueError, match="numerical rank below k"):
        manifold.retraction(x, to_zero)


# ------------------------------------------------------ tests/test_problem_backend_interface.py
@pytest.fixture
def product_problem(manifold):
    """pymanopt's Product([FixedRankEmbedded, Euclidean(n)]) setup with a riemlin factor."""
    m, n, k = 20, 10, 3
    gen = np.random.default_rng(8)
    A = gen.standard_normal((m, n))
    factor = FixedRankDeepLinear(m, n, k, depth=manifold.depth, rng=9)

    def f(u, s, vt, z):
        return anp.linalg.norm(((u * s) @ vt - A) @ z) ** 2

    def point():  # Euclidean's random_point draws from numpy's global state
        return [factor.random_point(), gen.standard_normal(n)]

    product = Product([factor, Euclidean(n)])
    cost = pymanopt.function.autograd(product)(f)
    return SimpleNamespace(manifold=product, f=f, cost=cost, point=point, shape=(m, n, k))


def test_product_cost(product_problem):
    p = product_problem
    (u, s, vt), z = p.point()
    assert p.cost(u, s, vt, z) == p.f(u, s, vt, z)


def test_product_gradient_shapes(product_problem):
    p = product_problem
    m, n, k = p.shape
    (u, s, vt), z = p.point()
    gu, gs, gvt, gz = p.cost.get_gradient_operator()(u, s, vt, z)
    assert gu.shape == (m, k) and gs.shape == (k,) and gvt.shape == (k, n) and gz.shape == (n,)


def test_product_hessian_shapes(product_problem):
    p = product_problem
    m, n, k = p.shape
    (u, s, vt), z = p.point()
    (a, b, c), d = p.point()
    hu, hs, hvt, hz = p.cost.get_hessian_operator()(u, s, vt, z, a, b, c, d)
    assert hu.shape == (m, k) and hs.shape == (k,) and hvt.shape == (k, n) and hz.shape == (n,)


def test_product_problem_cost(product_problem):
    p = product_problem
    X = p.point()
    (u, s, vt), z = X
    assert pymanopt.Problem(p.manifold, p.cost).cost(X) == p.f(u, s, vt, z)


def test_product_problem_gradient(product_problem):
    p = product_problem
    X = p.point()
    (u, s, vt), z = X
    (gu, gs, gvt), gz = pymanopt.Problem(p.manifold, p.cost).euclidean_gradient(X)
    for a, b in zip((gu, gs, gvt, gz), p.cost.get_gradient_operator()(u, s, vt, z)):
        np.testing.assert_array_equal(a, b)


def test_product_problem_hessian(product_problem):
    # As in pymanopt, the "direction" is a second point: pymanopt's Product does not
    # forward embedding to its factors (it is the identity), so the Hessian operator
    # gets the arrays unchanged.
    p = product_problem
    X, V = p.point(), p.point()
    (u, s, vt), z = X
    (a, b, c), d = V
    (hu, hs, hvt), hz = pymanopt.Problem(p.manifold, p.cost).euclidean_hessian(X, V)
    expected = p.cost.get_hessian_operator()(u, s, vt, z, a, b, c, d)
    for x, y in zip((hu, hs, hvt, hz), expected):
        np.testing.assert_array_equal(x, y)


def test_hessian_along_embedding(manifold):
    # On the manifold alone, Problem.euclidean_hessian(x, xi) is the Hessian-vector
    # product along manifold.embedding(x, xi): for riemlin a direction with the point's
    # shapes. (pymanopt's FixedRankEmbedded hands the operator its (m, 2k), (2k, 2k),
    # (n, 2k) ambient triple, which autograd rejects: see the TrustRegions test below.)
    B = np.random.default_rng(10).standard_normal((M_, N_))

    @pymanopt.function.autograd(manifold)
    def cost(u, s, vt):
        return anp.sum(s) + 0.5 * anp.sum((u @ anp.diag(s) @ vt - B) ** 2)

    x = manifold.random_point()
    xi = manifold.random_tangent_vector(x)
    h = pymanopt.Problem(manifold, cost).euclidean_hessian(x, xi)
    expected = cost.get_hessian_operator()(*x, *manifold.embedding(x, xi))
    for a, b in zip(h, expected):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------ the same code on both classes
_gen = np.random.default_rng(11)
_B = _gen.standard_normal((M_, N_))
_A = _gen.standard_normal((M_, M_))


def _problems(manifold):
    """pymanopt-style problems written once for either class."""

    @pymanopt.function.autograd(manifold)
    def nuclear(u, s, vt):
        return 0.3 * anp.sum(s) + 0.5 * anp.sum((u @ anp.diag(s) @ vt - _B) ** 2)

    @pymanopt.function.autograd(manifold)
    def column(u, s, vt):
        return anp.sum((_A @ u) ** 2)

    @pymanopt.function.numpy(manifold)
    def fit(u, s, vt):
        return 0.5 * np.sum(((u * s) @ vt - _B) ** 2)

    @pymanopt.function.numpy(manifold)
    def fit_gradient(u, s, vt):  # the Riemannian gradient of FixedRankEmbedded
        return manifold.projection((u, s, vt), (u * s) @ vt - _B)

    return {
        "nuclear norm + fit (autograd)": pymanopt.Problem(manifold, nuclear),
        "column space (autograd)": pymanopt.Problem(manifold, column),
        "fit by projection (numpy)": pymanopt.Problem(
            manifold, fit, riemannian_gradient=fit_gradient
        ),
    }


_SV = np.linalg.svd(_B, compute_uv=False)
#: The minima of the problems over M_k.
MINIMA = {
    # soft-thresholded singular values: sum_{i<=k} (lam s_i - lam^2 / 2) + the tail
    "nuclear norm + fit (autograd)": np.sum(0.3 * _SV[:K_] - 0.045) + 0.5 * np.sum(_SV[K_:] ** 2),
    # Ky Fan: the sum of the k smallest eigenvalues of A^T A
    "column space (autograd)": np.sum(np.linalg.eigvalsh(_A.T @ _A)[:K_]),
    # Eckart-Young
    "fit by projection (numpy)": 0.5 * np.sum(_SV[K_:] ** 2),
}


@pytest.mark.parametrize("name", list(MINIMA))
def test_same_iterates_at_depth_one(name):
    """Code written for FixedRankEmbedded runs unchanged at depth 1, with the same iterates.

    Five steepest-descent steps from one point: both classes compute the same gradients
    (riemlin without pymanopt's division by s_b^2 - s_a^2, which costs that ~1e-15 here)
    and retract to the same points (pymanopt adds eps to s), so the iterates agree to
    rounding.
    """
    ours, theirs = FixedRankDeepLinear(M_, N_, K_, depth=1, rng=12), FixedRankEmbedded(M_, N_, K_)
    x0 = ours.random_point()
    a, b = _problems(ours)[name], _problems(theirs)[name]
    ra = SteepestDescent(max_iterations=5, verbosity=0).run(a, initial_point=x0)
    rb = SteepestDescent(max_iterations=5, verbosity=0).run(b, initial_point=x0)
    np.testing.assert_allclose(_matrix(ra.point), _matrix(rb.point), rtol=0, atol=1e-12)


@pytest.mark.parametrize("solver", [ConjugateGradient, TrustRegions])
def test_same_problems_reach_known_minima(manifold, solver):
    # at gradient norm 1e-9 the cost is within ~1e-18 / (smallest Hessian eigenvalue) of
    # the minimum: the relative tolerance 1e-10 is rounding of the line search's costs
    opts = dict(verbosity=0, min_gradient_norm=1e-9)
    for name, problem in _problems(manifold).items():
        if name == "fit by projection (numpy)" and (solver is TrustRegions or manifold.depth > 1):
            continue  # no Hessian; the embedded gradient is wrong at depth > 1 (see below)
        result = solver(**opts).run(problem, initial_point=manifold.random_point())
        assert result.cost == pytest.approx(MINIMA[name], rel=1e-10), name


def test_retraction_keeps_the_frames_orthonormal():
    # pymanopt 2.2.1's retraction takes the QR factorization of Up alone; as the steps
    # shrink near a minimum, the rounding-level part of Up along u is amplified, and u
    # drifts off the orthonormal frames (by a factor ~30 every 50 steps here). Then
    # sum((A u)^2) is no longer the column-space cost: conjugate gradients on
    # FixedRankEmbedded end below the minimum (0.65 < 1.55 in this problem). riemlin's
    # retraction (Manopt's current QR of [u, Up]) keeps the frames orthonormal to rounding
    # and reaches the minimum.
    name = "column space (autograd)"
    ours, theirs = FixedRankDeepLinear(M_, N_, K_, depth=1, rng=12), FixedRankEmbedded(M_, N_, K_)
    x0 = ours.random_point()
    opts = dict(max_iterations=1000, min_gradient_norm=1e-9, verbosity=0)
    mine = ConjugateGradient(**opts).run(_problems(ours)[name], initial_point=x0)
    u = mine.point[0]
    assert np.abs(u.T @ u - np.eye(K_)).max() < 1e-13
    assert mine.cost == pytest.approx(MINIMA[name], rel=1e-10)
    if PYMANOPT_22:
        other = ConjugateGradient(**opts).run(_problems(theirs)[name], initial_point=x0)
        u = other.point[0]
        assert np.abs(u.T @ u - np.eye(K_)).max() > 1e-6
        assert other.cost < 0.5 * MINIMA[name]


def test_trust_regions_on_riemlin_only():
    # pymanopt 2.2.1: FixedRankEmbedded hands autograd its ambient triple as the Hessian
    # direction, of the wrong shapes, so TrustRegions stops with a ValueError (its
    # docstring says it is not compatible). riemlin's embedding is a direction in
    # (u, s, vt) space and its conversion is exact: TrustRegions runs.
    theirs = FixedRankEmbedded(M_, N_, K_)
    if PYMANOPT_22:
        with pytest.raises(ValueError, match="shape"):
            TrustRegions(verbosity=0).run(_problems(theirs)["nuclear norm + fit (autograd)"])
    ours = FixedRankDeepLinear(M_, N_, K_, depth=1, rng=13)
    result = TrustRegions(verbosity=0, min_gradient_norm=1e-10).run(
        _problems(ours)["nuclear norm + fit (autograd)"]
    )
    assert result.stopping_criterion.startswith("Terminated - min grad norm")


@pytest.mark.parametrize("depth", [2, 5])
def test_projection_is_not_the_gradient_at_depth_above_one(depth):
    # A Riemannian gradient written as projection(x, G), right for FixedRankEmbedded and
    # at depth 1, is the embedded gradient: under the deep metric it fails the Taylor
    # check. riemannian_gradient_from_matrix gives A_W(P_T G), which passes.
    manifold = FixedRankDeepLinear(M_, N_, K_, depth=depth, rng=14)
    embedded = _problems(manifold)["fit by projection (numpy)"]
    x = manifold.random_point()
    wrong = check_gradient(embedded, x, rng=15)
    assert not wrong.passed and wrong.slope < 1.5, wrong.message
    right = matrix_problem(manifold, lambda W: 0.5 * anp.sum((W - _B) ** 2))
    assert check_gradient(right, x, rng=15).passed
