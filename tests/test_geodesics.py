"""Geodesics, exp and log, distance, parallel transport and curvature of (M_k, g).

References that share no code with riemlin.geometry.geodesics: a dense integration of the
geodesic equation on m x n matrices, the constrained geodesic of the balanced layers in
Euclidean layer space (projected by the product map), closed forms (aligned matrices,
the rank-one cone), a local-chart finite-difference Riemann tensor and the dense Gauss
formula.
"""

import numpy as np
import pymanopt
import pytest
from conftest import fit_loglog_slope
from hypothesis import given
from hypothesis import strategies as st
from pymanopt.optimizers import NelderMead, ParticleSwarm
from scipy.integrate import solve_ivp

from riemlin import FixedRankDeepLinear, balanced_factors
from riemlin.geometry import geodesics as geo
from riemlin.geometry.manifold import FixedRankTangentVector
from riemlin.reference import metric_operator_inverse_dense

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
    times = [0.3, -0.4, 1.5]
    for p, q in zip(geo.geodesic(x, xi, depth, times), manifold.geodesic(x, xi, times)):
        assert np.abs(matrix(p) - matrix(q)).max() < 1e-11
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
    with pytest.raises(geo.BoundaryError, match="rank-deficient boundary") as info:
        manifold.exp(x, 1.01 * depth * xi)
    # where s_k/s_1 = 1e-8 and the extrapolated t of the rank drop, also in the message
    error = info.value
    assert isinstance(error, ValueError)
    # extrapolated from s_k = 1e-8 s_1, where the integration error (1e-12 s_1) is 1e-4 of
    # s_k; the time left, N s_k / |ds_k/dt|, is a small part of the whole
    assert error.t_boundary == pytest.approx(1 / 1.01, rel=1e-5)
    assert 0 < error.t < error.t_boundary
    assert f"{error.t_boundary:.10g}" in str(error)
    # half way: s_k (1/2)^N, rank k; at depth N, s_k falls to boundary_tol s_1 at
    # 1 - (1e-8 s_1 / s_k)^(1/N) of the way already (0.91 at depth 7)
    y = manifold.exp(x, 0.5 * depth * xi)
    # integration error ~ rtol relative to s_1 (the state is scaled by s_1)
    assert y[1][1] == pytest.approx(s[1] * 0.5**depth, abs=1e-11 * s[0])
    with pytest.raises(geo.BoundaryError) as info:
        manifold.geodesic(x, xi, [0.5, -1.0, 1.2 * depth])  # backwards s_k grows: fine
    assert info.value.t_boundary == pytest.approx(depth, rel=1e-5)
    with pytest.raises(geo.BoundaryError) as info:
        manifold.geodesic(x, -1.0 * xi, [0.5, -1.2 * depth])
    assert info.value.t_boundary == pytest.approx(-depth, rel=1e-5)  # in the caller's time
    # the distance to the boundary is sqrt(N) s_k^(1/N): the speed times the hitting time
    assert geo.boundary_distance(x, depth) == pytest.approx(depth * manifold.norm(x, xi), rel=1e-12)


def test_rank_one_exp_refuses_the_apex():
    manifold, x = setup(4, 3, 1, 3, seed=11)
    xi = aligned(manifold, x, -x[1])  # s(t) = s (1 - t/3)^3: zero at t = 3
    with pytest.raises(ValueError, match=r"zero matrix\) at t ~ 0.857142857"):
        manifold.exp(x, 3.5 * xi)  # reaches it at t = 3 / 3.5
    # a geodesic passing close to the apex is computed exactly (no integration error)
    sideways = manifold.random_tangent_vector(x)
    near = manifold.exp(
        x, 3 * xi + 1e-6 * FixedRankTangentVector(sideways[0], 0 * xi[1], sideways[2])
    )
    assert 0 < near[1][0] < 1e-10 * x[1][0]
    assert manifold.exp(x, 2.9 * xi)[1][0] == pytest.approx(x[1][0] * (1 - 2.9 / 3) ** 3, rel=1e-12)


