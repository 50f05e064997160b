"""The shared parametrized suite for FixedRankDeepLinear.

Sizes (5, 4, 2), (30, 20, 3), (200, 150, 10); depths 1, 2, 3, 7, 50; two seeds.
"""

import autograd.numpy as anp
import numpy as np
import pymanopt
import pytest
import scipy.sparse as sp
from conftest import fit_loglog_slope
from pymanopt.manifolds import FixedRankEmbedded
from pymanopt.optimizers import ConjugateGradient, SteepestDescent

from riemlin import FixedRankDeepLinear, FixedRankTangentVector, metric_weights
from riemlin.reference import metric_operator_dense, metric_operator_inverse_dense


def _setup(size, depth, seed):
    m, n, k = size
    manifold = FixedRankDeepLinear(m, n, k, depth, rng=seed)
    x = manifold.random_point()
    return manifold, x


def _frob(manifold, x, a, b):
    return np.sum(manifold.tangent_to_matrix(x, a) * manifold.tangent_to_matrix(x, b))


# ---------------------------------------------------------------- the metric
def test_metric_operator_matches_dense_reference(size, depth, seed):
    """A_W and A_W^{-1} in SVD coordinates equal the literal fractional-power sum."""
    manifold, x = _setup(size, depth, seed)
    W = manifold.point_to_matrix(x)
    xi = manifold.random_tangent_vector(x)
    Z = manifold.tangent_to_matrix(x, xi)
    got = manifold.tangent_to_matrix(x, manifold.metric_operator(x, xi))
    want = metric_operator_dense(W, Z, depth)
    assert np.linalg.norm(got - want) <= 1e-10 * np.linalg.norm(want)
    got_inv = manifold.tangent_to_matrix(x, manifold.metric_operator_inverse(x, xi))
    want_inv = metric_operator_inverse_dense(W, Z, depth)
    assert np.linalg.norm(got_inv - want_inv) <= 1e-10 * np.linalg.norm(want_inv)


def test_metric_is_symmetric_positive_definite(size, depth, seed):
    manifold, x = _setup(size, depth, seed)
    vecs = [manifold.random_tangent_vector(x) for _ in range(6)]
    gram = np.array([[manifold.inner_product(x, a, b) for b in vecs] for a in vecs])
    np.testing.assert_allclose(gram, gram.T, rtol=1e-13, atol=0)
    assert np.linalg.eigvalsh(gram).min() > 0
    np.testing.assert_allclose(np.diag(gram), 1.0, rtol=1e-12)


def test_metric_against_frobenius(size, depth, seed):
    """g(A xi, eta) = <xi, eta>_F and g(xi, eta) = <A^{-1} xi, eta>_F."""
    manifold, x = _setup(size, depth, seed)
    xi = manifold.random_tangent_vector(x)
    eta = manifold.random_tangent_vector(x)
    frob = _frob(manifold, x, xi, eta)
    np.testing.assert_allclose(
        manifold.inner_product(x, manifold.metric_operator(x, xi), eta),
        frob,
        rtol=1e-10,
        atol=1e-12 * manifold.norm(x, manifold.metric_operator(x, xi)),
    )
    np.testing.assert_allclose(
        manifold.inner_product(x, xi, eta),
        _frob(manifold, x, manifold.metric_operator_inverse(x, xi), eta),
        rtol=1e-10,
        atol=1e-12,
    )


# ---------------------------------------------------------------- depth 1
def test_depth_one_reproduces_fixed_rank_embedded(size, seed):
    m, n, k = size
    ours = FixedRankDeepLinear(m, n, k, depth=1, rng=seed)
    theirs = FixedRankEmbedded(m, n, k)
    x = ours.random_point()
    xi = ours.random_tangent_vector(x)
    eta = ours.random_tangent_vector(x)
    np.testing.assert_allclose(
        ours.inner_product(x, xi, eta), theirs.inner_product(x, xi, eta), rtol=1e-12
    )
    B = np.random.default_rng(seed + 100).standard_normal((m, n))
    u, s, vt = x
    egrad = (
        ((u * s) @ vt - B) @ vt.T * s,
        np.diag(u.T @ ((u * s) @ vt - B) @ vt.T),
        (s[:, None] * (u.T @ ((u * s) @ vt - B))),
    )
    ours_grad = ours.euclidean_to_riemannian_gradient(x, egrad)
    theirs_grad = theirs.euclidean_to_riemannian_gradient(x, egrad)
    for a, b in zip(ours_grad, theirs_grad):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
    # retraction: both are the truncated SVD of W + xi (pymanopt adds eps to s)
    y_ours = ours.point_to_matrix(ours.retraction(x, 0.3 * xi))
    yt = theirs.retraction(x, 0.3 * xi)
    y_theirs = (yt[0] * yt[1]) @ yt[2]
    np.testing.assert_allclose(y_ours, y_theirs, rtol=0, atol=1e-12 * np.abs(y_ours).max())


