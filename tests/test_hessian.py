"""The exact Riemannian Hessian under the deep-linear metric (riemlin.geometry.hessian)."""

import itertools

import autograd
import autograd.numpy as anp
import mpmath
import numpy as np
import pymanopt
import pytest
import scipy.linalg
import scipy.sparse as sp

from riemlin import (
    FixedRankDeepLinear,
    check_hessian,
    check_manifold,
    matrix_problem,
    record_gradient_norms,
)
from riemlin import networks as fac
from riemlin.geometry.hessian import hessian_weights, power_divided_differences
from riemlin.geometry.manifold import FixedRankPoint, FixedRankTangentVector

SIZES = [(6, 5, 3), (9, 4, 2), (12, 10, 4)]
DEPTHS = [1, 2, 3, 5, 20]


def quartic(B):
    """A smooth non-quadratic cost on W, with its gradient and Hessian-vector product."""

    def f(W):
        return 0.5 * anp.sum((W - B) ** 2) + 0.25 * anp.sum(W**4)

    def grad(W):
        return W - B + W**3

    def hvp(W, Xi):
        return Xi + 3 * W**2 * Xi

    return f, grad, hvp


def setup(m, n, k, depth, seed=0, **kw):
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=seed, **kw)
    rng = np.random.default_rng(seed + 100)
    B = rng.standard_normal((m, n))
    x = manifold.random_point()
    return manifold, x, (x[0] * x[1]) @ x[2], quartic(B)


def hess(manifold, x, W, funcs, xi):
    _, grad, hvp = funcs
    return manifold.riemannian_hessian_from_matrix(
        x, grad(W), hvp(W, manifold.tangent_to_matrix(x, xi)), xi
    )


# ---------------------------------------------------------------- divided differences
def h_brute(points, d):
    """Complete homogeneous symmetric polynomial by its defining sum, in mpmath."""
    if d < 0:
        return mpmath.mpf(0)
    total = mpmath.mpf(0)
    for exps in itertools.product(range(d + 1), repeat=len(points)):
        if sum(exps) == d:
            term = mpmath.mpf(1)
            for p, e in zip(points, exps):
                term *= mpmath.mpf(p) ** e
            total += term
    return total


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 12])
def test_power_divided_differences_match_the_defining_sums(n):
    q = np.array([1.3, 0.7, 0.7 + 1e-13, 0.05, 0.0])
    E, T = power_divided_differences(q, n)
    mpmath.mp.dps = 40
    for a, b in itertools.product(range(q.size), repeat=2):
        assert E[a, b] == pytest.approx(float(h_brute([q[a], q[b]], n - 1)), rel=1e-14, abs=0)
    for a, b, c in itertools.product(range(q.size), repeat=3):
        exact = float(h_brute([q[a], q[b], q[c]], n - 2))
        assert T[a, b, c] == pytest.approx(exact, rel=1e-14, abs=1e-300)


@pytest.mark.parametrize("depth", [2, 3, 7, 50, 1000])
def test_hessian_weights_match_high_precision_divided_differences(depth):
    # Distinct points: the divided difference sum_i x_i^N / prod_{j != i}(x_i - x_j) in
    # 80-digit arithmetic; a near-coincident pair checks the confluent limit.
    s = np.array([3.0, 1.0 + 1e-9, 1.0, 0.02])
    T, F = hessian_weights(s, depth)
    mpmath.mp.dps = 80
    N = depth
    p = [mpmath.mpf(x) ** (mpmath.mpf(2) / N) for x in s]

    def dd(pts, power):
        if len(set(pts)) < len(pts):
            return None
        return sum(pi**power / mpmath.fprod([pi - pj for pj in pts if pj is not pi]) for pi in pts)

    worst = 0.0
    for a, c, b in itertools.product(range(4), repeat=3):
        exact = dd([p[a], p[c], p[b]], N)
        if exact is not None:
            worst = max(worst, abs(T[a, c, b] / float(s[c] * exact) - 1))
    for c, b in itertools.product(range(4), repeat=2):
        exact = dd([p[c], p[b]], N - 1)
        if exact is not None:
            worst = max(worst, abs(F[c, b] / float(s[c] * exact) - 1))
    # Separated-point divided differences in mpmath lose digits when p_b ~ p_c (1e-9
    # apart), so compare only exactly distinct triples; the powering is a sum of
    # nonnegative terms, good to ~log2(N) * few ulps.
    assert worst < 1e-12
    assert np.all(np.isfinite(T)) and np.all(T >= 0) and np.all(F >= 0)