# ---------------------------------------------------------------- log and distance
@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("size", [(5, 4, 2), (8, 6, 3)])
def test_log_inverts_exp(size, depth):
    manifold, x = setup(*size, depth, seed=12)
    xi = 0.5 * manifold.random_tangent_vector(x)
    result = manifold.log(x, manifold.exp(x, xi), full_output=True)
    assert result.residual <= geo.LOG_TOL
    # the residual is relative to ||b||_F; D exp is close to the identity for near points
    assert manifold.norm(x, result.tangent_vector - xi) < 1e-9 * manifold.norm(x, xi)
    assert 1 <= result.exps <= 20  # a few quasi-Newton steps, one integration each
    assert manifold.dist(x, manifold.exp(x, xi)) == pytest.approx(0.5, rel=1e-9)


@given(
    seed=st.integers(0, 2**16),
    depth=st.sampled_from([1, 2, 3]),
    length=st.floats(0.05, 0.6),
)
def test_log_inverts_exp_for_random_points_and_directions(seed, depth, length):
    manifold, x = setup(5, 4, 2, depth, seed=seed)
    xi = length * manifold.random_tangent_vector(x)
    back = manifold.log(x, manifold.exp(x, xi))
    assert manifold.norm(x, back - xi) < 1e-8 * length


@pytest.mark.parametrize("depth", DEPTHS)
def test_distance_between_aligned_matrices_is_euclidean_in_s_to_the_one_over_n(depth):
    # aligned matrices form a totally geodesic flat (sigma = sqrt(N) s^(1/N)); the Mirsky
    # lower bound below makes the straight line minimizing
    manifold, x = setup(5, 4, 2, depth, seed=13)
    u, s, vt = x
    t = np.array([1.7, 0.6])
    y = (u, s * t, vt)
    expected = np.sqrt(depth) * np.linalg.norm(s ** (1 / depth) - (s * t) ** (1 / depth))
    assert manifold.dist(x, y) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("depth", DEPTHS)
def test_distance_is_symmetric_positive_and_satisfies_the_triangle_inequality(depth):
    manifold, a = setup(6, 5, 2, depth, seed=14)
    b = manifold.exp(a, 0.4 * manifold.random_tangent_vector(a))
    c = manifold.exp(a, 0.4 * manifold.random_tangent_vector(a))
    dab, dba = manifold.dist(a, b), manifold.dist(b, a)
    assert dab == pytest.approx(dba, rel=1e-9)
    assert manifold.dist(a, c) <= dab + manifold.dist(b, c)
    assert manifold.dist(b, c) <= dba + manifold.dist(a, c)
    u, s, vt = a
    flipped = (-u, s, -vt)  # the same matrix in another SVD: distance zero
    assert manifold.dist(a, a) == 0.0
    assert manifold.dist(a, flipped) < 1e-13
    near = manifold.exp(a, 1e-6 * manifold.random_tangent_vector(a))
    assert manifold.dist(a, near) == pytest.approx(1e-6, rel=1e-6)


def curve_length(manifold, points_at, nodes=24, h=1e-5):
    """g-length of a curve on [0, 1] by Gauss-Legendre quadrature, velocities by central
    differences projected on the tangent spaces."""
    t, w = np.polynomial.legendre.leggauss(nodes)
    t, w = 0.5 * (t + 1), 0.5 * w
    total = 0.0
    for ti, wi in zip(t, w):
        before, at, after = points_at(ti - h), points_at(ti), points_at(ti + h)
        velocity = manifold.projection(at, (matrix(after) - matrix(before)) / (2 * h))
        total += wi * manifold.norm(at, velocity)
    return total


@pytest.mark.parametrize("depth", [1, 2, 3, 7])
def test_distance_is_below_the_length_of_other_curves(depth):
    manifold, a = setup(5, 4, 2, depth, seed=15)
    b = manifold.exp(a, 0.8 * manifold.random_tangent_vector(a))
    d = manifold.dist(a, b)
    embedded = FixedRankDeepLinear(5, 4, 2, depth=1)
    xi1 = embedded.log(a, b)
    # Gauss-Legendre on smooth integrands: quadrature and differencing errors ~ 1e-9
    along_embedded = curve_length(manifold, lambda t: embedded.exp(a, t * xi1))
    Wa, Wb = matrix(a), matrix(b)
    along_truncation = curve_length(
        manifold, lambda t: manifold.point_from_matrix(_truncate((1 - t) * Wa + t * Wb, 2))
    )
    xi = manifold.log(a, b)
    along_geodesic = curve_length(manifold, lambda t: manifold.exp(a, t * xi))
    assert along_geodesic == pytest.approx(d, rel=1e-8)
    assert d <= along_truncation * (1 + 1e-8)
    if depth == 1:
        assert along_embedded == pytest.approx(d, rel=1e-8)
    else:  # other curves are strictly longer
        assert d < along_embedded * (1 - 1e-6)
        assert d < along_truncation * (1 - 1e-6)
    # Mirsky: a horizontal lift ends at layers whose singular values are s_b^(1/N)
    lower = np.sqrt(depth) * np.linalg.norm(a[1] ** (1 / depth) - b[1] ** (1 / depth))
    assert lower <= d