def test_gradient_conversion_has_no_near_equal_division():
    """pymanopt divides by s_j^2 - s_i^2; riemlin's conversion does not lose digits."""
    m, n, k = 8, 7, 3
    ours = FixedRankDeepLinear(m, n, k, depth=1, rng=5)
    theirs = FixedRankEmbedded(m, n, k)
    u, _, vt = ours.random_point()
    s = np.array([1.0 + 1e-12, 1.0, 0.5])
    x = (u, s, vt)
    G = np.random.default_rng(6).standard_normal((m, n))
    egrad = (G @ vt.T * s, np.diag(u.T @ G @ vt.T), s[:, None] * (u.T @ G))
    exact = ours.projection(x, G)
    err_ours = max(
        np.abs(a - b).max() for a, b in zip(ours.euclidean_to_riemannian_gradient(x, egrad), exact)
    )
    err_theirs = max(
        np.abs(a - b).max()
        for a, b in zip(theirs.euclidean_to_riemannian_gradient(x, egrad), exact)
    )
    assert err_ours < 1e-14
    assert err_theirs > 1e-6


# ---------------------------------------------------------------- gradients
def _remainder_slope(manifold, x, cost, grad):
    xi = manifold.random_tangent_vector(x, rng=123)
    f0 = cost(x)
    df = manifold.inner_product(x, grad, xi)
    t = np.logspace(-4, -1, 7)
    rem = [abs(cost(manifold.retraction(x, ti * xi)) - f0 - ti * df) for ti in t]
    return fit_loglog_slope(t, rem)


def test_gradient_autograd_on_usv(size, depth, seed):
    """Taylor remainder of the pymanopt-convention gradient has slope 2."""
    manifold, x = _setup(size, depth, seed)
    m, n, _ = size
    B = np.random.default_rng(seed).standard_normal((m, n))

    @pymanopt.function.autograd(manifold)
    def cost(u, s, vt):
        W = u @ anp.diag(s) @ vt
        return 0.5 * anp.sum((W - B) ** 2) + 0.25 * anp.sum(W**4)

    problem = pymanopt.Problem(manifold, cost)
    grad = problem.riemannian_gradient(x)
    slope = _remainder_slope(manifold, x, problem.cost, grad)
    assert abs(slope - 2) < 0.1, slope


@pytest.mark.parametrize("form", ["dense", "sparse", "lowrank"])
def test_gradient_from_matrix(size, depth, seed, form):
    manifold, x = _setup(size, depth, seed)
    m, n, k = size
    rng = np.random.default_rng(seed + 7)
    if form == "dense":
        B = rng.standard_normal((m, n))

        def f(W):
            return 0.5 * np.sum((W - B) ** 2) + 0.25 * np.sum(W**4)

        def egrad(W):
            return W - B + W**3

    elif form == "sparse":
        mask = sp.random(m, n, density=0.3, random_state=seed, format="csr")
        rows, cols = mask.nonzero()
        vals = rng.standard_normal(rows.size)

        def f(W):
            r = W[rows, cols] - vals
            return 0.5 * np.sum(r**2) + 0.25 * np.sum(r**4)

        def egrad(W):
            r = W[rows, cols] - vals
            return sp.csr_matrix((r + r**3, (rows, cols)), shape=(m, n))

    else:
        Uc = rng.standard_normal((m, 2))
        Vc = rng.standard_normal((n, 2))

        def f(W):
            return np.sum(Uc * (W @ Vc)) + 0.25 * np.sum((W @ W.T) ** 2)

    def cost(point):
        return f(manifold.point_to_matrix(point))

    if form == "lowrank":
        u, s, vt = x
        G = (np.hstack((Uc, u)), np.diag(np.concatenate((np.ones(2), s**3))), np.hstack((Vc, vt.T)))
    else:
        G = egrad(manifold.point_to_matrix(x))
    grad = manifold.riemannian_gradient_from_matrix(x, G)
    slope = _remainder_slope(manifold, x, cost, grad)
    assert abs(slope - 2) < 0.1, slope


