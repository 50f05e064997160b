"""riemlin.diagnostics: derivative checks and one contract for every manifold."""

import autograd.numpy as anp
import numpy as np
import pymanopt
import pytest
from pymanopt.manifolds import FixedRankEmbedded, Sphere, Stiefel

from riemlin import FixedRankDeepLinear
from riemlin.diagnostics import check_gradient, check_hessian, check_manifold, fit_slope

MANIFOLDS = [
    pytest.param(
        lambda m=m, n=n, k=k, N=N: FixedRankDeepLinear(m, n, k, N, rng=0),
        id=f"deep-{m}x{n}x{k}-N{N}",
    )
    for (m, n, k) in [(5, 4, 2), (30, 20, 3)]
    for N in (1, 2, 3, 7)
] + [
    pytest.param(lambda: FixedRankEmbedded(6, 5, 2), id="FixedRankEmbedded"),
    pytest.param(lambda: Sphere(7), id="Sphere"),
    pytest.param(lambda: Stiefel(6, 3), id="Stiefel"),
]


@pytest.mark.parametrize("make", MANIFOLDS)
def test_contract(make):
    """Every manifold is held to the same contract."""
    np.random.seed(0)  # noqa: NPY002 (pymanopt's own manifolds sample from the global state)
    report = check_manifold(make(), rng=1)
    assert report.passed, str(report)
    assert "PASS" in str(report)


def _deep_problem(depth, scale=1.0, embedded_gradient=False):
    manifold = FixedRankDeepLinear(6, 5, 2, depth, rng=0)
    B = np.random.default_rng(1).standard_normal((6, 5))

    @pymanopt.function.numpy(manifold)
    def cost(u, s, vt):
        return 0.5 * np.sum(((u * s) @ vt - B) ** 2)

    @pymanopt.function.numpy(manifold)
    def rgrad(u, s, vt):
        G = (u * s) @ vt - B
        if embedded_gradient:
            return manifold.projection((u, s, vt), G)  # forgets A_W
        return scale * manifold.riemannian_gradient_from_matrix((u, s, vt), G)

    return pymanopt.Problem(manifold, cost, riemannian_gradient=rgrad)


@pytest.mark.parametrize("depth", [1, 3])
def test_correct_gradient_passes(depth):
    res = check_gradient(_deep_problem(depth), rng=0)
    assert res.passed, res.message
    assert abs(res.slope - 2) < 0.1


@pytest.mark.parametrize(
    "kwargs", [{"scale": 2.0}, {"embedded_gradient": True}], ids=["factor-2", "no-A_W"]
)
def test_wrong_gradient_fails_with_a_clear_message(kwargs):
    res = check_gradient(_deep_problem(3, **kwargs), rng=0)
    assert not res.passed
    assert "does not match the cost" in res.message
    assert abs(res.slope - 1) < 0.2  # the O(t) error of a wrong gradient


def _sphere_matrix():
    A = np.random.default_rng(2).standard_normal((5, 5))
    return A + A.T


def _sphere_problem(hessian_scale=1.0):
    manifold = Sphere(5)
    A = _sphere_matrix()

    @pymanopt.function.autograd(manifold)
    def cost(x):
        return anp.dot(x, A @ x)

    @pymanopt.function.numpy(manifold)
    def egrad(x):
        return 2 * A @ x

    @pymanopt.function.numpy(manifold)
    def ehess(x, v):
        return hessian_scale * 2 * A @ v

    return pymanopt.Problem(manifold, cost, euclidean_gradient=egrad, euclidean_hessian=ehess)


def test_hessian_check_on_the_sphere():
    np.random.seed(3)  # noqa: NPY002 (pymanopt's Sphere samples from the global state)
    res = check_hessian(_sphere_problem())
    assert res.passed, res.message
    assert abs(res.slope - 3) < 0.1 and res.symmetry_error < 1e-12


def test_wrong_hessian_fails():
    np.random.seed(3)  # noqa: NPY002 (pymanopt's Sphere samples from the global state)
    res = check_hessian(_sphere_problem(hessian_scale=1.5))
    assert not res.passed
    assert abs(res.slope - 2) < 0.2