def _truncate(W, k):
    u, s, vt = np.linalg.svd(W, full_matrices=False)
    return (u[:, :k] * s[:k]) @ vt[:k]


@pytest.mark.parametrize("depth", [1, 3])
def test_pair_mean_is_the_midpoint(depth):
    manifold, a = setup(5, 4, 2, depth, seed=16)
    b = manifold.exp(a, 0.6 * manifold.random_tangent_vector(a))
    mid = manifold.pair_mean(a, b)
    d = manifold.dist(a, b)
    assert manifold.dist(a, mid) == pytest.approx(d / 2, rel=1e-9)
    assert manifold.dist(mid, b) == pytest.approx(d / 2, rel=1e-9)


def test_log_failure_says_how_far_it_got_and_why():
    manifold, a = setup(5, 4, 2, 3, seed=17)
    b = manifold.exp(a, 0.8 * manifold.random_tangent_vector(a))
    with pytest.raises(ValueError, match=r"residual .* reached .* after 0 iterations") as info:
        manifold.log(a, b, max_iterations=0)
    assert "too far apart" in str(info.value) and "boundary" in str(info.value)


# ---------------------------------------------------------------- parallel transport
def dense_transport(manifold, x, xi, eta):
    """W'' = II - C along with H' = II(W', H) - C(W', H) (P_T H' = -C: nabla^g_W' H = 0) on
    dense matrices, II(Z, H) = P_u^perp (Z W^+ H + H W^+ Z) P_v^perp."""
    m, n, k = manifold.m, manifold.n, manifold.k

    def rhs(_t, y):
        W, Z, H = (y[i * m * n : (i + 1) * m * n].reshape(m, n) for i in range(3))
        u, s, vt = np.linalg.svd(W, full_matrices=False)
        p = (u[:, :k], s[:k], vt[:k])
        pu, pv = np.eye(m) - p[0] @ p[0].T, np.eye(n) - p[2].T @ p[2]
        pinv = (p[2].T / p[1]) @ p[0].T
        zt, ht = manifold.projection(p, Z), manifold.projection(p, H)

        def second(A, B):
            return pu @ (A @ pinv @ B + B @ pinv @ A) @ pv

        def conn(a, b):
            return manifold.tangent_to_matrix(p, manifold.connection_difference(p, a, b))

        return np.concatenate(
            [
                Z.ravel(),
                (second(Z, Z) - conn(zt, zt)).ravel(),
                (second(Z, H) - conn(zt, ht)).ravel(),
            ]
        )

    y0 = np.concatenate(
        [matrix(x).ravel()] + [manifold.tangent_to_matrix(x, v).ravel() for v in (xi, eta)]
    )
    sol = solve_ivp(rhs, (0, 1), y0, method="DOP853", rtol=1e-12, atol=1e-13)
    return sol.y[2 * m * n :, -1].reshape(m, n)


@pytest.mark.parametrize("depth", DEPTHS)
def test_parallel_transport_matches_a_dense_integration(depth):
    manifold, x = setup(5, 4, 2, depth, seed=18)
    xi, eta = 0.6 * manifold.random_tangent_vector(x), manifold.random_tangent_vector(x)
    y = manifold.exp(x, xi)
    moved = manifold.tangent_to_matrix(y, manifold.parallel_transport(x, xi, eta))
    assert np.abs(moved - dense_transport(manifold, x, xi, eta)).max() < 1e-10