def test_wrong_gradient_fails_the_slope_check():
    """The slope check is not vacuous: the embedded gradient under the deep metric fails."""
    manifold = FixedRankDeepLinear(6, 5, 2, depth=3, rng=0)
    x = manifold.random_point()
    B = np.random.default_rng(0).standard_normal((6, 5))

    def cost(point):
        return 0.5 * np.sum((manifold.point_to_matrix(point) - B) ** 2)

    G = manifold.point_to_matrix(x) - B
    wrong = manifold.projection(x, G)  # missing A_W
    assert abs(_remainder_slope(manifold, x, cost, wrong) - 2) > 0.5


# ---------------------------------------------------------------- solvers
@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize("solver", [SteepestDescent, ConjugateGradient])
def test_solvers_reach_eckart_young(depth, solver):
    m, n, k = 12, 9, 3
    B = np.random.default_rng(0).standard_normal((m, n))
    sv = np.linalg.svd(B, compute_uv=False)
    fstar = 0.5 * np.sum(sv[k:] ** 2)
    manifold = FixedRankDeepLinear(m, n, k, depth, rng=1)

    @pymanopt.function.autograd(manifold)
    def cost(u, s, vt):
        return 0.5 * anp.sum((u @ anp.diag(s) @ vt - B) ** 2)

    result = solver(verbosity=0, min_gradient_norm=1e-12, max_iterations=5000).run(
        pymanopt.Problem(manifold, cost), initial_point=manifold.random_point()
    )
    assert (result.cost - fstar) / fstar < 1e-8


# ---------------------------------------------------------------- other methods
def test_retraction_first_order_and_stays_on_manifold(size, depth, seed):
    manifold, x = _setup(size, depth, seed)
    xi = manifold.random_tangent_vector(x)
    W = manifold.point_to_matrix(x)
    Z = manifold.tangent_to_matrix(x, xi)
    t = np.logspace(-5, -2, 4)
    err = []
    for ti in t:
        y = manifold.retraction(x, ti * xi)
        u, s, vt = y
        np.testing.assert_allclose(u.T @ u, np.eye(size[2]), atol=1e-13)
        np.testing.assert_allclose(vt @ vt.T, np.eye(size[2]), atol=1e-13)
        assert np.all(np.diff(s) <= 0) and s[-1] > 0
        err.append(np.linalg.norm(manifold.point_to_matrix(y) - W - ti * Z))
    assert abs(fit_loglog_slope(t, err) - 2) < 0.1  # R(x, t xi) = W + t xi + O(t^2)
    zero = manifold.retraction(x, manifold.zero_vector(x))
    np.testing.assert_allclose(manifold.point_to_matrix(zero), W, atol=1e-13 * np.abs(W).max())


def test_transport_projection_and_tangent_space(size, depth, seed):
    manifold, x = _setup(size, depth, seed)
    y = manifold.random_point()
    xi = manifold.random_tangent_vector(x)
    moved = manifold.transport(x, y, xi)
    u, _, vt = y
    assert np.abs(u.T @ moved.Up).max() < 1e-12 * (1 + np.abs(moved.Up).max())
    assert np.abs(vt @ moved.Vp).max() < 1e-12 * (1 + np.abs(moved.Vp).max())
    same = manifold.transport(x, x, xi)
    for a, b in zip(same, xi):
        np.testing.assert_allclose(a, b, atol=1e-12)
    # projection is idempotent and the identity on tangent vectors
    Z = manifold.tangent_to_matrix(x, xi)
    for a, b in zip(manifold.projection(x, Z), xi):
        np.testing.assert_allclose(a, b, atol=1e-12)
    noisy = (xi.Up + x[0] @ np.ones((size[2], size[2])), xi.M, xi.Vp)
    for a, b in zip(manifold.to_tangent_space(x, noisy), xi):
        np.testing.assert_allclose(a, b, atol=1e-12)
    # zero vector
    assert manifold.norm(x, manifold.zero_vector(x)) == 0.0


