"""Riemannian gradient flow and descent: closed forms, agreement, order, failures, input."""

import tracemalloc

import numpy as np
import pytest
from conftest import fit_loglog_slope

from riemlin import (
    FixedRankDeepLinear,
    MatrixLoss,
    RegressionLoss,
    low_rank_target_loss,
    riemannian_gradient_descent,
    riemannian_gradient_flow,
)
from riemlin.geometry.ambient import ambient_to_dense


def _problem(m=6, n=5, s=12, k=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, s)) / np.sqrt(s)
    Y = rng.standard_normal((m, s)) / np.sqrt(s)
    loss = RegressionLoss(X, Y)
    W0 = 0.5 * rng.standard_normal((m, k)) @ rng.standard_normal((k, n)) / np.sqrt(n)
    return loss, W0


def _aligned(m, n, k, s_target, sigma0, seed=0):
    """Whitened data, Phi = U diag(s) V^T, and a start W0 sharing its singular vectors."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((m, m)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    r = len(s_target)
    Phi = (U[:, :r] * s_target) @ V[:, :r].T
    loss = RegressionLoss(np.eye(n), Phi)
    W0 = (U[:, :k] * sigma0) @ V[:, :k].T
    return loss, W0, U[:, :k], V[:, :k]


def _rel(A, B):
    return np.max(np.linalg.norm(A - B, axis=(1, 2)) / np.linalg.norm(B, axis=(1, 2)))


@pytest.mark.parametrize("depth", [1, 2, 3, 6])
def test_manifold_integrator_agrees_with_dense(depth):
    loss, W0 = _problem(seed=depth)
    t = np.linspace(0, 3, 7)
    dense = riemannian_gradient_flow(W0, loss, depth, t, "dense", rtol=1e-11, atol=1e-14)
    man = riemannian_gradient_flow(W0, loss, depth, t, "manifold", rtol=1e-11, atol=1e-14)
    assert dense.status == man.status == 0, (dense.message, man.message)
    assert dense.imbalance is None and dense.factors is None
    assert _rel(man.W, dense.W) < 1e-8
    np.testing.assert_allclose(man.loss, dense.loss, rtol=1e-9)
    # the mismatch shrinks with the tolerance
    loose = riemannian_gradient_flow(W0, loss, depth, t, "manifold", rtol=1e-6, atol=1e-9)
    assert _rel(loose.W, dense.W) > _rel(man.W, dense.W)


def test_point_start_equals_matrix_start():
    loss, W0 = _problem(seed=4)
    manifold = FixedRankDeepLinear(6, 5, 2, 3)
    point = manifold.point_from_matrix(W0)
    t = [0.0, 0.5, 1.0]
    a = riemannian_gradient_flow(W0, loss, 3, t, "manifold", rtol=1e-10)
    b = riemannian_gradient_flow(point, loss, 3, t, "manifold", rtol=1e-10, output="point")
    assert b.stored == "point" and len(b.points) == 3
    np.testing.assert_allclose(a.W[-1], manifold.point_to_matrix(b.points[-1]), atol=1e-13)
    np.testing.assert_allclose(b.W[-1], a.W[-1], atol=1e-13)  # formed from the points
    # and the matrices of a run that stored matrices give the same points
    np.testing.assert_allclose(a.points[-1][1], b.points[-1][1], rtol=1e-12)


@pytest.mark.parametrize("integrator", ["DOP853", "LSODA"])
@pytest.mark.parametrize("method", ["dense", "manifold"])
def test_aligned_whitened_closed_form_depth_2(method, integrator):
    s = np.array([3.0, 1.5, 0.7])
    sigma0 = np.array([0.2, 0.05])
    loss, W0, U, V = _aligned(7, 5, 2, s, sigma0)
    t = np.linspace(0, 4, 9)
    res = riemannian_gradient_flow(
        W0, loss, 2, t, method, rtol=1e-12, atol=1e-14, integrator=integrator
    )
    assert res.status == 0, res.message
    e = np.exp(2 * np.outer(t, s[:2]))
    sigma = s[:2] * sigma0 * e / (s[:2] - sigma0 + sigma0 * e)
    exact = np.einsum("ia,ta,ja->tij", U, sigma, V)
    assert _rel(res.W, exact) < 1e-8


@pytest.mark.parametrize("method", ["dense", "manifold"])
def test_aligned_whitened_closed_form_depth_1(method):
    s = np.array([2.0, 1.0, 0.5])
    sigma0 = np.array([0.3, 1.7])
    loss, W0, U, V = _aligned(6, 6, 2, s, sigma0, seed=1)
    t = np.linspace(0, 3, 7)
    res = riemannian_gradient_flow(W0, loss, 1, t, method, rtol=1e-12, atol=1e-14)
    sigma = s[:2] + (sigma0 - s[:2]) * np.exp(-t)[:, None]
    exact = np.einsum("ia,ta,ja->tij", U, sigma, V)
    assert res.status == 0 and _rel(res.W, exact) < 1e-8


@pytest.mark.parametrize("method", ["dense", "manifold"])
@pytest.mark.parametrize("depth", [2, 4])
def test_loss_decreases_monotonically(method, depth):
    loss, W0 = _problem(seed=10 + depth)
    res = riemannian_gradient_flow(W0, loss, depth, np.linspace(0, 10, 60), method)
    assert res.status == 0
    assert np.all(np.diff(res.loss) < 0)


@pytest.mark.parametrize("method", ["dense", "manifold"])
@pytest.mark.parametrize("depth", [1, 3])
def test_generic_start_reaches_the_optimum_on_Mk(method, depth):
    rng = np.random.default_rng(20 + depth)
    m, n, k = 5, 4, 2
    loss = RegressionLoss(
        np.eye(n) + 0.2 * rng.standard_normal((n, n)),
        np.diag([3, 2, 1, 0.5, 0.0])[:, :n] + 0.1 * rng.standard_normal((m, n)),
    )
    W0 = 0.3 * rng.standard_normal((m, k)) @ rng.standard_normal((k, n))
    Wstar, value = loss.optimum(k)
    res = riemannian_gradient_flow(W0, loss, depth, [0.0, 60.0], method)
    assert res.status == 0, res.message
    assert res.loss[-1] == pytest.approx(value, rel=1e-8)
    np.testing.assert_allclose(res.W[-1], Wstar, atol=1e-5)


def test_manifold_integrator_order_is_8():
    # Fixed steps h (first_step = max_step = h, tolerances never binding): DOP853 order 8.
    loss, W0 = _problem(seed=0)
    ref = riemannian_gradient_flow(W0, loss, 2, [0.0, 1.0], "manifold", rtol=1e-13, atol=1e-16)
    hs, errs = [], []
    for steps in (4, 5, 6, 7, 8):
        h = 1.0 / steps
        res = riemannian_gradient_flow(
            W0,
            loss,
            2,
            [0.0, 1.0],
            "manifold",
            1e6,
            1e6,
            first_step=h,
            max_step=h * (1 + 1e-9),
            integrator="DOP853",
        )
        hs.append(h)
        errs.append(np.linalg.norm(res.W[-1] - ref.W[-1]))
    assert abs(fit_loglog_slope(hs, errs) - 8) < 0.5


def test_descent_decreases_and_converges_to_the_optimum():
    loss, W0 = _problem(seed=5)
    res = riemannian_gradient_descent(W0, loss, 3, 0.2, 3000)
    assert res.status == 0 and res.nfev == 3000
    assert np.all(np.diff(res.loss) <= 1e-15)
    assert res.loss[-1] == pytest.approx(loss.optimum(2)[1], rel=1e-9)
    assert res.t[-1] == pytest.approx(600.0)


def test_descent_is_first_order_in_the_step():
    loss, W0 = _problem(seed=6)
    T = 2.0
    flow = riemannian_gradient_flow(W0, loss, 2, [0.0, T], "manifold", rtol=1e-12, atol=1e-14)
    steps = np.array([0.04, 0.02, 0.01, 0.005])
    errs = []
    for eta in steps:
        res = riemannian_gradient_descent(W0, loss, 2, float(eta), int(round(T / eta)))
        errs.append(np.linalg.norm(res.W[-1] - flow.W[-1]))
    assert abs(fit_loglog_slope(steps, errs) - 1) < 0.1


def test_descent_reports_divergence():
    loss, W0, _, _ = _aligned(4, 4, 2, np.array([2.0, 1.0]), np.array([1.0, 0.5]))
    res = riemannian_gradient_descent(W0, loss, 1, 3.0, 500)
    assert res.status == -2
    assert "divergence" in res.message
    assert len(res.t) < 500 and np.all(np.isfinite(res.loss))


def test_descent_reports_rank_loss():
    loss = RegressionLoss(np.eye(2), np.diag([1.0, -1.0]))
    res = riemannian_gradient_descent(np.eye(2), loss, 1, 0.5, 10)
    assert res.status == -3
    assert "rank" in res.message
    assert len(res.t) == 1 and np.all(np.isfinite(res.loss))


@pytest.mark.parametrize("integrator", ["DOP853", "LSODA"])
@pytest.mark.parametrize("method", ["dense", "manifold"])
def test_flow_reports_rank_loss(method, integrator):
    # Aligned, target singular value 0, N = 2: sigma(t) = 1 / (1 + 2 t), below 1e-3 at t=499.5.
    # The step-size control bounds errors relative to the largest state entries (O(1)),
    # not to sigma_2 ~ 1e-3: LSODA's relative error in sigma_2 at t = 400 measured 0.9e-6
    # to 1.3e-6 at rtol = 1e-9 (depending on when its Jacobian is re-evaluated) and 2e-7
    # at rtol = 1e-10, DOP853's below 1e-10 at either; hence rtol = 1e-10 here.
    loss, W0, _, _ = _aligned(3, 3, 2, np.array([1.0]), np.array([1.0, 1.0]))
    t = np.linspace(0, 1000, 11)
    res = riemannian_gradient_flow(
        W0, loss, 2, t, method, 1e-10, 1e-13, rank_tol=1e-3, integrator=integrator
    )
    assert res.status == -3 and "rank" in res.message
    np.testing.assert_allclose(res.t, t[:5])
    np.testing.assert_allclose(res.singular_values[:, 1], 1 / (1 + 2 * t[:5]), rtol=1e-6)


@pytest.mark.parametrize("integrator", ["DOP853", "LSODA"])
def test_flow_reports_divergence(integrator):
    # L(W) = -||W||^4: the flow blows up in finite time.
    loss = MatrixLoss(lambda W: -(np.sum(W**2) ** 2), lambda W: -4 * np.sum(W**2) * W)
    res = riemannian_gradient_flow(
        np.eye(2), loss, 1, [0.0, 1.0], "manifold", integrator=integrator
    )
    assert res.status == -2 and "divergence" in res.message
    assert np.all(np.isfinite(res.loss))


def test_low_rank_target_runs_without_dense_arrays():
    rng = np.random.default_rng(7)
    m = n = 3000
    k = 3
    manifold = FixedRankDeepLinear(m, n, k, 3, rng=rng)
    T = manifold.random_point()
    loss = low_rank_target_loss((T[0], T[1], T[2].T))
    start = manifold.random_point()
    tracemalloc.start()
    res = riemannian_gradient_flow(start, loss, 3, [0.0, 0.5, 20.0], "manifold", output="point")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert res.status == 0
    assert peak < m * n * 8 / 10
    assert np.all(np.diff(res.loss) < 0) and res.loss[-1] < 0.05 * res.loss[0]
    # cross-check the low-rank gradient on a small instance against the dense method
    small = FixedRankDeepLinear(8, 6, 2, 3, rng=1)
    Ts = small.random_point()
    loss_s = low_rank_target_loss((Ts[0], Ts[1], Ts[2].T))
    dense_s = MatrixLoss(
        lambda W: 0.5 * np.sum((W - small.point_to_matrix(Ts)) ** 2),
        lambda W: W - small.point_to_matrix(Ts),
    )
    start_s = small.random_point()
    a = riemannian_gradient_flow(start_s, loss_s, 3, [0, 1, 2], "manifold", 1e-11, 1e-14)
    b = riemannian_gradient_flow(start_s, dense_s, 3, [0, 1, 2], "dense", 1e-11, 1e-14)
    assert _rel(a.W, b.W) < 1e-8
    assert ambient_to_dense(loss_s.gradient(start_s)).shape == (8, 6)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"t_eval": [0.0, 2.0, 1.0]}, ValueError, "t_eval must be strictly increasing"),
        ({"t_eval": [0.0, np.nan]}, ValueError, "t_eval has non-finite"),
        ({"t_eval": [[0.0, 1.0]]}, ValueError, "t_eval must be a non-empty 1-D"),
        ({"W0": np.full((6, 5), np.nan)}, ValueError, "W0 has non-finite"),
        ({"W0": np.ones((5, 5))}, ValueError, r"W0 has shape \(5, 5\) but the loss expects"),
        ({"W0": np.ones(5)}, ValueError, "W0 must be an"),
        ({"W0": np.zeros((6, 5))}, ValueError, "W0 is the zero matrix"),
        ({"k": 3}, ValueError, "W0: W has numerical rank 2 < k=3"),
        ({"depth": 0}, ValueError, "depth must be >= 1"),
        ({"formulation": "rk4"}, ValueError, "formulation must be 'dense' or 'manifold'"),
        ({"integrator": "RK45"}, ValueError, "integrator must be 'auto', 'DOP853' or 'LSODA'"),
        ({"rtol": -1.0}, ValueError, "rtol must be a positive"),
        ({"output": "list"}, ValueError, "output must be"),
        ({"loss": object()}, TypeError, "loss must follow riemlin's loss protocol"),
    ],
)
def test_flow_bad_input(kwargs, error, match):
    loss, W0 = _problem()
    args = {"W0": W0, "loss": loss, "depth": 2, "t_eval": [0.0, 1.0]} | kwargs
    with pytest.raises(error, match=match):
        riemannian_gradient_flow(**args)


def test_descent_bad_input():
    loss, W0 = _problem()
    with pytest.raises(ValueError, match="step must be a positive"):
        riemannian_gradient_descent(W0, loss, 2, -0.1, 10)
    with pytest.raises(ValueError, match="n_steps must be >= 0"):
        riemannian_gradient_descent(W0, loss, 2, 0.1, -1)
    point = FixedRankDeepLinear(6, 5, 2, 2, rng=0).random_point()
    with pytest.raises(ValueError, match="k=3 does not match the rank 2"):
        riemannian_gradient_descent(point, loss, 2, 0.1, 1, k=3)
    with pytest.raises(ValueError, match="W0.s must hold"):
        riemannian_gradient_descent((point[0], -point[1], point[2]), loss, 2, 0.1, 1)


def test_docstring_examples_run():
    import doctest

    import riemlin.dynamics.riemannian
    import riemlin.losses.regression

    for module in (riemlin.dynamics.riemannian, riemlin.losses.regression):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("method", ["dense", "manifold"])
def test_generic_losses_are_accepted_like_regression(method):
    import autograd.numpy as anp

    loss, W0 = _problem(seed=9)
    X, Y = loss.X, loss.Y
    auto = MatrixLoss.from_autograd(lambda W: 0.5 * anp.sum((anp.dot(W, X) - Y) ** 2))
    t = [0.0, 1.0, 2.0]
    a = riemannian_gradient_flow(W0, loss, 3, t, method, rtol=1e-11, atol=1e-14)
    b = riemannian_gradient_flow(W0, auto, 3, t, method, rtol=1e-11, atol=1e-14)
    assert _rel(a.W, b.W) < 1e-10
    c = riemannian_gradient_descent(W0, auto, 3, 0.1, 20)
    d = riemannian_gradient_descent(W0, loss, 3, 0.1, 20)
    np.testing.assert_allclose(c.loss, d.loss, rtol=1e-12)


def _factored_state(m, n, k, seed):
    """A full-rank (U, S, V) far from orthonormal factors and a dense S."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((m, k)))[0] + 0.3 * rng.standard_normal((m, k))
    V = np.linalg.qr(rng.standard_normal((n, k)))[0] + 0.3 * rng.standard_normal((n, k))
    S = np.diag(rng.uniform(0.5, 2.0, k)) + 0.2 * rng.standard_normal((k, k))
    return U, S, V


