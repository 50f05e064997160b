"""Geodesics, exp and log, distance, parallel transport and curvature of (M_k, g).

References that share no code with riemlin.geodesics: a dense integration of the
geodesic equation on m x n matrices, the constrained geodesic of the balanced layers in
Euclidean layer space (projected by the product map), closed forms (aligned matrices,
the rank-one cone), a local-chart finite-difference Riemann tensor and the dense Gauss
formula.
"""

import numpy as np
import pymanopt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymanopt.optimizers import NelderMead, ParticleSwarm
from scipy.integrate import solve_ivp

from riemlin import FixedRankDeepLinear, balanced_factors
from riemlin import geodesics as geo
from riemlin.manifold import FixedRankTangentVector
from riemlin.reference import metric_operator_inverse_dense

from conftest import fit_loglog_slope

DEPTHS = [1, 2, 3, 7]


def setup(m, n, k, depth, seed=0, **kw):
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=seed, **kw)
    x = manifold.random_point()
    return manifold, x


def matrix(point):
    u, s, vt = point
    return (u * s) @ vt


def fro(a, b):
    return float(np.sqrt(sum(np.sum((p - q) ** 2) for p, q in zip(a, b))))


# ---------------------------------------------------------------- independent references
def dense_geodesic(manifold, x, xi, t=1.0):
    """W'' = -C(W', W') + II(W', W') on dense m x n matrices (DOP853), C from riemlin's
    connection_difference at the SVD of W, II(Z, Z) = 2 P_u^perp Z W^+ Z P_v^perp."""
    m, n, k = manifold.m, manifold.n, manifold.k

    def rhs(_t, y):
        W, Z = y[: m * n].reshape(m, n), y[m * n :].reshape(m, n)
        u, s, vt = np.linalg.svd(W, full_matrices=False)
        point = (u[:, :k], s[:k], vt[:k])
        tangent = manifold.projection(point, Z)
        C = manifold.tangent_to_matrix(point, manifold.connection_difference(point, tangent))
        pu = np.eye(m) - point[0] @ point[0].T
        pv = np.eye(n) - point[2].T @ point[2]
        second = 2 * pu @ Z @ (point[2].T / point[1]) @ point[0].T @ Z @ pv
        return np.concatenate([Z.ravel(), (second - C).ravel()])

    y0 = np.concatenate([matrix(x).ravel(), manifold.tangent_to_matrix(x, xi).ravel()])
    sol = solve_ivp(rhs, (0, t), y0, method="DOP853", rtol=1e-12, atol=1e-13)
    return sol.y[: m * n, -1].reshape(m, n)


def layer_geodesic(layers, velocity, t=1.0):
    """Geodesic of the balanced layers {W_{c+1}^T W_{c+1} = W_c W_c^T} as a constrained
    Euclidean system: p'' = J^T lam with J J^T lam = -D^2 Phi[p', p'] (row-major vec)."""
    shapes = [W.shape for W in layers]
    offs = np.concatenate([[0], np.cumsum([W.size for W in layers])])
    P, N, k = offs[-1], len(layers), layers[0].shape[0]

    def split(v):
        return [v[offs[j] : offs[j + 1]].reshape(shapes[j]) for j in range(N)]

    def transposer(rows, cols):  # vec(H^T) = T vec(H)
        T = np.zeros((rows * cols, rows * cols))
        for i in range(rows):
            for j in range(cols):
                T[j * rows + i, i * cols + j] = 1
        return T

    perms = [transposer(*shape) for shape in shapes]
    Ik = np.eye(k)

    def rhs(_t, y):
        Ws, Hs = split(y[:P]), split(y[P:])
        J = np.zeros(((N - 1) * k * k, P))
        d2 = np.zeros((N - 1) * k * k)
        for c in range(N - 1):  # Phi_c = B^T B - A A^T
            A, B = Ws[c], Ws[c + 1]
            rows = slice(c * k * k, (c + 1) * k * k)
            J[rows, offs[c + 1] : offs[c + 2]] = np.kron(B.T, Ik) + np.kron(Ik, B.T) @ perms[c + 1]
            J[rows, offs[c] : offs[c + 1]] = -(np.kron(A, Ik) @ perms[c] + np.kron(Ik, A))
            d2[rows] = 2 * (Hs[c + 1].T @ Hs[c + 1] - Hs[c] @ Hs[c].T).ravel()
        lam = np.linalg.lstsq(J @ J.T, -d2, rcond=None)[0]
        return np.concatenate([y[P:], J.T @ lam])

    y0 = np.concatenate([np.concatenate([W.ravel() for W in layers + velocity])])
    sol = solve_ivp(rhs, (0, t), y0, method="DOP853", rtol=1e-12, atol=1e-13)
    return split(sol.y[:P, -1])