def test_result_plot_only_when_asked():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    res = check_gradient(_deep_problem(2), rng=0)
    assert plt.get_fignums() == before
    ax = res.plot()
    assert ax.get_title() == "gradient check"
    plt.close("all")


def test_fit_slope_picks_the_linear_window():
    t = np.logspace(-8, 0, 41)
    rem = 3 * t**2 + 1e-14  # round-off plateau at small t
    slope, window = fit_slope(t, rem, floor=1e-13)
    assert abs(slope - 2) < 0.01 and window is not None
    assert fit_slope(t, np.full_like(t, 1e-20), floor=1e-13) == (
        pytest.approx(np.nan, nan_ok=True),
        None,
    )


def test_fit_slope_uses_every_window_including_the_largest_steps():
    """Only the last window (the largest steps) is above the floor: it must be the one fitted.

    A fit that skipped the last window would find none here, and check_gradient would call
    a right gradient wrong whenever round-off leaves only the largest steps usable.
    """
    t = np.logspace(-8, 0, 41)
    rem = np.where(t >= t[-6], 3.0 * t**2, 1e-20)
    slope, window = fit_slope(t, rem, floor=1e-16)
    assert window == (35, 41)
    assert slope == pytest.approx(2.0, abs=1e-12)
    # and the first window when only it is usable
    rem = np.where(t <= t[5], 3.0 * t**3, 1e-30)
    slope, window = fit_slope(t, rem, floor=1e-25)
    assert window == (0, 6)
    assert slope == pytest.approx(3.0, abs=1e-9)


def test_direction_without_point_is_an_error():
    problem = _deep_problem(2)
    xi = problem.manifold.random_tangent_vector(problem.manifold.random_point())
    with pytest.raises(ValueError, match="give point"):
        check_gradient(problem, direction=xi)


class _BrokenInverse(FixedRankDeepLinear):
    def metric_operator_inverse(self, point, tangent_vector):
        return tangent_vector  # wrong for depth > 1


class _ForgetsTheMetric(FixedRankDeepLinear):
    def riemannian_gradient_from_matrix(self, point, G):
        return self.projection(point, G)  # the embedded gradient under the deep metric


@pytest.mark.parametrize(
    "cls, failing",
    [
        (_BrokenInverse, "metric_operator inverse"),
        (_ForgetsTheMetric, "gradient identity (Taylor slope 2)"),
    ],
)
def test_contract_can_fail(cls, failing):
    report = check_manifold(cls(6, 5, 2, depth=3, rng=0), rng=0)
    assert not report.passed
    assert not report[failing].passed
    assert "FAIL" in str(report)


def test_second_order_retraction_is_checked_where_claimed():
    shallow = check_manifold(FixedRankDeepLinear(6, 5, 2, depth=1, rng=0), rng=0)
    assert shallow["retraction second order (slope >= 3)"].passed
    deep = check_manifold(FixedRankDeepLinear(6, 5, 2, depth=3, rng=0), rng=0)
    with pytest.raises(KeyError):
        deep["retraction second order (slope >= 3)"]


class _FirstOrderOnly(FixedRankDeepLinear):
    def retraction(self, point, tangent_vector):
        # truncated SVD of W + xi + |xi|^2 xi: still a retraction, but not second order
        W = self.point_to_matrix(point)
        Z = self.tangent_to_matrix(point, tangent_vector)
        return self.point_from_matrix(W + Z + np.linalg.norm(Z) * Z)


def test_second_order_claim_can_fail():
    report = check_manifold(_FirstOrderOnly(6, 5, 2, depth=1, rng=0), rng=0)
    assert report["retraction first order (slope >= 2)"].passed
    assert not report["retraction second order (slope >= 3)"].passed


def test_hessian_slope_is_checked_at_a_critical_point_even_without_second_order():
    """At a critical point the retraction's second-order term drops out (grad f = 0)."""
    problem = _sphere_problem()
    x = np.linalg.eigh(_sphere_matrix())[1][:, 0]  # an eigenvector: a critical point
    np.random.seed(4)  # noqa: NPY002 (pymanopt's Sphere samples from the global state)
    res = check_hessian(problem, point=x, second_order_retraction=False)
    assert res.expected_slope == 3.0
    assert res.passed, res.message
    away = check_hessian(problem, second_order_retraction=False)
    assert np.isnan(away.expected_slope) and away.passed