@pytest.mark.parametrize("depth", [1, 2, 5, 20])
def test_factor_velocity_moves_W_along_minus_the_riemannian_gradient(depth):
    # d/dt (U S V^T) = -A_W(P_T grad L) for any full-rank (U, S, V), and U^T dU = 0 = V^T dV
    # (which keeps U^T U and V^T V constant). Reference: the SVD point, the manifold's
    # Riemannian gradient and the dense tangent vector. Both sides are O(1); the
    # differences are rounding errors amplified by cond(U), cond(V) (< 10 here).
    from riemlin.dynamics.riemannian import _factor_velocity, riemannian_gradient

    m, n, k = 7, 6, 3
    loss, _ = _problem(m, n, 15, k, seed=depth)
    U, S, V = _factored_state(m, n, k, seed=depth)
    dU, dS, dV = _factor_velocity(U, S, V, loss, depth)
    W_dot = dU @ S @ V.T + U @ dS @ V.T + U @ S @ dV.T
    manifold = FixedRankDeepLinear(m, n, k, depth)
    point = manifold.point_from_matrix(U @ S @ V.T)
    u, _, vt = point
    Up, M, Vp = riemannian_gradient(manifold, point, loss)
    expected = -(u @ M @ vt + Up @ vt + u @ Vp.T)
    scale = np.linalg.norm(expected)
    assert np.linalg.norm(W_dot - expected) < 1e-13 * scale
    assert np.abs(U.T @ dU).max() < 1e-13 * scale
    assert np.abs(V.T @ dV).max() < 1e-13 * scale