def test_projection_forms_agree():
    manifold = FixedRankDeepLinear(9, 7, 2, depth=3, rng=0)
    x = manifold.random_point()
    rng = np.random.default_rng(1)
    U, S, V = rng.standard_normal((9, 3)), rng.standard_normal((3, 3)), rng.standard_normal((7, 3))
    dense = U @ S @ V.T
    for form in [(U, S, V), sp.csr_matrix(dense), (U, np.diag(S).copy() * 0 + 1, V)]:
        ref = dense if not isinstance(form, tuple) or form[1].ndim == 2 else U @ V.T
        for a, b in zip(manifold.projection(x, form), manifold.projection(x, ref)):
            np.testing.assert_allclose(a, b, atol=1e-12)


def test_random_point_is_seeded_and_spread():
    a = FixedRankDeepLinear(10, 8, 3, rng=4).random_point()
    b = FixedRankDeepLinear(10, 8, 3, rng=4).random_point()
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)
    manifold = FixedRankDeepLinear(10, 8, 3)
    for spread in [1.0, 10.0, 1e6]:
        s = manifold.random_point(rng=0, spread=spread)[1]
        assert s.max() / s.min() <= spread * (1 + 1e-12)
        assert s.min() >= spread**-0.5 * (1 - 1e-12)
    with pytest.raises(ValueError, match="spread"):
        manifold.random_point(spread=0.5)