@pytest.mark.parametrize("depth", DEPTHS)
def test_parallel_transport_is_a_linear_isometry(depth):
    manifold, x = setup(7, 6, 3, depth, seed=19)
    xi = 0.7 * manifold.random_tangent_vector(x)
    eta, zeta = manifold.random_tangent_vector(x), manifold.random_tangent_vector(x)
    y, (t_eta, t_zeta) = geo.parallel_transport(x, xi, [eta, zeta], depth)
    for a, b, ta, tb in ((eta, eta, t_eta, t_eta), (eta, zeta, t_eta, t_zeta)):
        # integration tolerance 1e-12 on unit vectors
        assert manifold.inner_product(y, ta, tb) == pytest.approx(
            manifold.inner_product(x, a, b), abs=1e-10
        )
    combined = manifold.parallel_transport(x, xi, 2.0 * eta - 3.0 * zeta)
    expected = 2.0 * FixedRankTangentVector(*t_eta) - 3.0 * FixedRankTangentVector(*t_zeta)
    assert manifold.norm(y, combined - expected) < 1e-10
    # back along the reversed geodesic: the identity
    velocity = manifold.parallel_transport(x, xi, xi)
    back = manifold.parallel_transport(y, -velocity, FixedRankTangentVector(*t_eta))
    assert manifold.norm(x, back - eta) < 1e-10


def test_parallel_transport_along_no_motion_is_the_identity():
    manifold, x = setup(5, 4, 2, 3, seed=20)
    eta = manifold.random_tangent_vector(x)
    same = manifold.parallel_transport(x, manifold.zero_vector(x), eta)
    assert manifold.norm(x, same - eta) < 1e-14


# ---------------------------------------------------------------- sectional curvature
def chart_curvature(manifold, x, X, Y, h):
    """K(X, Y) from the metric matrix in the chart W(y) = (u + u_perp A)(S + B)(v + v_perp C)^T:
    second directional derivatives and Christoffel symbols by central differences."""
    m, n, k = manifold.m, manifold.n, manifold.k
    u, s, vt = x
    uperp = np.linalg.svd(u)[0][:, k:]
    vperp = np.linalg.svd(vt.T)[0][:, k:]
    na, nb, d = (m - k) * k, k * k, manifold.dim

    def parts(y):
        return (
            y[:na].reshape(m - k, k),
            y[na : na + nb].reshape(k, k),
            y[na + nb :].reshape(n - k, k),
        )

    def factors(y):
        A, B, C = parts(y)
        return u + uperp @ A, np.diag(s) + B, vt.T + vperp @ C

    def tangent(y, e):
        L, B, R = factors(y)
        dA, dB, dC = parts(e)
        return (uperp @ dA) @ B @ R.T + L @ dB @ R.T + L @ B @ (vperp @ dC).T

    E = np.eye(d)

    def gram(y):
        Wy = factors(y)
        p = manifold.point_from_matrix(Wy[0] @ Wy[1] @ Wy[2].T)
        vecs = [manifold.projection(p, tangent(y, e)) for e in E]
        return np.array([[manifold.inner_product(p, a, b) for b in vecs] for a in vecs])

    basis = np.array([tangent(np.zeros(d), e).ravel() for e in E]).T
    xc = np.linalg.lstsq(basis, manifold.tangent_to_matrix(x, X).ravel(), rcond=None)[0]
    yc = np.linalg.lstsq(basis, manifold.tangent_to_matrix(x, Y).ravel(), rcond=None)[0]
    G0 = gram(np.zeros(d))
    dG = np.array([(gram(h * E[i]) - gram(-h * E[i])) / (2 * h) for i in range(d)])
    low = 0.5 * (dG + dG.transpose(1, 0, 2) - dG.transpose(1, 2, 0))  # Gamma_{ij,l}
    Gamma = np.linalg.solve(G0, low.reshape(d * d, d).T).T.reshape(d, d, d)

    def second(a, b, c, e):  # d_a d_b of g(c, e), central differences
        f = lambda y: c @ gram(y) @ e  # noqa: E731
        return (f(h * a + h * b) - f(h * a - h * b) - f(h * b - h * a) + f(-h * a - h * b)) / (
            4 * h * h
        )

    def gam(a, b):
        return np.einsum("i,j,ijl->l", a, b, Gamma)

    def dg(a):
        return np.einsum("l,lij->ij", a, dG)

    # g(R(X,Y)Y, X) for the chart connection, expanded in derivatives of g and Gamma
    value = (
        second(xc, yc, xc, yc)
        - 0.5 * second(xc, xc, yc, yc)
        - 0.5 * second(yc, yc, xc, xc)
        - xc @ dg(xc) @ gam(yc, yc)
        + xc @ dg(yc) @ gam(xc, yc)
        + xc @ G0 @ gam(xc, gam(yc, yc))
        - xc @ G0 @ gam(yc, gam(xc, yc))
    )
    area = (xc @ G0 @ xc) * (yc @ G0 @ yc) - (xc @ G0 @ yc) ** 2
    return value / area


