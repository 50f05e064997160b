"""The formulas of the user guide and the solutions of the paper exercises, against riemlin.

Each test names the guide section (or tutorial exercise) whose statement it checks, so a
wrong formula in the docs or a regression in riemlin fails here.
"""

import math

import mpmath
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.linalg import expm

from riemlin import (
    FixedRankDeepLinear,
    FixedRankTangentVector,
    RegressionLoss,
    imbalance,
    metric_weights,
    product_adjoint,
    riemannian_gradient_flow,
)
from riemlin.reference import metric_operator_dense
from riemlin.theory import (
    aligned_singular_values,
    critical_point_index,
    critical_points,
    descent_step_bounds,
)


def _orthonormal(rng, n, k):
    return np.linalg.qr(rng.standard_normal((n, k)))[0]


# ------------------------------------------------------------------ P1: conservation law
def _unbalanced_layers_and_gradients(seed):
    """Random layers of widths (4, 3, 5, 2), not balanced, and D pi^*(G) for a random G."""
    rng = np.random.default_rng(seed)
    widths = (4, 3, 5, 2)
    layers = [rng.standard_normal((widths[j + 1], widths[j])) for j in range(3)]
    return layers, product_adjoint(layers, rng.standard_normal((2, 4)))


def test_p1_layer_gradients_satisfy_the_identity_behind_the_conservation_law():
    """W_{j+1}^T nabla_{j+1} = nabla_j W_j^T for unbalanced layers and any G."""
    layers, grads = _unbalanced_layers_and_gradients(0)
    for j in range(2):
        lhs = layers[j + 1].T @ grads[j + 1]
        rhs = grads[j] @ layers[j].T
        # entries are O(1) sums of a few products: rounding level relative to their size
        assert np.abs(lhs - rhs).max() < 1e-13 * np.abs(lhs).max()


def test_p1_one_descent_step_changes_the_imbalance_by_exactly_eta_squared():
    layers, grads = _unbalanced_layers_and_gradients(1)
    eta = 0.3
    after = imbalance([W - eta * g for W, g in zip(layers, grads)])
    before = imbalance(layers)
    for j in range(2):
        predicted = before[j] + eta**2 * (grads[j + 1].T @ grads[j + 1] - grads[j] @ grads[j].T)
        # exact identity; the residual is rounding of O(10) entries
        assert np.abs(after[j] - predicted).max() < 1e-12 * np.abs(predicted).max()


# ------------------------------------------------------------------ P2: the weights K_ab
@pytest.mark.parametrize("depth", [1, 2, 3, 7])
def test_p2_weights_are_the_sum_the_quotient_and_the_dense_operator(depth):
    sigma = np.array([3.0, 1.7, 0.4])
    K, kappa = metric_weights(sigma, depth)
    p = sigma ** (2 / depth)
    N = depth
    by_sum = np.array(
        [
            [sum(p[a] ** (N - j) * p[b] ** (j - 1) for j in range(1, N + 1)) for b in range(3)]
            for a in range(3)
        ]
    )
    assert np.allclose(K, by_sum, rtol=1e-14, atol=0)
    for a in range(3):
        assert K[a, a] == pytest.approx(N * p[a] ** (N - 1), rel=1e-14)
        assert kappa[a] == pytest.approx(sigma[a] ** (2 * (N - 1) / N), rel=1e-14)
        for b in range(3):
            if a != b:
                quotient = (p[a] ** N - p[b] ** N) / (p[a] - p[b])
                assert K[a, b] == pytest.approx(quotient, rel=1e-13)
    # the block action, against the literal dense operator
    rng = np.random.default_rng(2)
    U, V = _orthonormal(rng, 5, 3), _orthonormal(rng, 4, 3)
    W = (U * sigma) @ V.T
    M = rng.standard_normal((3, 3))
    Up = rng.standard_normal((5, 3))
    Up -= U @ (U.T @ Up)
    dense_core = metric_operator_dense(W, U @ M @ V.T, depth)
    dense_side = metric_operator_dense(W, Up @ V.T, depth)
    # eigendecomposition-based fractional powers: about 1e-14 relative
    assert np.allclose(dense_core, U @ (K * M) @ V.T, rtol=0, atol=1e-12)
    assert np.allclose(dense_side, (Up * kappa) @ V.T, rtol=0, atol=1e-12)


def test_p2_the_expm1_form_keeps_every_digit_where_the_quotient_loses_ten():
    N = 3
    sa, sb = 0.7, 0.7 * (1 + 1e-10)
    mpmath.mp.dps = 50
    pa, pb = mpmath.mpf(sa) ** (mpmath.mpf(2) / N), mpmath.mpf(sb) ** (mpmath.mpf(2) / N)
    exact = float((pa**N - pb**N) / (pa - pb))
    fa, fb = sa ** (2 / N), sb ** (2 / N)
    naive = (fa**N - fb**N) / (fa - fb)
    stable = metric_weights(np.array([sa, sb]), N).K[0, 1]
    naive_error = abs(naive - exact) / exact
    assert 1e-9 < naive_error < 1e-5  # the solution: six to ten digits lost (2.5e-8)
    assert abs(stable - exact) / exact < 1e-15


