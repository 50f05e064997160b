"""The imbalanced two-layer metric g^lambda: derivation, manifold contract, flow."""

import autograd.numpy as anp
import numpy as np
import pymanopt
import pytest

from riemlin import FixedRankDeepLinear, riemannian_gradient_flow
from riemlin.diagnostics import check_gradient, check_manifold
from riemlin.dynamics.imbalanced import compare_imbalanced_flows, imbalanced_gradient_flow
from riemlin.geometry.imbalanced import FixedRankImbalancedTwoLayer, imbalanced_weights
from riemlin.losses import random_regression
from riemlin.networks.balance import imbalance
from riemlin.networks.imbalanced import fibre_move, imbalanced_factors

LAMS = [-3.0, -0.4, 0.0, 0.7, 5.0]


def _problem(seed=0, m=5, n=4, k=2):
    rng = np.random.default_rng(seed)
    loss, W0 = random_regression(m, n, k, 12, rng)
    return loss, W0


@pytest.mark.parametrize("lam", LAMS)
def test_weights_solve_the_quadratics(lam):
    s = np.array([1e-8, 0.3, 1.0, 7.0, 1e6])
    mu, nu = imbalanced_weights(s, lam)
    assert np.all(mu > 0) and np.all(nu > 0)
    # nu - mu = lam and nu mu = s^2 to a few ulps (each root is formed without
    # cancellation, the other one by a division)
    np.testing.assert_allclose(nu * mu, s**2, rtol=4e-16 * 8)
    np.testing.assert_allclose(nu - mu, lam, rtol=1e-15 * 8, atol=8e-16 * np.max(nu))


@pytest.mark.parametrize("lam", LAMS)
def test_layers_over_W_have_the_derived_gram_matrices(lam):
    """W1^T W1 = V diag(mu) V^T, W2 W2^T = U diag(nu) U^T, Q = lam I, W2 W1 = W."""
    _, W = _problem()
    F = imbalanced_factors(W, lam, rng=1)
    u, s, vt = np.linalg.svd(W, full_matrices=False)
    u, s, vt = u[:, :2], s[:2], vt[:2]
    mu, nu = imbalanced_weights(s, lam)
    scale = max(1.0, abs(lam)) * np.max(s)  # size of the Gram matrices
    tol = 1e-13 * scale  # rounding of products of k x k and (m or n) x k factors
    np.testing.assert_allclose(F[1] @ F[0], W, atol=tol)
    np.testing.assert_allclose(imbalance(F)[0], lam * np.eye(2), atol=tol)
    np.testing.assert_allclose(F[0].T @ F[0], (vt.T * mu) @ vt, atol=tol)
    np.testing.assert_allclose(F[1] @ F[1].T, (u * nu) @ u.T, atol=tol)


@pytest.mark.parametrize("lam", LAMS)
def test_layer_velocity_is_minus_the_riemannian_gradient(lam):
    """d/dt (W2 W1) = -(W2 W2^T G + G W1^T W1) = -A^lam(P_T G) (tangent_to_matrix of it)."""
    loss, W = _problem(seed=2)
    F = imbalanced_factors(W, lam, rng=3)
    G = loss.gradient(W)
    velocity = -(F[1] @ (F[1].T @ G) + (G @ F[0].T) @ F[0])
    manifold = FixedRankImbalancedTwoLayer(5, 4, 2, lam)
    x = manifold.point_from_matrix(W)
    xi = manifold.riemannian_gradient_from_matrix(x, G)
    np.testing.assert_allclose(
        -manifold.tangent_to_matrix(x, xi), velocity, atol=1e-12 * np.abs(velocity).max()
    )