def lift(layers, Z):
    """D pi^*(Z)_j = (W_N ... W_{j+1})^T Z (W_{j-1} ... W_1)^T, by plain products."""
    out = []
    for j in range(len(layers)):
        left = np.eye(Z.shape[0])
        for W in reversed(layers[j + 1 :]):
            left = left @ W
        right = np.eye(Z.shape[1])
        for W in layers[:j]:
            right = W @ right
        out.append(left.T @ Z @ right.T)
    return out


def aligned(manifold, x, sdot):
    """The tangent vector u diag(sdot) v^T."""
    k = manifold.k
    return FixedRankTangentVector(
        np.zeros((manifold.m, k)), np.diag(sdot), np.zeros((manifold.n, k))
    )


def aligned_singular_values(s, sdot, depth, t):
    # s_a(t) = (s_a^(1/N) + t sdot_a s_a^(1/N - 1) / N)^N: straight lines in sigma = s^(1/N)
    N = depth
    return (s ** (1 / N) + t * sdot * s ** (1 / N - 1) / N) ** N


# ---------------------------------------------------------------- exp against references
@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("size", [(5, 4, 2), (4, 4, 3)])
def test_exp_matches_a_dense_integration_of_the_geodesic_equation(size, depth):
    manifold, x = setup(*size, depth)
    xi = 0.6 * manifold.random_tangent_vector(x)
    y = manifold.exp(x, xi)
    reference = dense_geodesic(manifold, x, xi)
    # both integrators run at rtol 1e-12; the geodesic moves W by O(1)
    assert np.abs(matrix(y) - reference).max() < 1e-10
    assert np.abs(matrix(y) - matrix(x)).max() > 0.1  # a real move, not a trivial agreement


@pytest.mark.parametrize("depth", [2, 3, 7])
def test_exp_is_the_projection_of_the_horizontal_geodesic_of_balanced_layers(depth):
    """Riemannian submersion of balanced layers onto (M_k, g) (Bah et al.): the
    constrained Euclidean geodesic from the horizontal lift projects to exp."""
    m, n, k = 5, 4, 2
    manifold, x = setup(m, n, k, depth, seed=3)
    xi = 0.6 * manifold.random_tangent_vector(x)
    W = matrix(x)
    layers = balanced_factors(W, [n] + [k] * (depth - 1) + [m], rng=1)
    h = lift(layers, metric_operator_inverse_dense(W, manifold.tangent_to_matrix(x, xi), depth))
    end = layer_geodesic(layers, h)
    product = end[0]
    for layer in end[1:]:
        product = layer @ product
    assert np.abs(product - matrix(manifold.exp(x, xi))).max() < 1e-10
    for c in range(depth - 1):  # the reference stays on the balanced layers
        assert np.abs(end[c + 1].T @ end[c + 1] - end[c] @ end[c].T).max() < 1e-10


@pytest.mark.parametrize("depth", DEPTHS)
def test_geodesic_of_aligned_matrices_is_straight_in_s_to_the_one_over_n(depth):
    manifold, x = setup(5, 4, 2, depth)
    u, s, vt = x
    sdot = np.array([0.4 * s[0], -0.3 * s[1]])
    times = np.array([0.5, -0.7, 1.0, 0.0, 0.25])
    points = manifold.geodesic(x, aligned(manifold, x, sdot), times)
    for t, p in zip(times, points):
        # the singular vectors stay, the singular values move (and may cross)
        expected = (u * aligned_singular_values(s, sdot, depth, t)) @ vt
        assert np.abs(matrix(p) - expected).max() < 1e-12