@pytest.mark.parametrize("depth", DEPTHS)
def test_sectional_curvature_matches_a_local_chart_computation(depth):
    manifold, x = setup(4, 3, 2, depth, seed=21)
    X, Y = manifold.random_tangent_vector(x), manifold.random_tangent_vector(x)
    K = manifold.sectional_curvature(x, X, Y)
    # Richardson extrapolation of the O(h^2) differences
    coarse, fine = (chart_curvature(manifold, x, X, Y, h) for h in (2e-3, 1e-3))
    reference = (4 * fine - coarse) / 3
    scale = 1 / np.min(x[1]) ** (2 / depth)  # curvatures scale like s^(-2/N)
    # measured: 1e-7 of the scale at h = 1e-3 alone, 1e-10 after extrapolation
    assert abs(K - reference) < 1e-8 * scale


@pytest.mark.parametrize("depth", [1, 2, 3, 7, 1000])
def test_sectional_curvature_of_the_rank_one_cone(depth):
    # dr^2 + r^2 (round + round)/N with r = sqrt(N) s^(1/N): planes in one sphere factor
    # have K = (N - 1)/(N s^(2/N)), mixed planes -1/(N s^(2/N)), radial planes 0
    manifold, x = setup(4, 3, 1, depth, seed=22)
    u, s, vt = x
    rng = np.random.default_rng(0)
    a = np.linalg.qr(np.hstack([u, rng.standard_normal((4, 2))]))[0][:, 1:]
    b = np.linalg.qr(np.hstack([vt.T, rng.standard_normal((3, 1))]))[0][:, 1:]
    zero_u, zero_v, zero_m = np.zeros((4, 1)), np.zeros((3, 1)), np.zeros((1, 1))
    Xa = FixedRankTangentVector(a[:, :1], zero_m, zero_v)
    Xa2 = FixedRankTangentVector(a[:, 1:], zero_m, zero_v)
    Yb = FixedRankTangentVector(zero_u, zero_m, b)
    radial = FixedRankTangentVector(zero_u, np.ones((1, 1)), zero_v)
    scale = depth * s[0] ** (2 / depth)
    assert manifold.sectional_curvature(x, Xa, Xa2) == pytest.approx((depth - 1) / scale, rel=1e-10)
    assert manifold.sectional_curvature(x, Xa, Yb) == pytest.approx(-1 / scale, rel=1e-10)
    assert abs(manifold.sectional_curvature(x, Xa + Yb, radial)) < 1e-12 / scale


def test_sectional_curvature_at_depth_one_is_the_gauss_formula():
    manifold, x = setup(6, 5, 3, 1, seed=23)
    X, Y = manifold.random_tangent_vector(x), manifold.random_tangent_vector(x)
    u, s, vt = x
    W = matrix(x)
    pinv = np.linalg.pinv(W)
    pu, pv = np.eye(6) - u @ u.T, np.eye(5) - vt.T @ vt
    Xm, Ym = manifold.tangent_to_matrix(x, X), manifold.tangent_to_matrix(x, Y)

    def second(A, B):  # dense second fundamental form of M_k in R^{m x n}
        return pu @ (A @ pinv @ B + B @ pinv @ A) @ pv

    value = np.sum(second(Xm, Xm) * second(Ym, Ym)) - np.sum(second(Xm, Ym) ** 2)
    area = np.sum(Xm * Xm) * np.sum(Ym * Ym) - np.sum(Xm * Ym) ** 2
    assert manifold.sectional_curvature(x, X, Y) == pytest.approx(value / area, rel=1e-10)


@pytest.mark.parametrize("depth", DEPTHS)
def test_sectional_curvature_is_a_function_of_the_plane(depth):
    manifold, x = setup(6, 5, 2, depth, seed=24)
    X, Y = manifold.random_tangent_vector(x), manifold.random_tangent_vector(x)
    K = manifold.sectional_curvature(x, X, Y)
    assert manifold.sectional_curvature(x, Y, X) == pytest.approx(K, rel=1e-12)
    assert manifold.sectional_curvature(x, 2.0 * X, 3.0 * Y - 5.0 * X) == pytest.approx(K, rel=1e-9)
    # the aligned matrices are a flat totally geodesic submanifold
    A = aligned(manifold, x, np.array([1.0, 0.3]))
    B = aligned(manifold, x, np.array([-0.2, 1.0]))
    assert abs(manifold.sectional_curvature(x, A, B)) < 1e-12 * abs(K)
    with pytest.raises(ValueError, match="span a plane"):
        manifold.sectional_curvature(x, X, 2.0 * X)