def test_hessian_weights_depth_one_and_two():
    s = np.array([2.0, 0.5])
    T, F = hessian_weights(s, 1)
    assert not T.any() and not F.any()
    T, F = hessian_weights(s, 2)  # h_0 = 1: T[a,c,b] = F[c,b] = s_c
    np.testing.assert_allclose(T, np.broadcast_to(s[None, :, None], (2, 2, 2)), rtol=1e-15)
    np.testing.assert_allclose(F, np.broadcast_to(s[:, None], (2, 2)), rtol=1e-15)


# ---------------------------------------------------------------- structure
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("depth", DEPTHS)
def test_hessian_is_self_adjoint_and_linear(size, depth):
    manifold, x, W, funcs = setup(*size, depth)
    a, b = manifold.random_tangent_vector(x), manifold.random_tangent_vector(x)
    ha, hb = hess(manifold, x, W, funcs, a), hess(manifold, x, W, funcs, b)
    lhs, rhs = manifold.inner_product(x, ha, b), manifold.inner_product(x, a, hb)
    scale = manifold.norm(x, ha) * manifold.norm(x, b)
    assert abs(lhs - rhs) <= 1e-10 * scale
    lin = hess(manifold, x, W, funcs, 2.0 * a - 3.0 * b) - (2.0 * ha - 3.0 * hb)
    assert manifold.norm(x, lin) <= 1e-12 * (manifold.norm(x, ha) + manifold.norm(x, hb))
    u, _, vt = x
    assert np.abs(u.T @ ha[0]).max() <= 1e-12 * np.abs(ha[0]).max()  # tangent
    assert np.abs(vt @ ha[2]).max() <= 1e-12 * np.abs(ha[2]).max()


@pytest.mark.parametrize("size", SIZES)
def test_depth_one_is_the_manopt_weingarten_hessian(size):
    # fixedrankembeddedfactory.ehess2rhess written out densely, independently of riemlin
    manifold, x, W, (_, grad, hvp) = setup(*size, 1)
    xi = manifold.random_tangent_vector(x)
    u, s, vt = x
    v = vt.T
    Up, M, Vp = xi
    G, H = grad(W), hvp(W, manifold.tangent_to_matrix(x, xi))
    Pu, Pv = np.eye(u.shape[0]) - u @ u.T, np.eye(v.shape[0]) - v @ v.T
    expected_M = u.T @ H @ v
    expected_Up = Pu @ H @ v + Pu @ G @ Vp / s
    expected_Vp = Pv @ H.T @ u + Pv @ G.T @ Up / s
    got = manifold.riemannian_hessian_from_matrix(x, G, H, xi)
    np.testing.assert_allclose(got[1], expected_M, atol=1e-12)
    np.testing.assert_allclose(got[0], expected_Up, atol=1e-12)
    np.testing.assert_allclose(got[2], expected_Vp, atol=1e-12)