def test_point_from_matrix_roundtrip():
    manifold = FixedRankDeepLinear(6, 5, 2, depth=2)
    x = manifold.random_point(rng=2)
    W = manifold.point_to_matrix(x)
    y = manifold.point_from_matrix(W)
    np.testing.assert_allclose(manifold.point_to_matrix(y), W, atol=1e-14)
    np.testing.assert_allclose(y.s, x.s, rtol=1e-13)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        ((5.0, 4, 2), {}, TypeError, "m must be an int"),
        ((5, 0, 2), {}, ValueError, "n must be >= 1"),
        ((5, 4, 5), {}, ValueError, "k must satisfy"),
        ((5, 4, 2), {"depth": 0}, ValueError, "depth must be >= 1"),
        ((5, 4, 2), {"depth": 2.5}, TypeError, "depth must be an int"),
        ((5, 4, True), {}, TypeError, "k must be an int"),
        ((5, 4, 2), {"rng": "seed"}, TypeError, "rng must be"),
    ],
)
def test_bad_constructor_arguments(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        FixedRankDeepLinear(*args, **kwargs)


def test_bad_points_and_vectors():
    manifold = FixedRankDeepLinear(5, 4, 2, depth=2, rng=0)
    x = manifold.random_point()
    xi = manifold.random_tangent_vector(x)
    u, s, vt = x
    with pytest.raises(ValueError, match=r"point.u must have shape \(5, 2\)"):
        manifold.norm((u[:4], s, vt), xi)
    with pytest.raises(ValueError, match="positive singular values"):
        manifold.norm((u, np.array([1.0, -1.0]), vt), xi)
    with pytest.raises(TypeError, match="triple"):
        manifold.norm(u, xi)
    bad = u.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        manifold.norm((bad, s, vt), xi)
    with pytest.raises(ValueError, match=r"tangent_vector.M must have shape \(2, 2\)"):
        manifold.metric_operator(x, (xi.Up, np.zeros((3, 3)), xi.Vp))
    with pytest.raises(ValueError, match="non-finite"):
        manifold.metric_operator(x, (xi.Up, np.full((2, 2), np.inf), xi.Vp))
    with pytest.raises(ValueError, match="ambient 5x4"):
        manifold.projection(x, np.zeros((4, 5)))
    with pytest.raises(ValueError, match="non-finite"):
        manifold.riemannian_gradient_from_matrix(x, np.full((5, 4), np.nan))
    with pytest.raises(ValueError, match="S must have shape"):
        manifold.projection(x, (np.zeros((5, 2)), np.zeros((3, 3)), np.zeros((4, 2))))
    with pytest.raises(TypeError, match="dense ndarray, a scipy.sparse"):
        manifold.projection(x, "G")
    with pytest.raises(ValueError, match="numerical rank 1 < k=2"):
        manifold.point_from_matrix(np.outer(np.arange(1.0, 6.0), np.ones(4)))
    with pytest.raises(ValueError, match=r"W must have shape \(5, 4\)"):
        manifold.point_from_matrix(np.zeros((4, 4)))
    with pytest.raises(TypeError, match="riemannian_gradient_from_matrix"):
        manifold.euclidean_to_riemannian_gradient(x, np.zeros((5, 4)))


def test_check_finite_off_skips_the_scan():
    manifold = FixedRankDeepLinear(5, 4, 2, depth=2, rng=0, check_finite=False)
    x = manifold.random_point()
    xi = manifold.random_tangent_vector(x)
    out = manifold.metric_operator(x, (xi.Up, np.full((2, 2), np.inf), xi.Vp))
    assert np.isinf(out.M).all()


def test_huge_finite_entries_are_not_mistaken_for_nan():
    """The fast finiteness test squares entries; 1e200 must still count as finite."""
    manifold = FixedRankDeepLinear(5, 4, 2, depth=2, rng=0)
    x = manifold.random_point()
    xi = manifold.random_tangent_vector(x)
    big = (xi.Up * 1e200, xi.M, xi.Vp)
    out = manifold.metric_operator(x, big)
    np.testing.assert_allclose(out.Up, big[0] * x.s ** (2 * (2 - 1) / 2), rtol=1e-14)
    with pytest.raises(ValueError, match="overflows"):
        manifold.inner_product(x, big, big)  # 1e400 is not representable


def test_weights_follow_the_point():
    """The per-point cache is keyed by the singular values, not by object identity."""
    manifold = FixedRankDeepLinear(6, 5, 2, depth=3, rng=0)
    x = manifold.random_point()
    y = manifold.random_point()
    xi = manifold.random_tangent_vector(x)
    for point in (x, y, x):
        K, c = metric_weights(point.s, 3)
        out = manifold.metric_operator(point, xi)
        np.testing.assert_allclose(out.M, K * xi.M, rtol=1e-15)
        np.testing.assert_allclose(out.Up, xi.Up * c, rtol=1e-15)


def test_retraction_stable_for_tiny_singular_values_and_ill_conditioned_steps():
    """Manopt's QR-of-[u, Up] retraction keeps orthonormal factors where pymanopt's loses them.

    Up nearly parallel to u (an ill-conditioned, slightly non-tangent step) and singular values
    near 1e-10: QR of Up alone loses orthogonality to u, QR of [u, Up] does not.
    """
    m, n, k = 40, 30, 3
    ours = FixedRankDeepLinear(m, n, k, depth=2, rng=0)
    theirs = FixedRankEmbedded(m, n, k)
    u, _, vt = ours.random_point()
    s = np.array([1.0, 1e-10, 5e-11])
    x = (u, s, vt)
    rng = np.random.default_rng(1)
    Up = 1e-9 * (u @ rng.standard_normal((k, k))) + 1e-12 * rng.standard_normal((m, k))
    Vp = 1e-12 * rng.standard_normal((n, k))
    xi = FixedRankTangentVector(Up, np.zeros((k, k)), Vp)
    y = ours.retraction(x, xi)
    yt = theirs.retraction(x, xi)
    err_ours = max(np.abs(y[0].T @ y[0] - np.eye(k)).max(), np.abs(y[2] @ y[2].T - np.eye(k)).max())
    err_theirs = max(
        np.abs(yt[0].T @ yt[0] - np.eye(k)).max(), np.abs(yt[2] @ yt[2].T - np.eye(k)).max()
    )
    assert err_ours < 1e-13
    # the point is the best rank-k approximation of W + xi (dense truncated SVD)
    Uw, sw, Vwt = np.linalg.svd((u * s) @ vt + Up @ vt + u @ Vp.T)
    want = (Uw[:, :k] * sw[:k]) @ Vwt[:k]
    assert np.linalg.norm(ours.point_to_matrix(y) - want) < 1e-14 * np.linalg.norm(want)
    assert err_theirs > 1e3 * err_ours


def test_retraction_reports_a_step_that_drops_the_rank():
    manifold = FixedRankDeepLinear(5, 4, 2, depth=2, rng=0)
    x = manifold.random_point()
    u, s, vt = x
    # xi = -s_2 u_2 v_2^T, so W + xi has rank 1
    M = np.zeros((2, 2))
    M[1, 1] = -s[1]
    xi = FixedRankTangentVector(np.zeros((5, 2)), M, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="numerical rank below k=2"):
        manifold.retraction(x, xi)
