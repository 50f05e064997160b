"""Measurements against dense references: layer Hessian-vector products, sharpness,
Riemannian sharpness, rates."""

import autograd.numpy as anp
import numpy as np
import pytest
import scipy.linalg as sla
from autograd import hessian

from riemlin import FixedRankDeepLinear, RegressionLoss
from riemlin.dynamics.measures import (
    descent_trace,
    linear_rate,
    riemannian_hessian_operator,
    riemannian_sharpness,
    steps_to_tolerance,
)
from riemlin.networks.balance import imbalance
from riemlin.networks.sharpness import (
    DENSE_LIMIT,
    layer_hessian_operator,
    layer_hessian_vector,
    layer_norms,
    layer_sharpness,
    loss_hessian_vector,
)
from riemlin.reference import metric_operator_inverse_dense


def _layers(widths, seed):
    rng = np.random.default_rng(seed)
    F = [rng.standard_normal((widths[j + 1], widths[j])) for j in range(len(widths) - 1)]
    X = rng.standard_normal((widths[0], 2 * widths[0] + 1))
    Y = rng.standard_normal((widths[-1], X.shape[1]))
    return F, RegressionLoss(X, Y)


def _dense_layer_hessian(F, loss):
    """autograd's Hessian of the flattened layer loss (the reference)."""
    shapes = [W.shape for W in F]
    off = np.cumsum([0] + [W.size for W in F])

    def f(x):
        P = anp.reshape(x[off[0] : off[1]], shapes[0])
        for j in range(1, len(F)):
            P = anp.dot(anp.reshape(x[off[j] : off[j + 1]], shapes[j]), P)
        R = anp.dot(P, loss.X) - loss.Y
        return 0.5 * anp.sum(R**2)

    return hessian(f)(np.concatenate([W.ravel() for W in F]))


@pytest.mark.parametrize(
    "widths",
    [(3, 4), (3, 2, 4), (4, 3, 5, 2), (2, 3, 1, 2, 3)],
    ids=lambda w: "-".join(map(str, w)),
)
def test_layer_hessian_products_match_autograd(widths):
    F, loss = _layers(widths, seed=len(widths))
    H = _dense_layer_hessian(F, loss)
    op = layer_hessian_operator(F, loss)
    A = np.column_stack([op.matvec(e) for e in np.eye(op.shape[0])])
    # both are sums of O(N) products of O(1) matrices: agreement to ~1e-15 relative
    np.testing.assert_allclose(A, H, atol=1e-13 * np.abs(H).max())
    top = np.linalg.eigvalsh(H)[-1]
    assert layer_sharpness(F, loss, rng=0) == pytest.approx(top, rel=1e-9)


def test_lanczos_beyond_the_dense_limit_matches_the_dense_spectrum():
    F, loss = _layers((6, 5, 4), seed=3)  # 50 parameters > DENSE_LIMIT: ARPACK
    assert sum(W.size for W in F) > DENSE_LIMIT
    top = np.linalg.eigvalsh(_dense_layer_hessian(F, loss))[-1]
    assert layer_sharpness(F, loss, rng=0) == pytest.approx(top, rel=1e-9)


def test_layer_hessian_vector_blocks_and_shape_errors():
    F, loss = _layers((3, 2, 4), seed=1)
    H = [np.ones_like(W) for W in F]
    out = layer_hessian_vector(F, loss, H)
    op = layer_hessian_operator(F, loss)
    flat = op.matvec(np.concatenate([h.ravel() for h in H]))
    np.testing.assert_allclose(np.concatenate([b.ravel() for b in out]), flat)
    with pytest.raises(ValueError, match="H must"):
        layer_hessian_vector(F, loss, H[:1])

    class NoHessian:
        def gradient(self, W):
            return W

    with pytest.raises(TypeError, match="hessian_vector"):
        loss_hessian_vector(NoHessian(), np.eye(2), np.eye(2))


def test_sharpness_of_wide_layers_without_a_dense_hessian():
    """Width 200 (8000 parameters): Lanczos alone. Its value bounds every Rayleigh
    quotient and is reproduced from another start vector (ARPACK tolerance 1e-10)."""
    rng = np.random.default_rng(0)
    F = [rng.standard_normal((200, 20)) / 15, rng.standard_normal((20, 200)) / 15]
    loss = RegressionLoss(rng.standard_normal((20, 40)) / 6, rng.standard_normal((20, 40)))
    a = layer_sharpness(F, loss, rng=1)
    b = layer_sharpness(F, loss, rng=2)
    assert a == pytest.approx(b, rel=1e-8)
    op = layer_hessian_operator(F, loss)
    for _ in range(5):
        v = rng.standard_normal(op.shape[0])
        assert v @ op.matvec(v) / (v @ v) <= a * (1 + 1e-10)