@pytest.mark.parametrize("depth", [2, 3, 6])
def test_hessian_is_the_second_derivative_of_the_layer_loss_along_horizontal_lifts(depth):
    """Riemannian submersion (user guide, "A derivation through the layers"): on balanced
    factors of any widths >= k, Hess^g f[xi, xi] = d^2/dt^2 f(pi(W_j + t h_j)) with
    h = Dpi^*(A_W^{-1} xi)."""
    m, n, k = 6, 5, 2
    manifold, x, W, funcs = setup(m, n, k, depth, seed=4)
    f = funcs[0]
    widths = [n] + [3 + j for j in range(depth - 1)] + [m]
    layers = fac.balanced_factors(W, widths, rng=7)
    for seed in range(3):
        xi = manifold.random_tangent_vector(x, rng=seed)
        Z = manifold.tangent_to_matrix(x, manifold.metric_operator_inverse(x, xi))
        h = fac.product_adjoint(layers, Z)

        def along(t, h=h):
            out = layers[0] + t * h[0]
            for Wj, hj in zip(layers[1:], h[1:]):
                out = (Wj + t * hj) @ out
            return f(out)

        exact = autograd.grad(autograd.grad(along))(0.0)
        got = manifold.inner_product(x, hess(manifold, x, W, funcs, xi), xi)
        assert got == pytest.approx(exact, rel=1e-10)


# ---------------------------------------------------------------- local chart
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_hessian_matches_a_local_chart_christoffel_computation(depth):
    """Chart W(A, B, C) = (u + u_perp A)(S + B)(v + v_perp C)^T of M_k at m, n, k = 4, 3, 2;
    metric matrix from riemlin's g, Christoffel symbols by central differences,
    Hess_ij = d_i d_j f - Gamma^l_ij d_l f compared with g(Hess[E_i], E_j)."""
    m, n, k = 4, 3, 2
    manifold, x, W0, funcs = setup(m, n, k, depth, seed=2)
    f = funcs[0]
    u, s, vt = x
    uperp = np.linalg.svd(u, full_matrices=True)[0][:, k:]
    vperp = np.linalg.svd(vt.T, full_matrices=True)[0][:, k:]
    na, nb = (m - k) * k, k * k
    d = manifold.dim

    def chart(y):
        A = anp.reshape(y[:na], (m - k, k))
        Bc = anp.reshape(y[na : na + nb], (k, k))
        C = anp.reshape(y[na + nb :], (n - k, k))
        return (u + uperp @ A) @ (anp.diag(s) + Bc) @ (v_plus(C)).T

    def v_plus(C):
        return vt.T + vperp @ C

    jac = autograd.jacobian(chart)

    def metric_matrix(y):
        Wy = chart(y)
        E = jac(y)  # (m, n, d)
        p = manifold.point_from_matrix(Wy)
        vecs = [manifold.projection(p, E[:, :, i]) for i in range(d)]
        return np.array([[manifold.inner_product(p, a, b) for b in vecs] for a in vecs])

    y0 = np.zeros(d)
    Gm = metric_matrix(y0)
    h = 1e-4
    dG = np.empty((d, d, d))  # dG[l] = d_l Gm
    for ell in range(d):
        e = np.zeros(d)
        e[ell] = h
        dG[ell] = (metric_matrix(y0 + e) - metric_matrix(y0 - e)) / (2 * h)
    # Gamma_{r,ij} = 1/2 (d_i G_rj + d_j G_ri - d_r G_ij)
    first = 0.5 * (dG.transpose(1, 0, 2) + dG.transpose(1, 2, 0) - dG)
    Gamma = np.linalg.solve(Gm, first.reshape(d, d * d)).reshape(d, d, d)
    fy = lambda y: f(chart(y))  # noqa: E731
    df = autograd.grad(fy)(y0)
    d2f = autograd.hessian(fy)(y0)
    chart_hess = d2f - np.einsum("lij,l->ij", Gamma, df)

    E = jac(y0)
    vecs = [manifold.projection(x, E[:, :, i]) for i in range(d)]
    ours = np.array(
        [
            [manifold.inner_product(x, hess(manifold, x, W0, funcs, a), b) for b in vecs]
            for a in vecs
        ]
    )
    # central differences of the metric: O(h^2) ~ 1e-8 relative
    assert np.abs(ours - chart_hess).max() <= 1e-6 * np.abs(chart_hess).max()
    if depth > 1:  # the connection term matters: the embedded Hessian fails this check
        m1 = FixedRankDeepLinear(m, n, k, depth=1)
        embedded = np.array(
            [[m1.inner_product(x, hess(m1, x, W0, funcs, a), b) for b in vecs] for a in vecs]
        )
        assert np.abs(embedded - chart_hess).max() > 1e-3 * np.abs(chart_hess).max()