@pytest.mark.parametrize("depth", DEPTHS)
def test_rank_one_exp_and_log_are_the_cone_formulas(depth):
    manifold, x = setup(4, 3, 1, depth, seed=2)
    xi = 0.8 * manifold.random_tangent_vector(x)
    ode = geo.exp(x, xi, depth)  # the general integrator, also at k = 1
    closed = manifold.exp(x, xi)  # the cone's closed form
    assert np.abs(matrix(ode) - matrix(closed)).max() < 1e-11
    a, b = manifold.random_point(), manifold.random_point()  # any pair: the log is global
    result = manifold.log(a, b, full_output=True)
    assert result.residual < 1e-13
    assert np.abs(matrix(manifold.exp(a, result.tangent_vector)) - matrix(b)).max() < 1e-12
    # law of cosines in the development of the cone
    ra, rb = (np.sqrt(depth) * p[1][0] ** (1 / depth) for p in (a, b))
    flips = [(a[0][:, 0] @ b[0][:, 0] * f, a[2][0] @ b[2][0] * f) for f in (1, -1)]
    theta = min(np.hypot(*np.arccos(np.clip(c, -1, 1))) for c in flips) / np.sqrt(depth)
    d = np.sqrt(ra**2 + rb**2 - 2 * ra * rb * np.cos(theta))
    assert manifold.dist(a, b) == pytest.approx(d, rel=1e-12)
    assert manifold.dist(b, a) == pytest.approx(d, rel=1e-12)


def test_exp_is_equivariant_under_orthogonal_maps():
    # W -> O1 W O2^T is an isometry of g; the reduction to 2k x 2k must respect it
    manifold, x = setup(7, 5, 2, 3, seed=4)
    xi = 0.5 * manifold.random_tangent_vector(x)
    rng = np.random.default_rng(0)
    O1 = np.linalg.qr(rng.standard_normal((7, 7)))[0]
    O2 = np.linalg.qr(rng.standard_normal((5, 5)))[0]
    u, s, vt = x
    Up, M, Vp = xi
    y = manifold.exp((O1 @ u, s, vt @ O2.T), FixedRankTangentVector(O1 @ Up, M, O2 @ Vp))
    assert np.abs(matrix(y) - O1 @ matrix(manifold.exp(x, xi)) @ O2.T).max() < 1e-12


@pytest.mark.parametrize("size", [(3, 3, 2), (2, 5, 2)])
def test_exp_when_the_reduced_space_is_the_whole_space(size):
    manifold, x = setup(*size, 2, seed=5)
    xi = 0.5 * manifold.random_tangent_vector(x)
    assert np.abs(matrix(manifold.exp(x, xi)) - dense_geodesic(manifold, x, xi)).max() < 1e-10


def test_exp_at_coinciding_singular_values():
    manifold = FixedRankDeepLinear(5, 4, 3, depth=3, rng=6)
    x = manifold.random_point(spread=1.0)  # s = (1, 1, 1)
    xi = 0.5 * manifold.random_tangent_vector(x)
    assert np.abs(matrix(manifold.exp(x, xi)) - dense_geodesic(manifold, x, xi)).max() < 1e-10


# ---------------------------------------------------------------- exp: properties
@pytest.mark.parametrize("depth", DEPTHS)
def test_geodesic_has_constant_speed_and_its_velocity_is_parallel(depth):
    manifold, x = setup(6, 5, 2, depth, seed=7)
    xi = 0.7 * manifold.random_tangent_vector(x)
    speed = manifold.norm(x, xi)
    h = 1e-4
    for t in (0.3, 1.0):
        before, at, after = manifold.geodesic(x, xi, [t - h, t, t + h])
        velocity = manifold.projection(at, (matrix(after) - matrix(before)) / (2 * h))
        # central difference: O(h^2) ~ 1e-8 relative, plus dense-output error ~ 1e-12 / h
        assert manifold.norm(at, velocity) == pytest.approx(speed, rel=1e-7)
        if t == 1.0:  # the velocity is its own parallel transport
            moved = manifold.parallel_transport(x, xi, xi)
            assert manifold.norm(at, moved - velocity) < 1e-7 * speed