def test_factor_velocity_of_a_stack_equals_one_state_at_a_time():
    # The batched path (used for the finite-difference Jacobian of LSODA) against the
    # single-state path; they differ only in the LAPACK drivers (rounding level).
    from riemlin.dynamics.riemannian import _factor_velocity

    loss, _ = _problem(7, 6, 15, 3, seed=2)
    states = [_factored_state(7, 6, 3, seed) for seed in range(4)]
    stacked = _factor_velocity(*(np.array(x) for x in zip(*states)), loss, 4)
    for i, state in enumerate(states):
        for one, many in zip(_factor_velocity(*state, loss, 4), stacked):
            np.testing.assert_allclose(many[i], one, rtol=1e-12, atol=1e-13)


class _TwoProductsOnly:
    """A protocol loss without ``gradient_products`` (the flows must fall back)."""

    def __init__(self, loss):
        self._loss = loss
        self.calls = 0

    def value(self, W):
        return self._loss.value(W)

    def gradient(self, W):
        return self._loss.gradient(W)

    def gradient_matmul(self, W, B):
        self.calls += 1
        return self._loss.gradient_matmul(W, B)

    def gradient_rmatmul(self, W, A):
        self.calls += 1
        return self._loss.gradient_rmatmul(W, A)


@pytest.mark.parametrize("integrator", ["DOP853", "LSODA"])
def test_shared_products_give_the_same_flow_as_single_products(integrator):
    # RegressionLoss.gradient_products (Gram matrices) against the two residual-based
    # products of the protocol: the right-hand sides agree to rounding (~1e-15). DOP853
    # then takes the same steps and the end points agree far below the tolerance; LSODA's
    # step and Newton decisions react to the rounding (measured: 221 vs 227 evaluations),
    # so there the runs agree to their integration error (rtol = 1e-10), not to rounding.
    loss, W0 = _problem(seed=12)
    plain = _TwoProductsOnly(loss)
    t = [0.0, 0.5, 1.0]
    a = riemannian_gradient_flow(W0, loss, 3, t, "manifold", rtol=1e-10, integrator=integrator)
    b = riemannian_gradient_flow(W0, plain, 3, t, "manifold", rtol=1e-10, integrator=integrator)
    assert a.status == b.status == 0
    assert plain.calls >= 2 * b.nfev > 0
    assert _rel(a.W, b.W) < (1e-12 if integrator == "DOP853" else 1e-9)