# ---------------------------------------------------------------- critical points
@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize("subset", [(0, 1), (0, 2), (1, 2)])
def test_at_critical_points_the_hessian_is_the_second_derivative_along_curves(depth, subset):
    m, n, k = 6, 5, 2
    rng = np.random.default_rng(11)
    P, _ = np.linalg.qr(rng.standard_normal((m, m)))
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    b = np.array([5.0, 3.0, 2.0, 1.0, 0.5])
    B = (P[:, :5] * b) @ Q.T
    idx = list(subset)
    x = FixedRankPoint(P[:, idx], b[idx], Q[:, idx].T)
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=1)
    f = lambda W: 0.5 * np.sum((W - B) ** 2)  # noqa: E731
    W = manifold.point_to_matrix(x)
    G = W - B
    assert manifold.norm(x, manifold.riemannian_gradient_from_matrix(x, G)) < 1e-12
    basis = [manifold.random_tangent_vector(x, rng=seed) for seed in range(manifold.dim)]
    hessians = [
        manifold.riemannian_hessian_from_matrix(x, G, manifold.tangent_to_matrix(x, xi), xi)
        for xi in basis
    ]
    for xi, H in zip(basis[:4], hessians):
        t = 1e-4  # any curve with velocity xi: the retraction
        fd = (
            f(manifold.point_to_matrix(manifold.retraction(x, t * xi)))
            - 2 * f(W)
            + f(manifold.point_to_matrix(manifold.retraction(x, -t * xi)))
        ) / t**2
        # central difference: truncation ~ t^2 and rounding ~ eps f / t^2, both ~ 1e-7
        assert manifold.inner_product(x, H, xi) == pytest.approx(fd, rel=1e-5, abs=1e-6)
    # index under g: generalized eigenvalues of (g(Hess e_i, e_j), g(e_i, e_j))
    Hm = np.array([[manifold.inner_product(x, h, e) for e in basis] for h in hessians])
    Gram = np.array([[manifold.inner_product(x, a, e) for e in basis] for a in basis])
    eigs = scipy.linalg.eigh(0.5 * (Hm + Hm.T), Gram, eigvals_only=True)
    index = int(np.sum(eigs < -1e-8 * np.abs(eigs).max()))
    if subset == (0, 1):
        assert index == 0 and eigs.min() > 0  # the global minimizer
    else:
        assert index > 0  # a strict saddle


# ---------------------------------------------------------------- connection
@pytest.mark.parametrize("depth", [2, 3, 7])
def test_connection_difference_is_metric_compatible(depth):
    """(D_xi g)(a, b) = g(C(xi, a), b) + g(a, C(xi, b)): the derivative of the metric
    along a curve, applied to projected fields, by central differences."""
    manifold, x, _, _ = setup(7, 5, 3, depth, seed=5)
    xi, a, b = (manifold.random_tangent_vector(x, rng=i) for i in range(3))
    A, B = manifold.tangent_to_low_rank(x, a), manifold.tangent_to_low_rank(x, b)

    def g_along(t):
        p = manifold.retraction(x, t * xi)
        return manifold.inner_product(p, manifold.projection(p, A), manifold.projection(p, B))

    h = 1e-5
    fd = (g_along(h) - g_along(-h)) / (2 * h)
    Ca = manifold.connection_difference(x, xi, a)
    Cb = manifold.connection_difference(x, xi, b)
    got = manifold.inner_product(x, Ca, b) + manifold.inner_product(x, a, Cb)
    assert got == pytest.approx(fd, rel=1e-7, abs=1e-9)
    # symmetric, and zero at depth 1
    Cab, Cba = manifold.connection_difference(x, a, b), manifold.connection_difference(x, b, a)
    assert manifold.norm(x, Cab - Cba) <= 1e-13 * manifold.norm(x, Cab)
    m1 = FixedRankDeepLinear(7, 5, 3, depth=1)
    assert manifold.norm(x, m1.connection_difference(x, a, b)) == 0.0


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_second_order_retraction_makes_the_hessian_check_exact_to_third_order(depth):
    m, n, k = 8, 6, 3
    f, _, _ = quartic(np.random.default_rng(0).standard_normal((m, n)))
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=1, retraction="second_order")
    assert manifold.second_order_retraction
    report = check_hessian(matrix_problem(manifold, f), rng=3)
    assert report.passed, report.message
    assert report.slope > 2.9
    assert check_manifold(manifold, rng=4).passed