def test_scalar_depth_two_sharpness_is_the_squared_norm_at_a_minimum():
    """At a^T b = Phi the Hessian is [b; a][b; a]^T: sharpness ||a||^2 + ||b||^2."""
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(6), rng.standard_normal(6)
    loss = RegressionLoss(np.ones((1, 1)), np.full((1, 1), a @ b))
    value = layer_sharpness([b[:, None], a[None, :]], loss)
    assert value == pytest.approx(a @ a + b @ b, rel=1e-12)
    np.testing.assert_allclose(
        layer_norms([b[:, None], a[None, :]]), [np.linalg.norm(b), np.linalg.norm(a)]
    )


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_riemannian_sharpness_matches_the_dense_generalized_eigenproblem(depth):
    """Reference: the Hessian form and the Gram matrix of g in a Frobenius-orthonormal
    basis of the tangent space (g from the dense fractional-power formula), solved by
    scipy.linalg.eigh(H, G)."""
    rng = np.random.default_rng(depth)
    m, n, k = 5, 4, 2
    loss = RegressionLoss(rng.standard_normal((n, 9)), rng.standard_normal((m, 9)))
    manifold = FixedRankDeepLinear(m, n, k, depth=depth)
    x = manifold.random_point(rng)
    u, s, vt = x
    W = (u * s) @ vt
    G = loss.gradient(W)
    cols = [
        manifold.tangent_to_matrix(x, manifold.projection(x, E.reshape(m, n)))
        for E in np.eye(m * n)
    ]
    Q = np.linalg.svd(np.array([c.ravel() for c in cols]).T, full_matrices=False)[0][
        :, : k * (m + n - k)
    ]
    basis = [Q[:, i].reshape(m, n) for i in range(Q.shape[1])]
    Hf = np.zeros((len(basis),) * 2)
    Gf = np.zeros_like(Hf)
    for i, Xi in enumerate(basis):
        h = manifold.riemannian_hessian_from_matrix(
            x, G, loss_hessian_vector(loss, W, Xi), manifold.projection(x, Xi)
        )
        AinvH = metric_operator_inverse_dense(W, manifold.tangent_to_matrix(x, h), depth)
        AinvX = metric_operator_inverse_dense(W, Xi, depth)
        for j, Xj in enumerate(basis):
            Hf[i, j] = np.sum(AinvH * Xj)
            Gf[i, j] = np.sum(AinvX * Xj)
    top = sla.eigh(0.5 * (Hf + Hf.T), 0.5 * (Gf + Gf.T), eigvals_only=True)[-1]
    op = riemannian_hessian_operator(manifold, x, loss)
    B = np.column_stack([op.matvec(e) for e in np.eye(op.shape[0])])
    # g-self-adjointness makes the coordinate matrix symmetric (to rounding)
    assert np.abs(B - B.T).max() <= 1e-12 * np.abs(B).max()
    # the dense fractional powers carry ~1e-12 relative error
    assert riemannian_sharpness(manifold, x, loss, rng=0) == pytest.approx(top, rel=1e-9)


def test_riemannian_sharpness_by_lanczos_on_a_larger_manifold():
    rng = np.random.default_rng(7)
    m, n, k = 40, 30, 4
    loss = RegressionLoss(rng.standard_normal((n, 60)), rng.standard_normal((m, 60)))
    manifold = FixedRankDeepLinear(m, n, k, depth=3)
    x = manifold.random_point(rng)
    op = riemannian_hessian_operator(manifold, x, loss)
    B = np.column_stack([op.matvec(e) for e in np.eye(op.shape[0])])
    top = np.linalg.eigvalsh(0.5 * (B + B.T))[-1]
    assert riemannian_sharpness(manifold, x, loss, rng=0) == pytest.approx(top, rel=1e-9)


def test_linear_rate_and_steps_to_tolerance_on_exact_exponentials():
    t = np.linspace(0, 10, 101)
    excess = 3.0 * np.exp(-0.7 * t)
    excess[:5] = 3.0  # a plateau before the linear phase is not counted
    assert linear_rate(t, excess) == pytest.approx(0.7, rel=1e-10)
    assert np.isnan(linear_rate(t, np.full(t.size, 1.0)))
    e = 0.5 ** np.arange(40)
    assert steps_to_tolerance(e, 1e-3) == 10.0  # 2^-10 < 1e-3 < 2^-9
    assert np.isnan(steps_to_tolerance(e, 1e-30))


def test_descent_trace_records_the_exact_imbalance_update():
    """Per step the imbalance changes by eta^2 (G_2^T G_2 - G_1 G_1^T) (derived in the guide);
    the trace's matrices satisfy it to rounding."""
    F, loss = _layers((3, 4, 2), seed=5)
    F = [0.3 * W for W in F]
    eta = 0.01
    tr = descent_trace(F, loss, eta, 2, every=1, rng=0)
    from riemlin.networks.chain import chain_adjoint, chain_product

    G = chain_adjoint(F, loss.gradient(chain_product(F)))
    expected = imbalance(F)[0] + eta**2 * (G[1].T @ G[1] - G[0] @ G[0].T)
    np.testing.assert_allclose(tr.imbalance_matrices[1][0], expected, atol=1e-14)
    assert tr.steps.tolist() == [0, 1, 2] and tr.imbalance.shape == (3, 1)
    assert np.all(np.isfinite(tr.sharpness)) and np.all(tr.norm > 0)
