"""Tests of riemlin.geometry.metric: the weights K, c and the operators in SVD coordinates."""

import mpmath as mp
import numpy as np
import pytest

from riemlin.geometry.metric import (
    apply_metric,
    apply_metric_inverse,
    metric_inner,
    metric_weights,
    rational_power,
)

EPS = np.finfo(float).eps


def _exact_K(s, N):
    """K_ab = sum_j p_a^{N-j} p_b^{j-1} with p = s^{2/N}, in 50-digit arithmetic."""
    with mp.workdps(50):
        p = [mp.mpf(float(x)) ** (mp.mpf(2) / N) for x in s]
        return [
            [mp.fsum(pa ** (N - j) * pb ** (j - 1) for j in range(1, N + 1)) for pb in p]
            for pa in p
        ]


def _singular_value_sets(rng):
    base = 10 ** rng.uniform(-8, 8)
    yield 10 ** rng.uniform(-8, 8, size=4)  # spread over 16 decades
    yield base * (1 + rng.uniform(-1, 1, size=4) * 10 ** rng.uniform(-15, -1))  # close
    yield np.array([base, base, base * (1 + 1e-14), 2 * base])  # equal and near-equal
    yield np.array([1e8, 1e-8, 1.0, 1.0 + 2 * EPS])


@pytest.mark.parametrize("N", [1, 2, 3, 7, 50, 1000])
def test_weights_accurate_to_a_few_ulps(N):
    """K and c agree with a 50-digit evaluation of the defining sum to 4 ulps.

    The closed form uses log1p of an exact difference and expm1, so the only rounding
    errors are O(1) ulps per elementary operation (measured worst: 2.4 ulps); a naive
    (p_a^N - p_b^N)/(p_a - p_b) loses all digits for near-equal singular values.
    """
    rng = np.random.default_rng(N)
    worst = 0.0
    for _ in range(10 if N < 100 else 2):
        for s in _singular_value_sets(rng):
            K, c = metric_weights(s, N)
            exact = _exact_K(s, N)
            for a in range(s.size):
                for b in range(s.size):
                    worst = max(worst, float(abs(mp.mpf(K[a, b]) / exact[a][b] - 1)))
                with mp.workdps(50):
                    ca = mp.mpf(float(s[a])) ** (mp.mpf(2 * (N - 1)) / N)
                worst = max(worst, float(abs(mp.mpf(c[a]) / ca - 1)))
    assert worst <= 4 * EPS, f"worst relative error {worst / EPS:.2f} ulps"


def test_naive_formula_would_fail():
    """The near-equal case really is hard: the textbook quotient loses most digits."""
    s = np.array([1.0 + 1e-13, 1.0])
    N = 3
    p = s ** (2 / N)
    naive = (p[0] ** N - p[1] ** N) / (p[0] - p[1])
    K, _ = metric_weights(s, N)
    exact = _exact_K(s, N)[0][1]
    assert abs(naive / float(exact) - 1) > 100 * EPS
    assert abs(K[0, 1] / float(exact) - 1) < 4 * EPS


@pytest.mark.parametrize("N", [1, 2, 5, 1000])
def test_weights_no_overflow_over_wide_range(N):
    s = np.logspace(150, -150, 7)
    K, c = metric_weights(s, N)
    assert np.all(np.isfinite(K)) and np.all(K > 0)
    assert np.all(np.isfinite(c)) and np.all(c > 0)
    np.testing.assert_allclose(np.diag(K), N * c, rtol=4 * EPS)
    np.testing.assert_array_equal(K, K.T)


def test_weights_small_examples_by_hand():
    K, c = metric_weights(np.array([2.0, 1.0]), 2)
    np.testing.assert_allclose(K, [[4.0, 3.0], [3.0, 2.0]], rtol=4 * EPS)
    np.testing.assert_allclose(c, [2.0, 1.0], rtol=4 * EPS)
    K1, c1 = metric_weights(np.array([3.0, 0.1]), 1)
    np.testing.assert_array_equal(K1, np.ones((2, 2)))
    np.testing.assert_array_equal(c1, np.ones(2))
    # N = 3, s = (8, 1): p = (4, 1), K_01 = 16 + 4 + 1 = 21, c = (16, 1)
    K3, c3 = metric_weights(np.array([8.0, 1.0]), 3)
    np.testing.assert_allclose(K3, [[48.0, 21.0], [21.0, 3.0]], rtol=4 * EPS)
    np.testing.assert_allclose(c3, [16.0, 1.0], rtol=4 * EPS)


def test_large_depth_limit_is_logarithmic_mean():
    """K_ab / N tends to the logarithmic mean (s_a^2 - s_b^2) / (2 log(s_a / s_b))."""
    s = np.array([3.0, 0.5])
    lm = (s[0] ** 2 - s[1] ** 2) / (2 * np.log(s[0] / s[1]))
    errs = [abs(metric_weights(s, N).K[0, 1] / N - lm) for N in (100, 1000, 10000)]
    # a left Riemann sum of int_0^1 s_a^{2(1-t)} s_b^{2t} dt: the error is O(1/N)
    assert 9 < errs[0] / errs[1] < 11 and 9 < errs[1] / errs[2] < 11
    assert errs[2] < 1e-3 * lm


def test_rational_power_accuracy():
    x = np.logspace(-150, 150, 201)
    for num, den in [(4, 3), (2 * 999, 1000), (1, 7), (-2, 5)]:
        got = rational_power(x, num, den)
        with mp.workdps(40):
            exact = [mp.mpf(float(v)) ** (mp.mpf(num) / den) for v in x]
        rel = max(float(abs(mp.mpf(g) / e - 1)) for g, e in zip(got, exact))
        assert rel <= 4 * EPS


def test_operators_inverse_and_inner_product():
    rng = np.random.default_rng(3)
    s = np.array([5.0, 1.0, 0.2])
    w = metric_weights(s, 4)
    xi = tuple(rng.standard_normal(shape) for shape in [(7, 3), (3, 3), (6, 3)])
    eta = tuple(rng.standard_normal(shape) for shape in [(7, 3), (3, 3), (6, 3)])
    back = apply_metric_inverse(w, apply_metric(w, xi))
    for a, b in zip(back, xi):
        np.testing.assert_allclose(a, b, rtol=1e-14)
    # g(A xi, eta) is the Frobenius product of the coordinates
    frob = sum(np.sum(a * b) for a, b in zip(xi, eta))
    np.testing.assert_allclose(metric_inner(w, apply_metric(w, xi), eta), frob, rtol=1e-13)
    np.testing.assert_allclose(metric_inner(w, xi, eta), metric_inner(w, eta, xi), rtol=1e-15)
    assert metric_inner(w, xi, xi) > 0
