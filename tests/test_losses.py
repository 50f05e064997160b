"""Losses: gradients against Taylor remainders, products, closed-form optima, validation."""

import autograd.numpy as anp
import numpy as np
import pytest
from conftest import fit_loglog_slope
from pymanopt.manifolds import FixedRankEmbedded

from riemlin import Loss, MatrixLoss, RegressionLoss, low_rank_target_loss
from riemlin.geometry.ambient import ambient_to_dense
from riemlin.losses import gradient_products

SHAPES = [(5, 4, 9), (3, 6, 8), (7, 7, 20)]


def _regression(m, n, s, seed=0):
    rng = np.random.default_rng(seed)
    return RegressionLoss(rng.standard_normal((n, s)), rng.standard_normal((m, s)))


def _point(m, n, k, seed=1):
    rng = np.random.default_rng(seed)
    u, s, vt = np.linalg.svd(rng.standard_normal((m, n)), full_matrices=False)
    return u[:, :k], s[:k], vt[:k]


def _losses(m, n, s):
    reg = _regression(m, n, s)
    X, Y = reg.X, reg.Y
    return {
        "regression": reg,
        "callables": MatrixLoss(
            lambda W: 0.5 * np.sum((W @ X - Y) ** 2), lambda W: (W @ X - Y) @ X.T
        ),
        "autograd": MatrixLoss.from_autograd(lambda W: 0.5 * anp.sum((anp.dot(W, X) - Y) ** 2)),
        "quartic": MatrixLoss.from_autograd(lambda W: anp.sum(anp.sin(W) * W**3)),
    }


def _taylor_slope(loss, W, D):
    hs = np.logspace(-4, -1, 8)
    G = ambient_to_dense(loss.gradient(W))
    f0 = loss.value(W)
    rem = [abs(loss.value(W + h * D) - f0 - h * np.vdot(G, D)) for h in hs]
    return fit_loglog_slope(hs, rem)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ["regression", "callables", "autograd", "quartic"])