@pytest.mark.parametrize("depth", [2, 3])
def test_svd_retraction_is_only_first_order_for_deep_metrics(depth):
    # the same check with the metric projection: Taylor remainder slope 2, so the
    # check_hessian third-order test would (rightly) fail
    m, n, k = 8, 6, 3
    f, _, _ = quartic(np.random.default_rng(0).standard_normal((m, n)))
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=1)
    assert not manifold.second_order_retraction
    report = check_hessian(matrix_problem(manifold, f), rng=3, second_order_retraction=True)
    assert not report.passed and abs(report.slope - 2) < 0.1
    assert check_hessian(matrix_problem(manifold, f), rng=3).passed  # slope-2 check


# ---------------------------------------------------------------- formats
@pytest.mark.parametrize("depth", [1, 3])
def test_dense_sparse_and_low_rank_inputs_agree(depth):
    manifold, x, W, (_, grad, hvp) = setup(9, 7, 2, depth, seed=8)
    xi = manifold.random_tangent_vector(x)
    G, H = grad(W), hvp(W, manifold.tangent_to_matrix(x, xi))
    ref = manifold.riemannian_hessian_from_matrix(x, G, H, xi)
    sparse = manifold.riemannian_hessian_from_matrix(x, sp.csr_matrix(G), sp.coo_matrix(H), xi)
    Ug, Sg, Vgt = np.linalg.svd(G, full_matrices=False)
    Uh, Sh, Vht = np.linalg.svd(H, full_matrices=False)
    lowrank = manifold.riemannian_hessian_from_matrix(
        x, (Ug, np.diag(Sg), Vgt.T), (Uh, np.diag(Sh), Vht.T), xi
    )
    for other in (sparse, lowrank):
        assert manifold.norm(x, other - ref) <= 1e-12 * manifold.norm(x, ref)


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_pymanopt_convention_agrees_with_the_matrix_form(depth):
    manifold, x, W, funcs = setup(7, 6, 3, depth, seed=9)
    f = funcs[0]
    u, s, vt = x

    def f3(u_, s_, vt_):
        return f(u_ @ anp.diag(s_) @ vt_)

    egrad = [autograd.grad(f3, i)(u, s, vt) for i in range(3)]
    for seed in range(3):
        xi = manifold.random_tangent_vector(x, rng=seed)
        d = manifold.embedding(x, xi)

        def grads(t, d=d):
            y = [a + t * b for a, b in zip((u, s, vt), d)]
            return [autograd.grad(f3, i)(*y) for i in range(3)]

        ehess = [autograd.jacobian(lambda t, i=i: grads(t)[i])(0.0) for i in range(3)]
        got = manifold.euclidean_to_riemannian_hessian(x, egrad, ehess, xi)
        ref = hess(manifold, x, W, funcs, xi)
        assert manifold.norm(x, got - ref) <= 1e-10 * manifold.norm(x, ref)
    # the embedding direction moves the product along xi
    Wt = (u + 1e-7 * d[0]) @ np.diag(s + 1e-7 * d[1]) @ (vt + 1e-7 * d[2])
    np.testing.assert_allclose((Wt - W) / 1e-7, manifold.tangent_to_matrix(x, xi), atol=1e-6)