def test_p2_large_depth_limit_is_n_times_the_logarithmic_mean():
    sa, sb = 2.0, 0.5
    limit = (sa**2 - sb**2) / (2 * math.log(sa / sb))
    errors = []
    for N in (10, 100, 1000):
        K, kappa = metric_weights(np.array([sa, sb]), N)
        errors.append(abs(K[0, 1] / N - limit))
        assert kappa[0] == pytest.approx(sa ** (2 * (N - 1) / N), rel=1e-14)
    # the error falls like 1/N^2 (measured: a factor 100 per decade of N); a wrong limit
    # would leave an error that stops falling
    assert errors[0] / errors[1] > 50 and errors[1] / errors[2] > 50
    assert errors[2] < 1e-6 * limit


# ------------------------------------------------------------------ P3: logistic solution
def logistic(beta, sigma0, t):
    e = np.exp(2 * beta * t)
    return beta * sigma0 * e / (beta - sigma0 + sigma0 * e)


@pytest.mark.parametrize("beta", [3.0, 0.5, -3.0])
def test_p3_logistic_formula_solves_the_aligned_depth_two_equation(beta):
    sigma0 = 0.2
    t = np.linspace(0.0, 3.0, 31)
    h = 1e-5
    sig = logistic(beta, sigma0, t)
    derivative = (logistic(beta, sigma0, t + h) - logistic(beta, sigma0, t - h)) / (2 * h)
    # central differences: error O(h^2 * sigma''') ~ 1e-10 on these O(1) curves
    assert np.allclose(derivative, 2 * sig * (beta - sig), rtol=0, atol=1e-8)
    if beta > 0:
        assert np.allclose(
            logistic(beta, sigma0, t), aligned_singular_values([beta], [sigma0], 2, t)[:, 0]
        )
        t_half = math.log(beta / sigma0 - 1) / (2 * beta)
        assert logistic(beta, sigma0, t_half) == pytest.approx(beta / 2, rel=1e-14)


def test_p3_and_aligned_flow_with_a_negative_target_value_decays_like_exp_minus_6t():
    """flows.md: target diag(-3, 2, 1), aligned start diag(1, 1, 0), depth 2."""
    loss = RegressionLoss(np.eye(3), np.diag([-3.0, 2.0, 1.0]))
    t = np.linspace(0.0, 2.0, 21)
    res = riemannian_gradient_flow(np.diag([1.0, 1.0, 0.0]), loss, 2, t, rtol=1e-12, atol=1e-14)
    assert res.success
    first = np.abs(np.asarray(res.W)[:, 0, 0])
    # integrator tolerance 1e-12 relative on values down to 1e-5
    assert np.allclose(first, logistic(-3.0, 1.0, res.t), rtol=1e-8, atol=0)


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_p3_zero_target_decays_algebraically(depth):
    sigma0 = 0.7
    t = np.array([0.0, 1.0, 10.0, 1000.0])
    p = 2 * (depth - 1) / depth
    closed = (sigma0 ** (-p) + 2 * (depth - 1) * t) ** (-1 / p)
    assert np.allclose(aligned_singular_values([0.0], [sigma0], depth, t)[:, 0], closed, rtol=1e-14)
    h = 1e-6
    for tt in (0.5, 3.0):
        s = (sigma0 ** (-p) + 2 * (depth - 1) * tt) ** (-1 / p)
        sp = (sigma0 ** (-p) + 2 * (depth - 1) * (tt + h)) ** (-1 / p)
        sm = (sigma0 ** (-p) + 2 * (depth - 1) * (tt - h)) ** (-1 / p)
        assert (sp - sm) / (2 * h) == pytest.approx(-depth * s ** (p + 1), rel=1e-7)


# ------------------------------------------------------------------ P4: the index count
def test_p4_critical_points_of_diag_3_2_1_their_losses_and_indices():
    loss = RegressionLoss(np.eye(3), np.diag([3.0, 2.0, 1.0]))
    expected = {
        1: {(0,): (2.5, 0), (1,): (5.0, 1), (2,): (6.5, 2)},
        2: {(0, 1): (0.5, 0), (0, 2): (2.0, 1), (1, 2): (4.5, 2)},
    }
    # loss.value includes the constant 1/2 (||Y||^2 - ||Phi||^2) = 0 here (X = I)
    for k, table in expected.items():
        points = critical_points(loss, k)
        assert sorted(cp.subset for cp in points) == sorted(table)
        for cp in points:
            assert cp.value == pytest.approx(table[cp.subset][0], rel=1e-14)
            assert cp.predicted_index == table[cp.subset][1]
            for depth in (1, 3):
                inertia = critical_point_index(cp.W, loss, depth, k)
                assert inertia.negative == table[cp.subset][1]
                assert inertia.zero == 0