# ---------------------------------------------------------------- pymanopt's solvers
def _rank_one_problem(depth):
    manifold = FixedRankDeepLinear(3, 2, 1, depth=depth, rng=0)
    target = manifold.point_to_matrix(manifold.random_point(np.random.default_rng(5)))

    @pymanopt.function.numpy(manifold)
    def cost(u, s, vt):
        return float(0.5 * np.sum(((u * s) @ vt - target) ** 2))

    return manifold, pymanopt.Problem(manifold, cost)


@pytest.fixture
def seeded_global_rng():
    # pymanopt's ParticleSwarm draws its coefficients from numpy's global generator
    state = np.random.get_state()  # noqa: NPY002 (pymanopt uses the legacy global state)
    np.random.seed(0)  # noqa: NPY002
    yield
    np.random.set_state(state)  # noqa: NPY002


@pytest.mark.parametrize("depth", [1, 3])
def test_nelder_mead_and_particle_swarm_run_on_the_manifold(depth, seeded_global_rng):
    # they need dist, log, pair_mean and random_point (closed forms on the rank-one cone)
    manifold, problem = _rank_one_problem(depth)
    rng = np.random.default_rng(1)
    typical = np.median([problem.cost(manifold.random_point(rng)) for _ in range(20)])
    result = NelderMead(max_iterations=30, verbosity=0).run(problem)
    assert result.cost < 0.01 * typical  # the optimum is 0 (the target has rank one)
    population = [manifold.random_point(rng) for _ in range(8)]
    best = min(problem.cost(p) for p in population)  # before the run: pymanopt moves them
    swarm = ParticleSwarm(max_iterations=30, population_size=8, verbosity=0).run(
        problem, initial_point=population
    )
    assert swarm.cost < best  # the swarm found a better point than all its particles had


def test_particle_swarm_on_rank_two_from_a_clustered_population(seeded_global_rng):
    manifold = FixedRankDeepLinear(4, 3, 2, depth=2, rng=1)
    target = manifold.random_point()
    T = manifold.point_to_matrix(target)

    @pymanopt.function.numpy(manifold)
    def cost(u, s, vt):
        return float(0.5 * np.sum(((u * s) @ vt - T) ** 2))

    problem = pymanopt.Problem(manifold, cost)
    centre = manifold.exp(target, 0.5 * manifold.random_tangent_vector(target))
    population = [
        manifold.exp(centre, 0.2 * manifold.random_tangent_vector(centre)) for _ in range(6)
    ]
    best = min(problem.cost(p) for p in population)  # before the run: pymanopt moves them
    result = ParticleSwarm(max_iterations=4, population_size=6, verbosity=0).run(
        problem, initial_point=population
    )
    assert result.cost < best


# ---------------------------------------------------------------- input errors
def test_errors_name_the_argument():
    manifold, x = setup(5, 4, 2, 2, seed=25)
    xi = manifold.random_tangent_vector(x)
    with pytest.raises(ValueError, match="tangent_vector.Up"):
        manifold.exp(x, (np.zeros((4, 2)), xi[1], xi[2]))
    with pytest.raises(ValueError, match="rtol"):
        manifold.exp(x, xi, rtol=0.0)
    with pytest.raises(ValueError, match="boundary_tol"):
        manifold.geodesic(x, xi, 1.0, boundary_tol=2.0)
    with pytest.raises(ValueError, match="times"):
        manifold.geodesic(x, xi, [0.0, np.nan])
    with pytest.raises(ValueError, match="tol"):
        manifold.log(x, x, tol=-1.0)
    with pytest.raises(TypeError, match="max_iterations"):
        manifold.log(x, x, max_iterations=2.5)
    with pytest.raises(ValueError, match="depth"):
        geo.exp(x, xi, 0)
    with pytest.raises(ValueError, match="point_b.s"):
        manifold.dist(x, (x[0], -x[1], x[2]))
    with pytest.raises(ValueError, match="boundary_tol"):
        manifold.exp((x[0], np.array([1.0, 1e-10]), x[2]), xi)