def test_gradient_taylor_remainder_is_second_order(shape, name):
    m, n, s = shape
    loss = _losses(m, n, s)[name]
    rng = np.random.default_rng(3)
    W, D = rng.standard_normal((m, n)), rng.standard_normal((m, n))
    assert abs(_taylor_slope(loss, W, D) - 2) < 0.1


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ["regression", "callables", "autograd"])
def test_products_and_points_agree_with_dense(shape, name):
    m, n, s = shape
    loss = _losses(m, n, s)[name]
    assert isinstance(loss, Loss)
    point = _point(m, n, 2)
    W = (point[0] * point[1]) @ point[2]
    G = ambient_to_dense(loss.gradient(W))
    rng = np.random.default_rng(4)
    B, A = rng.standard_normal((n, 3)), rng.standard_normal((m, 3))
    for arg in (W, point):
        assert loss.value(arg) == pytest.approx(loss.value(W), rel=1e-13)
        np.testing.assert_allclose(loss.gradient_matmul(arg, B), G @ B, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(loss.gradient_rmatmul(arg, A), G.T @ A, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ambient_to_dense(loss.gradient(point)), G, atol=1e-12)


def test_low_rank_target_loss_matches_dense_and_stays_low_rank():
    rng = np.random.default_rng(5)
    m, n = 9, 7
    T = (rng.standard_normal((m, 3)), rng.uniform(1, 2, 3), rng.standard_normal((n, 3)))
    Td = ambient_to_dense(T)
    loss = low_rank_target_loss(T)
    dense = low_rank_target_loss(Td)
    point = _point(m, n, 2)
    W = (point[0] * point[1]) @ point[2]
    assert loss.value(point) == pytest.approx(0.5 * np.sum((W - Td) ** 2), rel=1e-12)
    assert dense.value(point) == pytest.approx(loss.value(point), rel=1e-12)
    G = loss.gradient(point)
    assert isinstance(G, tuple) and G[0].shape == (m, 5)
    np.testing.assert_allclose(ambient_to_dense(G), W - Td, atol=1e-12)
    B = rng.standard_normal((n, 2))
    np.testing.assert_allclose(loss.gradient_matmul(point, B), (W - Td) @ B, atol=1e-12)
    assert _taylor_slope(loss, W, rng.standard_normal((m, n))) == pytest.approx(2, abs=0.1)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_target_solves_the_normal_equations(shape):
    loss = _regression(*shape)
    X, Y = loss.X, loss.Y
    expected = np.linalg.solve(X @ X.T, X @ Y.T).T
    np.testing.assert_allclose(loss.target, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(loss.gradient(loss.target), 0, atol=1e-10)


def test_optimum_eckart_young_when_whitened():
    rng = np.random.default_rng(6)
    Y = rng.standard_normal((6, 5))
    loss = RegressionLoss(np.eye(5), Y)
    assert loss.is_whitened
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    for k in (1, 2, 4, 5):
        W, value = loss.optimum(k)
        np.testing.assert_allclose(W, (U[:, :k] * s[:k]) @ Vt[:k], atol=1e-12)
        assert value == pytest.approx(0.5 * np.sum(s[k:] ** 2), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_optimum_is_a_critical_point_and_beats_random_rank_k(shape):
    m, n, s = shape
    loss = _regression(m, n, s, seed=7)
    assert not loss.is_whitened
    k = 2
    W, value = loss.optimum(k)
    assert np.linalg.matrix_rank(W) == k
    assert loss.value(W) == pytest.approx(value, rel=1e-11)
    # Riemannian (embedded) gradient on M_k vanishes at W*.
    emb = FixedRankEmbedded(m, n, k)
    u, sv, vt = np.linalg.svd(W, full_matrices=False)
    point = (u[:, :k], sv[:k], vt[:k])
    Up, M, Vp = emb.projection(point, loss.gradient(W))
    gscale = np.linalg.norm(loss.gradient(np.zeros((m, n))))
    assert max(np.abs(Up).max(), np.abs(M).max(), np.abs(Vp).max()) < 1e-10 * gscale
    # brute force: random rank-k matrices and local perturbations do no better
    rng = np.random.default_rng(8)
    left, right = point[0] * point[1], point[2]
    for scale in (1e-3, 1e-1, 1.0):
        for _ in range(100):
            Z = (left + scale * rng.standard_normal((m, k))) @ (
                right + scale * rng.standard_normal((k, n))
            )
            assert loss.value(Z) >= value - 1e-12 * abs(value)
    # k = min(m, n): the unconstrained least-squares optimum
    Wfull, vfull = loss.optimum(min(m, n))
    np.testing.assert_allclose(Wfull, loss.target, atol=1e-10)
    assert vfull == pytest.approx(loss.value(loss.target), rel=1e-10)


def test_is_whitened_for_orthonormal_rows():
    rng = np.random.default_rng(9)
    Q, _ = np.linalg.qr(rng.standard_normal((12, 4)))
    assert RegressionLoss(Q.T, rng.standard_normal((3, 12))).is_whitened
    assert not RegressionLoss(2 * Q.T, rng.standard_normal((3, 12))).is_whitened


def test_singular_xxt_raises_or_uses_pinv():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((4, 2)) @ rng.standard_normal((2, 9))  # rank 2 < n = 4
    Y = rng.standard_normal((3, 9))
    with pytest.raises(ValueError, match=r"X X\^T is singular.*pinv=True"):
        RegressionLoss(X, Y)
    loss = RegressionLoss(X, Y, pinv=True)
    expected = Y @ np.linalg.pinv(X)
    np.testing.assert_allclose(loss.target, expected, atol=1e-10)
    W, value = loss.optimum(1)
    assert loss.value(W) == pytest.approx(value, rel=1e-10)


@pytest.mark.parametrize(
    ("X", "Y", "match"),
    [
        (np.ones((3, 5)), np.ones((2, 4)), "same number of columns"),
        (np.ones(5), np.ones((2, 5)), "X must be 2-D"),
        (np.eye(3), np.full((2, 3), np.nan), "Y has non-finite"),
        (np.array([[np.inf, 0], [0, 1.0]]), np.eye(2), "X has non-finite"),
    ],
)
def test_regression_bad_input(X, Y, match):
    with pytest.raises(ValueError, match=match):
        RegressionLoss(X, Y)


def test_matrix_loss_bad_input():
    with pytest.raises(TypeError, match="value must be callable"):
        MatrixLoss(1.0, lambda W: W)
    with pytest.raises(TypeError, match="gradient must be callable"):
        MatrixLoss(lambda W: 0.0, None)
    with pytest.raises(ValueError, match="k must be >= 1"):
        _regression(3, 3, 5).optimum(0)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ["regression", "few_samples", "callables", "autograd", "low_rank"])
def test_gradient_products_match_the_single_products(shape, name):
    m, n, s = shape
    rng = np.random.default_rng(9)
    if name == "low_rank":
        T = (rng.standard_normal((m, 2)), rng.uniform(1, 2, 2), rng.standard_normal((n, 2)))
        loss = low_rank_target_loss(T)
    elif name == "few_samples":  # s < n: RegressionLoss uses one shared residual
        X, Y = rng.standard_normal((n, n - 1)), rng.standard_normal((m, n - 1))
        loss = RegressionLoss(X, Y, pinv=True)
    else:
        loss = _losses(m, n, s)[name]
    point = _point(m, n, 2)
    W = (point[0] * point[1]) @ point[2]
    rng = np.random.default_rng(4)
    B, A = rng.standard_normal((n, 3)), rng.standard_normal((m, 3))
    for arg in (W, point):
        GB, GtA = gradient_products(loss, arg, B, A)
        # Gram form (W X X^T - Y X^T) against (W X - Y) X^T: rounding of O(1) entries.
        np.testing.assert_allclose(GB, loss.gradient_matmul(arg, B), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(GtA, loss.gradient_rmatmul(arg, A), rtol=1e-12, atol=1e-12)


def test_gradient_products_share_one_gradient_and_fall_back_without_the_method():
    calls = []
    T = np.arange(6.0).reshape(2, 3)

    def gradient(W):
        calls.append(1)
        return W - T

    loss = MatrixLoss(lambda W: 0.5 * np.sum((W - T) ** 2), gradient)
    W, B, A = np.ones((2, 3)), np.ones((3, 1)), np.ones((2, 1))
    GB, GtA = gradient_products(loss, W, B, A)
    assert len(calls) == 1
    np.testing.assert_array_equal(GB, (W - T) @ B)
    np.testing.assert_array_equal(GtA, (W - T).T @ A)

    class Minimal:
        def gradient_matmul(self, W, B):
            return ("matmul", B.shape)

        def gradient_rmatmul(self, W, A):
            return ("rmatmul", A.shape)

    assert gradient_products(Minimal(), W, B, A) == (("matmul", (3, 1)), ("rmatmul", (2, 1)))