def test_pymanopt_autograd_problem_runs_trust_regions():
    m, n, k = 7, 5, 2
    B = np.random.default_rng(3).standard_normal((m, n))
    manifold = FixedRankDeepLinear(m, n, k, depth=3, rng=0)

    @pymanopt.function.autograd(manifold)
    def cost(u, s, vt):
        return 0.5 * anp.sum((u @ anp.diag(s) @ vt - B) ** 2)

    result = pymanopt.optimizers.TrustRegions(verbosity=0).run(
        pymanopt.Problem(manifold, cost), initial_point=manifold.random_point()
    )
    optimum = 0.5 * np.sum(np.linalg.svd(B, compute_uv=False)[k:] ** 2)
    assert result.cost == pytest.approx(optimum, abs=1e-10)


def test_hessian_is_accurate_when_singular_values_nearly_coincide():
    # No division by s_i^2 - s_j^2: the Hessian is continuous through equal values.
    m, n, k, depth = 8, 6, 3, 3
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=2)
    u, _, vt = manifold.random_point()
    B = np.random.default_rng(5).standard_normal((m, n))
    _, grad, hvp = quartic(B)
    xi = manifold.random_tangent_vector(FixedRankPoint(u, np.array([1.0, 1.0, 0.5]), vt), rng=1)
    out = []
    for s in (np.array([1.0, 1.0, 0.5]), np.array([1.0 + 1e-12, 1.0, 0.5])):
        x = FixedRankPoint(u, s, vt)
        W = (u * s) @ vt
        out.append(
            manifold.riemannian_hessian_from_matrix(
                x, grad(W), hvp(W, manifold.tangent_to_matrix(x, xi)), xi
            )
        )
    x = FixedRankPoint(u, np.array([1.0, 1.0, 0.5]), vt)
    assert manifold.norm(x, out[1] - out[0]) <= 1e-10 * manifold.norm(x, out[0])


# ---------------------------------------------------------------- solvers
def trust_region_gradient_norms(manifold, problem, x0):
    norms = record_gradient_norms(problem)
    opt = pymanopt.optimizers.TrustRegions(verbosity=0, min_gradient_norm=1e-10)
    return opt.run(problem, initial_point=x0), np.array(norms)


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("kind", ["frobenius", "regression"])
def test_trust_regions_converge_quadratically(depth, kind):
    m, n, k = 8, 6, 3
    rng = np.random.default_rng(depth)
    B = rng.standard_normal((m, n))
    X, Y = rng.standard_normal((n, 20)), rng.standard_normal((m, 20))
    if kind == "frobenius":
        cost = lambda W: 0.5 * anp.sum((W - B) ** 2)  # noqa: E731
        optimum = 0.5 * np.sum(np.linalg.svd(B, compute_uv=False)[k:] ** 2)
    else:
        from riemlin import RegressionLoss

        cost = lambda W: 0.5 * anp.sum((W @ X - Y) ** 2)  # noqa: E731
        optimum = RegressionLoss(X, Y).optimum(k)[1]
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=0)
    result, norms = trust_region_gradient_norms(
        manifold, matrix_problem(manifold, cost), manifold.random_point()
    )
    assert result.cost == pytest.approx(optimum, rel=1e-10, abs=1e-10)
    norms = np.array(norms)
    # quadratic convergence: from gradient norm 1e-2 to 1e-10 in at most 4 steps (a
    # linearly convergent method at rate 0.1 would need 8)
    start = np.argmax(norms < 1e-2)
    end = np.argmax(norms < 1e-10)
    assert norms[start] < 1e-2 and norms[end] < 1e-10
    assert end - start <= 4, norms[start : end + 1]