def test_geodesic_times_scalar_negative_and_zero():
    manifold, x = setup(5, 4, 2, 3, seed=8)
    xi = 0.4 * manifold.random_tangent_vector(x)
    one = manifold.geodesic(x, xi, 1.0)
    assert np.abs(matrix(one) - matrix(manifold.exp(x, xi))).max() < 1e-12
    back = manifold.geodesic(x, xi, -0.5)
    assert np.abs(matrix(back) - matrix(manifold.exp(x, -0.5 * xi))).max() < 1e-12
    assert np.abs(matrix(manifold.geodesic(x, xi, 0.0)) - matrix(x)).max() < 1e-15
    assert len(manifold.geodesic(x, xi, [0.0, 0.5])) == 2
    # exp(x, 2 xi) = gamma(2): geodesics scale with their velocity
    assert np.abs(matrix(manifold.geodesic(x, xi, 2.0)) - matrix(manifold.exp(x, 2 * xi))).max() < (
        1e-11
    )


@pytest.mark.parametrize("depth", [2, 3, 7])
def test_second_order_retraction_agrees_with_exp_to_third_order(depth):
    manifold, x = setup(6, 5, 2, depth, seed=9, retraction="second_order")
    first = FixedRankDeepLinear(6, 5, 2, depth=depth)  # svd retraction: first order for g
    xi = manifold.random_tangent_vector(x)
    steps = np.geomspace(0.02, 0.2, 6)
    err2 = [
        np.linalg.norm(matrix(manifold.retraction(x, t * xi)) - matrix(manifold.exp(x, t * xi)))
        for t in steps
    ]
    err1 = [
        np.linalg.norm(matrix(first.retraction(x, t * xi)) - matrix(manifold.exp(x, t * xi)))
        for t in steps
    ]
    assert abs(fit_loglog_slope(steps, err2) - 3) < 0.1
    assert abs(fit_loglog_slope(steps, err1) - 2) < 0.1


def test_svd_retraction_is_second_order_at_depth_one():
    manifold, x = setup(6, 5, 2, 1, seed=9)
    xi = manifold.random_tangent_vector(x)
    steps = np.geomspace(0.02, 0.2, 6)
    err = [
        np.linalg.norm(matrix(manifold.retraction(x, t * xi)) - matrix(manifold.exp(x, t * xi)))
        for t in steps
    ]
    assert abs(fit_loglog_slope(steps, err) - 3) < 0.1


# ---------------------------------------------------------------- incompleteness
@pytest.mark.parametrize("depth", DEPTHS)
def test_exp_refuses_to_reach_the_rank_deficient_boundary(depth):
    manifold, x = setup(5, 4, 2, depth, seed=10)
    s = x[1]
    sdot = np.array([0.0, -s[1]])  # the smaller singular value reaches 0 at t = N
    xi = aligned(manifold, x, sdot)
    with pytest.raises(ValueError, match="rank-deficient boundary") as info:
        manifold.exp(x, 1.01 * depth * xi)
    # the message names t where s_k/s_1 = 1e-8 and the extrapolated t of the rank drop (1)
    message = str(info.value)
    t_star = float(message.split("rank < k at t ~ ")[1].split(";")[0].split(" ")[0].rstrip("."))
    assert t_star == pytest.approx(1 / 1.01, rel=1e-6)
    # half way: s_k (1/2)^N, rank k; at depth N, s_k falls to boundary_tol s_1 at
    # 1 - (1e-8 s_1 / s_k)^(1/N) of the way already (0.91 at depth 7)
    y = manifold.exp(x, 0.5 * depth * xi)
    # integration error ~ rtol relative to s_1 (the state is scaled by s_1)
    assert y[1][1] == pytest.approx(s[1] * 0.5**depth, abs=1e-11 * s[0])
    with pytest.raises(ValueError, match="rank-deficient boundary"):
        manifold.geodesic(x, xi, [0.5, 1.2 * depth])
    # the distance to the boundary is sqrt(N) s_k^(1/N): the speed times the hitting time
    assert geo.boundary_distance(x, depth) == pytest.approx(depth * manifold.norm(x, xi), rel=1e-12)


def test_rank_one_exp_refuses_the_apex():
    manifold, x = setup(4, 3, 1, 3, seed=11)
    xi = aligned(manifold, x, -x[1])  # s(t) = s (1 - t/3)^3: zero at t = 3
    with pytest.raises(ValueError, match="zero matrix"):
        manifold.exp(x, 3.5 * xi)
    assert manifold.exp(x, 2.9 * xi)[1][0] == pytest.approx(x[1][0] * (1 - 2.9 / 3) ** 3, rel=1e-12)