def test_lam_zero_is_the_depth_two_metric():
    manifold = FixedRankImbalancedTwoLayer(6, 5, 3, 0.0, rng=0)
    deep = FixedRankDeepLinear(6, 5, 3, depth=2)
    x = manifold.random_point()
    a, b = manifold.random_tangent_vector(x), manifold.random_tangent_vector(x)
    assert manifold.inner_product(x, a, b) == pytest.approx(deep.inner_product(x, a, b), 1e-13)
    for mine, theirs in zip(manifold.metric_operator(x, a), deep.metric_operator(x, a)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("lam", LAMS)
def test_metric_contract_and_gradient_identity(lam):
    manifold = FixedRankImbalancedTwoLayer(6, 5, 2, lam, rng=0)
    report = check_manifold(manifold, rng=1)
    assert report.passed, str(report)
    x = manifold.random_point()
    Gd = np.random.default_rng(2).standard_normal((6, 5))
    grad = manifold.riemannian_gradient_from_matrix(x, Gd)
    xi = manifold.random_tangent_vector(x)
    # g(grad f, xi) = <G, xi>_F: the defining identity, to rounding
    assert manifold.inner_product(x, grad, xi) == pytest.approx(
        np.sum(Gd * manifold.tangent_to_matrix(x, xi)), rel=1e-12
    )
    inv = manifold.metric_operator_inverse(x, manifold.metric_operator(x, xi))
    for a, b in zip(inv, xi):
        np.testing.assert_allclose(a, b, atol=1e-13)


@pytest.mark.parametrize("lam", [-2.0, 1.5])
@pytest.mark.parametrize("source", ["matrix", "usv"])
def test_gradient_passes_the_taylor_check(lam, source):
    """check_gradient fits the slope 2 of the first-order Taylor remainder under g^lam."""
    manifold = FixedRankImbalancedTwoLayer(5, 4, 2, lam, rng=0)
    B = np.random.default_rng(1).standard_normal((5, 4))
    if source == "matrix":

        @pymanopt.function.numpy(manifold)
        def cost(u, s, vt):
            return 0.5 * np.sum(((u * s) @ vt - B) ** 2)

        @pymanopt.function.numpy(manifold)
        def rgrad(u, s, vt):
            return manifold.riemannian_gradient_from_matrix((u, s, vt), (u * s) @ vt - B)

        problem = pymanopt.Problem(manifold, cost, riemannian_gradient=rgrad)
    else:  # autograd on (u, s, vt): euclidean_to_riemannian_gradient through the representer
        C = np.random.default_rng(2).standard_normal((5, 5))

        # through the product, of s alone and of the column space: smooth on M_k
        @pymanopt.function.autograd(manifold)
        def cost(u, s, vt):
            product = 0.5 * anp.sum((anp.dot(u * s, vt) - B) ** 2)
            return product + anp.sum(s**3) + anp.sum(anp.dot(u, u.T) * C)

        problem = pymanopt.Problem(manifold, cost)
    res = check_gradient(problem, rng=0)
    assert res.passed, res.message


def test_wrong_metric_fails_the_taylor_check():
    """The balanced gradient on the imbalanced metric is caught (the check can fail)."""
    manifold = FixedRankImbalancedTwoLayer(5, 4, 2, 2.0, rng=0)
    deep = FixedRankDeepLinear(5, 4, 2, depth=2)
    B = np.random.default_rng(1).standard_normal((5, 4))

    @pymanopt.function.numpy(manifold)
    def cost(u, s, vt):
        return 0.5 * np.sum(((u * s) @ vt - B) ** 2)

    @pymanopt.function.numpy(manifold)
    def rgrad(u, s, vt):
        return deep.riemannian_gradient_from_matrix((u, s, vt), (u * s) @ vt - B)

    res = check_gradient(pymanopt.Problem(manifold, cost, riemannian_gradient=rgrad), rng=0)
    assert not res.passed


def test_bad_arguments_and_missing_hessian():
    with pytest.raises(ValueError, match="lam"):
        FixedRankImbalancedTwoLayer(4, 3, 2, float("nan"))
    with pytest.raises(TypeError, match="lam"):
        FixedRankImbalancedTwoLayer(4, 3, 2, "1")
    with pytest.raises(ValueError, match="k must"):
        FixedRankImbalancedTwoLayer(4, 3, 4, 1.0)
    manifold = FixedRankImbalancedTwoLayer(4, 3, 2, 1.0, rng=0)
    x = manifold.random_point()
    with pytest.raises(NotImplementedError):
        manifold.euclidean_to_riemannian_hessian(x, None, None, None)
    with pytest.raises(ValueError, match="rank"):
        imbalanced_factors(np.zeros((3, 2)), 1.0)
    with pytest.raises(ValueError, match="strength"):
        fibre_move([np.eye(2), np.eye(2)], -1.0)


@pytest.mark.parametrize("lam", [-2.0, 0.5, 3.0])
def test_layer_flow_follows_the_imbalanced_riemannian_flow(lam):
    """Both integrators at rtol 1e-10 over t in [0, 2]: the products agree to ~1e-9;
    1e-7 leaves a margin of two orders for the growth of the global error."""
    loss, W = _problem(seed=4)
    cmp = compare_imbalanced_flows(W, loss, lam, np.linspace(0, 2, 9), rng=5)
    assert cmp.factor_result.success and cmp.riemannian_result.success
    assert cmp.max_relative_mismatch < 1e-7
    assert np.max(cmp.imbalance_drift) < 1e-9  # the layer flow conserves Q = lam I


def test_imbalanced_flow_at_lam_zero_is_the_balanced_flow():
    loss, W = _problem(seed=6)
    t = np.linspace(0, 2, 5)
    a = imbalanced_gradient_flow(W, loss, 0.0, t)
    b = riemannian_gradient_flow(W, loss, 2, t, formulation="dense", rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.W, b.W, atol=1e-8 * np.abs(b.W).max())


def test_fibre_move_keeps_the_product_and_grows_the_imbalance():
    loss, W = _problem(seed=7)
    from riemlin.networks.balance import balanced_factors

    F = balanced_factors(W, (4, 2, 2, 5), rng=0)
    sizes = []
    for t in (0.0, 0.01, 0.1):
        G = fibre_move(F, t, rng=1)
        np.testing.assert_allclose(G[2] @ G[1] @ G[0], W, atol=1e-12 * np.abs(W).max())
        sizes.append(max(np.linalg.norm(D) for D in imbalance(G)))
    assert sizes[0] < 1e-13 < sizes[1] < sizes[2]


def test_pymanopt_descent_on_the_imbalanced_metric_reaches_eckart_young():
    """pymanopt's steepest descent with the g^lam gradient finds the best rank-2
    approximation of B (Eckart-Young); gradient norm 1e-8 leaves the cost ~1e-14 above."""
    manifold = FixedRankImbalancedTwoLayer(6, 5, 2, 1.5, rng=0)
    B = np.random.default_rng(3).standard_normal((6, 5))

    @pymanopt.function.numpy(manifold)
    def cost(u, s, vt):
        return 0.5 * np.sum(((u * s) @ vt - B) ** 2)

    @pymanopt.function.numpy(manifold)
    def rgrad(u, s, vt):
        return manifold.riemannian_gradient_from_matrix((u, s, vt), (u * s) @ vt - B)

    problem = pymanopt.Problem(manifold, cost, riemannian_gradient=rgrad)
    opt = pymanopt.optimizers.SteepestDescent(verbosity=0, min_gradient_norm=1e-8)
    result = opt.run(problem, initial_point=manifold.random_point())
    best = 0.5 * np.sum(np.linalg.svd(B, compute_uv=False)[2:] ** 2)
    assert result.cost == pytest.approx(best, rel=1e-10)