# ---------------------------------------------------------------- bad input
def test_matrix_problem_bad_input():
    manifold = FixedRankDeepLinear(5, 4, 2)
    with pytest.raises(ValueError, match="needs a cost"):
        matrix_problem(manifold)
    with pytest.raises(ValueError, match="needs a cost"):
        matrix_problem(manifold, gradient=lambda W: W)
    with pytest.raises(TypeError, match="gradient must be callable"):
        matrix_problem(manifold, lambda W: 0.0, gradient=3)
    with pytest.raises(TypeError, match="FixedRankDeepLinear"):
        matrix_problem(pymanopt.manifolds.FixedRankEmbedded(5, 4, 2), lambda W: 0.0)
    with pytest.raises(ValueError, match="point_arguments"):
        matrix_problem(manifold, lambda W: 0.0, point_arguments=True)
    with pytest.raises(ValueError, match="without gradient"):
        matrix_problem(manifold, lambda W: 0.0, hessian_vector_product=lambda W, X: X)
    x = manifold.random_point()
    wrong = matrix_problem(manifold, lambda W: 0.0, gradient=lambda W: np.zeros((4, 5)))
    with pytest.raises(ValueError, match="gradient must return an 5x4"):
        wrong.riemannian_gradient(x)
    no_hess = matrix_problem(manifold, lambda W: 0.0, gradient=lambda W: W)
    with pytest.raises(ValueError, match="no Hessian"):
        no_hess.riemannian_hessian(x, manifold.random_tangent_vector(x))


def test_hessian_methods_bad_input():
    manifold = FixedRankDeepLinear(5, 4, 2, depth=2, rng=0)
    x = manifold.random_point()
    xi = manifold.random_tangent_vector(x)
    G = np.ones((5, 4))
    with pytest.raises(ValueError, match="H_xi must be an ambient 5x4"):
        manifold.riemannian_hessian_from_matrix(x, G, np.ones((4, 5)), xi)
    with pytest.raises(ValueError, match="xi.M"):
        manifold.riemannian_hessian_from_matrix(
            x, G, G, FixedRankTangentVector(xi[0], np.ones((3, 3)), xi[2])
        )
    with pytest.raises(ValueError, match="non-finite"):
        manifold.riemannian_hessian_from_matrix(x, G * np.nan, G, xi)
    with pytest.raises(TypeError, match="matrix_problem"):
        manifold.euclidean_to_riemannian_hessian(x, G, G, xi)
    with pytest.raises(ValueError, match="retraction must be"):
        FixedRankDeepLinear(5, 4, 2, retraction="qr")


def test_matrix_problem_with_point_arguments_and_sparse_derivatives():
    # a masked (completion-like) least-squares cost given on points, sparse derivatives
    m, n, k = 12, 10, 2
    rng = np.random.default_rng(4)
    truth = rng.standard_normal((m, k)) @ rng.standard_normal((k, n))
    mask = sp.random(m, n, density=0.6, random_state=1, format="csr")
    rows, cols = mask.nonzero()
    vals = truth[rows, cols]

    def entries(point):
        u, s, vt = point
        return np.einsum("ij,ij->i", u[rows] * s, vt[:, cols].T)

    def cost(point):
        return 0.5 * np.sum((entries(point) - vals) ** 2)

    def gradient(point):
        return sp.csr_matrix((entries(point) - vals, (rows, cols)), shape=(m, n))

    def hvp(point, Xi):
        U, S, V = Xi
        return sp.csr_matrix((np.einsum("ij,ij->i", (U @ S)[rows], V[cols]), (rows, cols)), (m, n))

    manifold = FixedRankDeepLinear(m, n, k, depth=2, rng=0)
    problem = matrix_problem(manifold, cost, gradient, hvp, point_arguments=True)
    result = pymanopt.optimizers.TrustRegions(verbosity=0).run(
        problem, initial_point=manifold.random_point()
    )
    W = manifold.point_to_matrix(result.point)
    assert np.linalg.norm(W - truth) <= 1e-8 * np.linalg.norm(truth)