def test_lsoda_and_dop853_agree_on_a_deep_flow():
    # Depth 20: the stiff case LSODA is offered for. Both end points within their
    # tolerances of a tight DOP853 reference.
    loss, W0 = _problem(m=8, n=7, s=20, k=3, seed=13)
    t = [0.0, 1.0, 2.0]
    ref = riemannian_gradient_flow(W0, loss, 20, t, "manifold", rtol=1e-12, atol=1e-14)
    lsoda = riemannian_gradient_flow(
        W0, loss, 20, t, "manifold", rtol=1e-9, atol=1e-11, integrator="LSODA"
    )
    assert ref.status == lsoda.status == 0
    assert 0 < _rel(lsoda.W, ref.W) < 1e-7


# ---------------------------------------------------------------- stiff deep flows
def _stiff(m=10, k=3, seed=0):
    """Regression with 3m samples and a rank-k start of singular values ~1: at depth 30
    the core block of the flow's Jacobian carries N c_a ~ 30 times the other blocks."""
    rng = np.random.default_rng(seed)
    loss = RegressionLoss(rng.standard_normal((m, 3 * m)), rng.standard_normal((m, 3 * m)))
    W0 = rng.standard_normal((m, k)) @ rng.standard_normal((k, m)) / m
    return loss, W0


