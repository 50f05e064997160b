"""Identities that hold for every input, tested on random ones (hypothesis).

Random shapes, ranks, depths 1..50, singular values spread over 1e-8..1e8 and nearly
repeated. The default profile (tests/conftest.py) is derandomized and small enough for
CI; ``HYPOTHESIS_PROFILE=thorough`` runs many more random examples.

Tolerances are relative to the sizes of the terms each identity sums (a few hundred
rounding units of the largest term): the SVD-coordinate formulas multiply and divide by
the metric weights entrywise, so their rounding errors are relative to the terms, not to
the (possibly much smaller) result.
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from riemlin import FixedRankDeepLinear, balanced_factors, horizontal_lift, product_differential
from riemlin.geometry import parametrization as param
from riemlin.geometry.manifold import FixedRankPoint, FixedRankTangentVector

EPS = np.finfo(float).eps


def _haar(rng, n, k):
    q, r = np.linalg.qr(rng.standard_normal((n, k)))
    return q * np.sign(np.diag(r))


@st.composite
def problems(draw, max_dim=9, log_spread=8.0, max_depth=50):
    """A manifold, a point with chosen singular values, and a seed for directions."""
    m = draw(st.integers(2, max_dim))
    n = draw(st.integers(2, max_dim))
    k = draw(st.integers(1, min(m, n, 4)))
    depth = draw(st.integers(1, max_depth))
    logs = draw(st.lists(st.floats(-log_spread, log_spread), min_size=k, max_size=k).map(sorted))
    s = 10.0 ** np.array(logs[::-1])
    if k > 1 and draw(st.booleans()):  # a nearly repeated pair
        i = draw(st.integers(0, k - 2))
        s[i + 1] = s[i] * (1.0 - 10.0 ** -draw(st.floats(3.0, 15.0)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=seed)
    x = FixedRankPoint(_haar(rng, m, k), s, _haar(rng, n, k).T)
    return manifold, x, rng


def _tangent(manifold, x, rng):
    u, _, vt = x
    k = x[1].size
    Up = rng.standard_normal((manifold.m, k))
    Vp = rng.standard_normal((manifold.n, k))
    return FixedRankTangentVector(
        Up - u @ (u.T @ Up), rng.standard_normal((k, k)), Vp - vt.T @ (vt @ Vp)
    )


def _frob(a, b):
    return sum(float(np.sum(p * q)) for p, q in zip(a, b))


def _abs_frob(a, b):
    return sum(float(np.sum(np.abs(p * q))) for p, q in zip(a, b))


@given(problems())
def test_gradient_identity_for_costs_on_the_matrix(args):
    """g(grad f, xi) = <G, xi>_F for grad f = A_W(P_T G), any G, any depth."""
    manifold, x, rng = args
    G = rng.standard_normal((manifold.m, manifold.n))
    xi = _tangent(manifold, x, rng)
    grad = manifold.riemannian_gradient_from_matrix(x, G)
    lhs = manifold.inner_product(x, grad, xi)
    proj = manifold.projection(x, G)
    rhs = _frob(proj, xi)
    assert abs(lhs - rhs) <= 64 * EPS * x[1].size * _abs_frob(proj, xi) + 1e-300


@given(problems())
def test_gradient_identity_for_any_derivative_triple(args):
    """g(grad, xi) = <d, embedding(xi)> for any data d = (du, ds, dvt): the conversion is
    the adjoint of the embedding, whatever the cost (up to the rounding-level residual
    that the product test discards, which the tolerance covers)."""
    manifold, x, rng = args
    u, s, vt = x
    d = (
        rng.standard_normal(u.shape),
        rng.standard_normal(s.shape),
        rng.standard_normal(vt.shape),
    )
    xi = _tangent(manifold, x, rng)
    grad = manifold.euclidean_to_riemannian_gradient(x, d)
    lhs = manifold.inner_product(x, grad, xi)
    p = manifold.embedding(x, xi)
    rhs = _frob(d, p)
    # rounding is relative to the terms: <d, p> and the entries of P = u^T du / s and
    # Q = dvt v / s (which the conversion combines, with gap factors, before pairing)
    P = np.abs(u.T @ d[0]) / s[None, :]
    Q = np.abs(d[2] @ vt.T) / s[:, None]
    res = param.resolvable_pairs(s)
    gaps = np.abs(np.subtract.outer(s, s))[res]
    amplification = 1.0 if gaps.size == 0 else max(1.0, s.max() / gaps.min())
    scale = _abs_frob(d, p) + float(np.sum((P + Q) * np.abs(xi[1]))) * amplification
    tol = 64 * EPS * np.sqrt(sum(a.size for a in d)) * scale
    assert abs(lhs - rhs) <= tol


@given(problems())
def test_product_data_take_the_stable_path_exactly(args):
    """Derivatives of a cost through the product split with no rest: E = 0, sigma = 0."""
    manifold, x, rng = args
    u, s, vt = x
    G = rng.standard_normal((manifold.m, manifold.n)) * 10.0 ** rng.uniform(-6, 6)
    d = ((G @ vt.T) * s, np.diag(u.T @ G @ vt.T), s[:, None] * (u.T @ G))
    split = param.split_derivatives(u, s, vt, d, param.resolvable_pairs(s))
    assert not np.any(split.E) and not np.any(split.sigma)


@given(problems())
def test_hessian_is_self_adjoint_for_the_metric(args):
    """g(Hess xi, eta) = g(xi, Hess eta) for a quadratic-plus-quartic cost on W."""
    manifold, x, rng = args
    W = manifold.point_to_matrix(x)
    B = rng.standard_normal(W.shape) * np.max(x[1])
    weights = rng.uniform(0.5, 2.0, W.shape)
    G = weights * (W - B)
    xi, eta = _tangent(manifold, x, rng), _tangent(manifold, x, rng)

    def hess(v):
        H = weights * manifold.tangent_to_matrix(x, v)
        return manifold.riemannian_hessian_from_matrix(x, G, H, v)

    a, b = manifold.inner_product(x, hess(xi), eta), manifold.inner_product(x, xi, hess(eta))
    scale = manifold.norm(x, hess(xi)) * manifold.norm(x, eta)
    scale += manifold.norm(x, hess(eta)) * manifold.norm(x, xi)
    assert abs(a - b) <= 1e-9 * scale


@given(problems())
def test_metric_operator_and_its_inverse(args):
    """A_W^{-1}(A_W xi) = xi entrywise, and g(A_W xi, eta) = <xi, eta>_F."""
    manifold, x, rng = args
    xi, eta = _tangent(manifold, x, rng), _tangent(manifold, x, rng)
    back = manifold.metric_operator_inverse(x, manifold.metric_operator(x, xi))
    for got, want in zip(back, xi):
        np.testing.assert_allclose(got, want, rtol=8 * EPS, atol=0)
    lhs = manifold.inner_product(x, manifold.metric_operator(x, xi), eta)
    assert abs(lhs - _frob(xi, eta)) <= 64 * EPS * x[1].size * _abs_frob(xi, eta)


@given(problems(log_spread=2.0), st.sampled_from(["svd", "second_order"]))
def test_retraction_orders(args, kind):
    """R(t xi) = W + t xi + O(t^2); with retraction="second_order" the tangential part of
    R(t xi) - W - t xi + t^2/2 C(xi, xi) is O(t^3). Checked by halving t: the remainder
    falls by 4 (by 8) up to the next order, at steps small against s_min."""
    manifold, x, rng = args
    manifold = FixedRankDeepLinear(
        manifold.m, manifold.n, manifold.k, depth=manifold.depth, retraction=kind
    )
    xi = _tangent(manifold, x, rng)
    W = manifold.point_to_matrix(x)
    X = manifold.tangent_to_matrix(x, xi)
    C = manifold.tangent_to_matrix(x, manifold.connection_difference(x, xi))
    second = manifold.second_order_retraction

    def remainder(t):
        D = manifold.point_to_matrix(manifold.retraction(x, t * xi)) - W - t * X
        if second:
            D = manifold.tangent_to_matrix(x, manifold.projection(x, D + 0.5 * t * t * C))
        return np.linalg.norm(D)

    t = 1e-2 * x[1].min() / np.linalg.norm(X)
    r1, r2 = remainder(t), remainder(t / 2)
    assume(r2 > 1e4 * EPS * np.linalg.norm(W))  # above rounding
    order = np.log2(r1 / r2)
    assert order > (2.7 if second else 1.7), order


@given(problems(max_depth=12, log_spread=3.0))
def test_horizontal_lift_is_a_lift_and_an_isometry(args):
    """On balanced layers: D pi[h] = xi and |h|^2 = g(xi, xi) for h = horizontal_lift(xi)."""
    manifold, x, rng = args
    assume(manifold.depth >= 2)
    N, k = manifold.depth, manifold.k
    widths = [manifold.n] + [k + int(w) for w in rng.integers(0, 3, N - 1)] + [manifold.m]
    layers = balanced_factors(x, widths, rng=rng)
    xi = _tangent(manifold, x, rng)
    h = horizontal_lift(layers, x, xi)
    moved = product_differential(layers, h)
    X = manifold.tangent_to_matrix(x, xi)
    cond = x[1].max() / x[1].min()
    assert np.linalg.norm(moved - X) <= 1e-11 * cond * np.linalg.norm(X)
    assert sum(float(np.sum(a * a)) for a in h) == pytest.approx(
        manifold.inner_product(x, xi, xi), rel=1e-10 * cond
    )