def test_p4_hand_computed_eigenvalues_at_the_saddle_w2_on_m1():
    loss = RegressionLoss(np.eye(3), np.diag([3.0, 2.0, 1.0]))
    W2 = np.diag([0.0, 2.0, 0.0])
    lam = np.sort(critical_point_index(W2, loss, 1, 1).eigenvalues)
    # depth 1: Frobenius-orthonormal coordinates; blocks 1 +- 3/2, 1 +- 1/2 and M: 1
    assert np.allclose(lam, [-0.5, 0.5, 1.0, 1.5, 2.5], atol=1e-12)


# ------------------------------------------------------------------ P5: the boundary
@pytest.mark.parametrize("depth", [1, 2, 4])
def test_p5_distance_to_the_boundary_frobenius_and_under_g(depth):
    rng = np.random.default_rng(3)
    m, n, k = 5, 4, 2
    U, V = _orthonormal(rng, m, k), _orthonormal(rng, n, k)
    sigma = np.array([1.3, 0.01])
    W = (U * sigma) @ V.T
    # Frobenius: the nearest matrix of rank < k is W - sigma_k u_k v_k^T
    assert np.linalg.norm(W - (U[:, :1] * sigma[:1]) @ V[:, :1].T) == pytest.approx(sigma[-1])
    manifold = FixedRankDeepLinear(m, n, k, depth=depth)

    def speed(t):
        point = (U, np.array([sigma[0], sigma[1] * (1 - t)]), V.T)
        M = np.zeros((k, k))
        M[1, 1] = -sigma[1]
        return manifold.norm(point, FixedRankTangentVector(np.zeros((m, k)), M, np.zeros((n, k))))

    T = 0.999  # the full length is an improper integral; compare the length up to T
    length, _ = quad(speed, 0.0, T, epsabs=0, epsrel=1e-11, limit=200)
    partial = math.sqrt(depth) * sigma[1] ** (1 / depth) * (1 - (1 - T) ** (1 / depth))
    assert length == pytest.approx(partial, rel=1e-8)


# ------------------------------------------------------------------ guide sections
@pytest.mark.parametrize("depth", [1, 5])
def test_large_depth_section_final_rate_is_the_smallest_kappa(depth):
    """svd_coordinates.md: ||W - Phi|| decays at kappa_k = beta_k^{2(N-1)/N}."""
    rng = np.random.default_rng(4)
    m, n = 4, 3
    beta = np.array([2.0, 1.0, 0.5])
    U, V = _orthonormal(rng, m, 3), _orthonormal(rng, n, 3)
    Phi = (U * beta) @ V.T
    loss = RegressionLoss(np.eye(n), Phi)

    def rotation(d):
        A = rng.standard_normal((d, d))
        return expm(0.4 * (A - A.T) / np.linalg.norm(A - A.T, 2))

    W0 = rotation(m) @ Phi @ rotation(n).T
    t = np.linspace(0.0, 40.0, 801)
    res = riemannian_gradient_flow(W0, loss, depth, t, rtol=1e-11, atol=1e-14, k=3)
    assert res.success
    err = np.linalg.norm(np.asarray(res.W) - Phi, axis=(1, 2))
    window = (err < 1e-4) & (err > 1e-8)
    assert window.sum() > 20
    rate = -np.polyfit(res.t[window], np.log(err[window]), 1)[0]
    # the next mode decays at least twice as fast here, so the fit is within 1%
    assert rate == pytest.approx(beta[-1] ** (2 * (depth - 1) / depth), rel=1e-2)


def test_step_bound_section_closed_forms():
    rng = np.random.default_rng(0)
    beta = np.array([3.0, 2.0, 1.0, 0.5])
    U, V = _orthonormal(rng, 5, 4), _orthonormal(rng, 4, 4)
    loss = RegressionLoss(np.eye(4), (U * beta) @ V.T)
    # N = 1, k = 2 < rank: 2 / (1 + beta_3 / beta_2); N >= 2: 2 / (N beta_1^{2(N-1)/N})
    assert descent_step_bounds(loss, 2, 1).riemannian == pytest.approx(2 / 1.5, rel=1e-10)
    assert descent_step_bounds(loss, 4, 1).riemannian == pytest.approx(2.0, rel=1e-10)
    for depth in (2, 3):
        bound = 2 / (depth * 3.0 ** (2 * (depth - 1) / depth))
        b = descent_step_bounds(loss, 2, depth, widths=(4,) + (2,) * (depth - 1) + (5,))
        assert b.riemannian == pytest.approx(bound, rel=1e-10)
        # layer bound <= Riemannian bound; central differences of the layer Hessian: 1e-6
        assert b.factor <= b.riemannian * (1 + 1e-6)