def test_default_integrator_is_implicit_on_small_factored_states_and_explicit_otherwise():
    from riemlin.dynamics.riemannian import AUTO_IMPLICIT_STATES, _choose_integrator

    assert _choose_integrator("auto", "manifold", AUTO_IMPLICIT_STATES) == "LSODA"
    assert _choose_integrator("auto", "manifold", AUTO_IMPLICIT_STATES + 1) == "DOP853"
    assert _choose_integrator("auto", "dense", 10) == "DOP853"
    assert _choose_integrator("DOP853", "manifold", 10) == "DOP853"


def test_default_arguments_follow_a_stiff_deep_flow_with_few_evaluations():
    loss, W0 = _stiff()
    t = [0.0, 2.0]
    ref = riemannian_gradient_flow(W0, loss, 30, t, rtol=1e-12, atol=1e-15, integrator="DOP853")
    default = riemannian_gradient_flow(W0, loss, 30, t)
    explicit = riemannian_gradient_flow(W0, loss, 30, t, integrator="DOP853")
    assert ref.status == default.status == explicit.status == 0
    # rtol = 1e-9: measured end-point errors 8.5e-11 (default) and 9.9e-10 (DOP853); the
    # bound allows global errors of ten times the local tolerance
    for res in (default, explicit):
        assert _rel(res.W[-1:], ref.W[-1:]) < 1e-8
    # DOP853 runs at its stability limit: measured 9089 evaluations against 2326 (the
    # default's count includes a column per unknown for each Jacobian)
    assert default.nfev < explicit.nfev / 2