@pytest.mark.parametrize("depth", [1, 3])
def test_matrix_problem_runs_first_order_solvers_and_riemlins_gradient_check(depth):
    # pymanopt's own check_gradient crashes in identify_linear_piece on NumPy >= 2.4 for
    # every manifold (measured with pymanopt 2.2); riemlin.check_gradient runs the same test.
    from riemlin import check_gradient

    m, n, k = 9, 7, 2
    B = np.random.default_rng(6).standard_normal((m, n))
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=0)
    problem = matrix_problem(manifold, lambda W: 0.5 * anp.sum((W - B) ** 2))
    assert check_gradient(problem, rng=1).passed
    optimum = 0.5 * np.sum(np.linalg.svd(B, compute_uv=False)[k:] ** 2)
    for opt in (
        pymanopt.optimizers.SteepestDescent(verbosity=0, max_iterations=3000),
        pymanopt.optimizers.ConjugateGradient(verbosity=0, max_iterations=3000),
    ):
        result = opt.run(problem, initial_point=manifold.random_point(rng=2))
        assert result.cost == pytest.approx(optimum, rel=1e-8)


def test_matrix_problem_gradient_avoids_the_division_by_singular_value_gaps():
    # Near-equal singular values: pymanopt's FixedRankEmbedded converts the (u, s, vt)
    # gradient with 1/(s_j^2 - s_i^2) and loses ~1e-4 relative accuracy per 1e-12 gap;
    # matrix_problem projects the matrix gradient and stays exact.
    m, n, k = 6, 5, 3
    rng = np.random.default_rng(7)
    u, _ = np.linalg.qr(rng.standard_normal((m, k)))
    v, _ = np.linalg.qr(rng.standard_normal((n, k)))
    s = np.array([1.0 + 1e-12, 1.0, 0.5])
    x = FixedRankPoint(u, s, v.T)
    W = (u * s) @ v.T
    B = rng.standard_normal((m, n))
    G = W - B
    exact = FixedRankDeepLinear(m, n, k, depth=1).projection(x, G)
    ours = matrix_problem(
        FixedRankDeepLinear(m, n, k, depth=1), lambda A: 0.5 * anp.sum((A - B) ** 2)
    ).riemannian_gradient(x)
    embedded = pymanopt.manifolds.FixedRankEmbedded(m, n, k)

    @pymanopt.function.autograd(embedded)
    def cost(u_, s_, vt_):
        return 0.5 * anp.sum((u_ @ anp.diag(s_) @ vt_ - B) ** 2)

    theirs = pymanopt.Problem(embedded, cost).riemannian_gradient(x)

    def err(a):
        return max(np.abs(p - q).max() for p, q in zip(a, exact)) / np.abs(exact[1]).max()

    assert err(ours) < 1e-14
    assert err(theirs) > 1e-6


def test_record_gradient_norms_rejects_non_problems():
    with pytest.raises(TypeError, match="pymanopt.Problem"):
        record_gradient_norms(object())


def test_matrix_problem_evaluates_the_gradient_once_per_point():
    # TrustRegions asks for many Hessian-vector products at one iterate
    manifold = FixedRankDeepLinear(6, 5, 2, depth=2, rng=0)
    B = np.random.default_rng(1).standard_normal((6, 5))
    calls = []

    def gradient(W):
        calls.append(1)
        return W - B

    problem = matrix_problem(
        manifold, lambda W: 0.5 * np.sum((W - B) ** 2), gradient, lambda W, Xi: Xi
    )
    x = manifold.random_point()
    g = problem.riemannian_gradient(x)
    for seed in range(5):
        problem.riemannian_hessian(x, manifold.random_tangent_vector(x, rng=seed))
    assert len(calls) == 1
    y = manifold.retraction(x, -0.1 * g)
    problem.riemannian_gradient(y)
    assert len(calls) == 2
    # and the cached gradient is the right one at the new point
    W = manifold.point_to_matrix(y)
    expected = manifold.riemannian_gradient_from_matrix(y, W - B)
    assert manifold.norm(y, problem.riemannian_gradient(y) - expected) == 0.0