def test_one_neuron_section_metric_on_m1_and_the_direction_flow():
    rng = np.random.default_rng(5)
    m, n, N = 4, 3, 3
    u, v = _orthonormal(rng, m, 1)[:, 0], _orthonormal(rng, n, 1)[:, 0]
    sigma = 0.7
    W = sigma * np.outer(u, v)
    Z = rng.standard_normal((m, n))
    P, Q = np.outer(u, u), np.outer(v, v)
    kappa = sigma ** (2 * (N - 1) / N)
    formula = kappa * (Z @ Q + P @ Z + (N - 2) * (u @ Z @ v) * np.outer(u, v))
    assert np.allclose(metric_operator_dense(W, Z @ Q + P @ Z - P @ Z @ Q, N), formula, atol=1e-13)
    # ||x|| = ||y|| and x^T Phi y nondecreasing along the linear flow
    Phi = np.zeros((m, n))
    Phi[0, 0], Phi[1, 1], Phi[2, 2] = 3.0, 2.0, 1.0
    u0 = np.array([1.0, 0.3, 0.2, 0.1]) / np.linalg.norm([1.0, 0.3, 0.2, 0.1])
    v0 = np.array([-1.0, 0.5, 0.4]) / np.linalg.norm([-1.0, 0.5, 0.4])
    B = np.block([[np.zeros((m, m)), Phi], [Phi.T, np.zeros((n, n))]])
    xy = [expm(tau * B) @ np.concatenate([u0, v0]) for tau in np.linspace(0, 3, 61)]
    numerators = [z[:m] @ Phi @ z[m:] for z in xy]
    assert numerators[0] < 0 < numerators[-1]
    assert np.all(np.diff(numerators) >= 0)
    assert max(abs(np.linalg.norm(z[:m]) / np.linalg.norm(z[m:]) - 1) for z in xy) < 1e-12


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_hessian_section_lift_and_the_cancelled_curvature_term(depth):
    """hessian.md, steps 3 and 4, on the minimal balanced layers W_N = U D, W_j = D, W_1 = D V^T."""
    rng = np.random.default_rng(6)
    m, n, k, N = 5, 4, 2, depth
    U, V = _orthonormal(rng, m, k), _orthonormal(rng, n, k)
    sigma = np.array([1.8, 0.6])
    D = np.diag(sigma ** (1 / N))
    layers = [D @ V.T] + [D] * (N - 2) + [U @ D]
    manifold = FixedRankDeepLinear(m, n, k, depth=N)
    point = (U, sigma, V.T)
    xi = manifold.random_tangent_vector(point, rng=7)
    z = manifold.metric_operator_inverse(point, xi)
    Z = manifold.tangent_to_matrix(point, z)
    lift = product_adjoint(layers, Z)
    Dp = np.linalg.matrix_power
    assert np.allclose(lift[-1], Z @ V @ Dp(D, N - 1), atol=1e-13)
    assert np.allclose(lift[0], Dp(D, N - 1) @ U.T @ Z, atol=1e-13)
    for j in range(2, N):
        assert np.allclose(lift[j - 1], Dp(D, N - j) @ z.M @ Dp(D, j - 1), atol=1e-13)
    # the term with U_z from the last lift and V_z from the first is U_p Sigma^{-1} V_p^T
    term = z.Up @ Dp(D, 3 * N - 4) @ z.Vp.T
    assert np.allclose(term, (xi.Up / sigma) @ xi.Vp.T, atol=1e-13)


def test_pymanopt_chapter_trust_regions_example_prints_what_the_page_says(capsys):
    """The nuclear-norm TrustRegions example of 'Coming from pymanopt' runs, and its output
    (the gradient norms, quadratic at the end) is the one printed on the page."""
    import pathlib
    import re

    page = (pathlib.Path(__file__).resolve().parent.parent / "docs/guide/pymanopt.md").read_text()
    section = page[page.index("## Second order on any cost") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shown = re.search(r"```text\n(.*?)\n```", section, re.S).group(1).strip()
    exec(compile(code, "pymanopt.md", "exec"), {})
    printed = [float(x) for x in capsys.readouterr().out.split()]
    expected = [float(x) for x in shown.split()]
    assert len(printed) == len(expected)
    # the printed norms to their two digits; the last is rounding-level (any value below
    # 1e-12 is the same outcome on another BLAS)
    np.testing.assert_allclose(printed[:-1], expected[:-1], rtol=0.06)
    assert printed[-1] < 1e-12 and expected[-1] < 1e-12