def test_saved_jacobian_gives_the_fresh_jacobians_answer(monkeypatch):
    import riemlin.dynamics.riemannian as riemannian

    loss, W0 = _stiff(seed=1)
    t = np.linspace(0.0, 2.0, 5)
    saved = riemannian_gradient_flow(W0, loss, 30, t)
    monkeypatch.setattr(riemannian, "JACOBIAN_AGE", 0)  # a new Jacobian at every request
    fresh = riemannian_gradient_flow(W0, loss, 30, t)
    assert saved.status == fresh.status == 0
    # the Jacobian only steers the Newton iterations: both runs meet the tolerance
    # (rtol = 1e-9), and differ by global errors of that order
    assert _rel(saved.W, fresh.W) < 1e-8
    assert saved.nfev < fresh.nfev  # fewer Jacobians


@pytest.mark.parametrize("scale", [1.0, 1e-4, 1e-8])
def test_factored_jacobian_matches_central_differences(scale):
    # at every scale of W: the steps in S are relative to the size of S
    from riemlin.dynamics.riemannian import _factor_jacobian, _factor_velocity

    loss, W0 = _stiff(m=6, k=2)
    m, k, depth = 6, 2, 7
    rng = np.random.default_rng(3)
    u, s, vt = np.linalg.svd(W0)
    U = u[:, :k] + 0.1 * rng.standard_normal((m, k))  # a state off the orthonormal frame
    S = scale * (np.diag(s[:k]) + 0.1 * rng.standard_normal((k, k)))
    V = vt[:k].T + 0.1 * rng.standard_normal((m, k))

    def F(y):
        a, b = m * k, m * k + k * k
        parts = _factor_velocity(
            y[:a].reshape(m, k), y[a:b].reshape(k, k), y[b:].reshape(m, k), loss, depth
        )
        return np.concatenate([p.ravel() for p in parts])

    y = np.concatenate((U.ravel(), S.ravel(), V.ravel()))
    J = _factor_jacobian(y, F(y), (m, k), loss, depth)
    for _ in range(3):
        d = rng.standard_normal(y.size)
        d[m * k : m * k + k * k] *= scale  # a direction of the size of each block
        eps = 1e-5  # central differences: error ~ eps^2 |F'''| ~ 1e-10 relative
        central = (F(y + eps * d) - F(y - eps * d)) / (2 * eps)
        # forward differences with steps relative to each block: error ~ 1e-8 relative
        np.testing.assert_allclose(J @ d, central, rtol=1e-5, atol=1e-5 * np.abs(central).max())


@pytest.mark.parametrize("N", [1, 2, 3, 5])
@pytest.mark.parametrize("form", ["dense", "sparse", "low_rank"])
def test_layer_gradients_by_backpropagation_match_the_adjoint(N, form):
    import scipy.sparse as sp

    from riemlin.dynamics.layers import _layer_gradients
    from riemlin.geometry.ambient import ambient_to_dense
    from riemlin.networks.chain import chain_adjoint, chain_product

    rng = np.random.default_rng(N)
    widths = [4, 5, 3, 6, 5, 4][: N + 1]
    layers = [rng.standard_normal((widths[j + 1], widths[j])) for j in range(N)]
    T = rng.standard_normal((widths[-1], widths[0]))
    G = {
        "dense": lambda W: W - T,
        "sparse": lambda W: sp.csr_matrix(np.where(np.abs(T) > 0.5, W - T, 0.0)),
        "low_rank": lambda W: (W[:, :2], np.eye(2), np.eye(widths[0])[:, :2]),
    }[form]
    loss = MatrixLoss(lambda W: 0.0, G)
    # the definition, densely: S_j^T Z P_{j-1}^T with the suffix and prefix products
    Z = ambient_to_dense(loss.gradient(chain_product(layers)))
    eye = [np.eye(widths[0])]
    expected = [
        chain_product(layers[j + 1 :] or [np.eye(widths[-1])]).T
        @ Z
        @ chain_product(layers[:j] or eye).T
        for j in range(N)
    ]
    adjoint = chain_adjoint(layers, loss.gradient(chain_product(layers)))  # Z not densified
    for grads in (_layer_gradients(layers, loss), adjoint):
        assert len(grads) == N
        for a, b in zip(grads, expected):
            # the same products in another order: rounding of a few ulps of the entries
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
