"""Layer factors and the manifold: riemlin.networks."""

import autograd
import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

from riemlin import FixedRankDeepLinear
from riemlin import networks as fx
from riemlin.networks.chain import chain_product
from tests.conftest import fit_loglog_slope

WIDTH_CASES = {
    "narrow": lambda m, n, k, N: (n,) + (k,) * (N - 1) + (m,),
    "mixed": lambda m, n, k, N: (n,) + tuple(k + 2 + j for j in range(N - 1)) + (m,),
    "wide": lambda m, n, k, N: (n,) + (40,) * (N - 1) + (m,),
}


def random_factors(ws, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return [
        scale * rng.standard_normal((ws[j + 1], ws[j])) / np.sqrt(ws[j]) for j in range(len(ws) - 1)
    ]


def inner(A, B):
    return sum(float(np.sum(a * b)) for a, b in zip(A, B))


def balanced_problem(m, n, k, N, widths="mixed", seed=0):
    manifold = FixedRankDeepLinear(m, n, k, N, rng=seed)
    x = manifold.random_point()
    F = fx.balanced_factors(x, WIDTH_CASES[widths](m, n, k, N), rng=seed + 100)
    return manifold, x, F


# ---------------------------------------------------------------- product, Dpi, Dpi^*
@pytest.mark.parametrize("N", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_adjoint_matches_autograd(N, seed):
    ws = (4,) + tuple(3 + j for j in range(N - 1)) + (5,)
    F = random_factors(ws, seed)
    Z = np.random.default_rng(seed + 7).standard_normal((5, 4))
    g = autograd.grad(lambda Ws: np.sum(chain_product(Ws) * Z))(F)
    adj = fx.product_adjoint(F, Z)
    for a, b in zip(adj, g):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(fx.product(F), np.linalg.multi_dot(F[::-1]) if N > 1 else F[0])


@pytest.mark.parametrize("N", [1, 2, 4])
def test_differential_matches_autograd_jvp(N):
    ws = (3,) + (4,) * (N - 1) + (2,)
    F = random_factors(ws, 3)
    H = random_factors(ws, 4)
    # the Jacobian of pi applied to H, one layer at a time through autograd's jacobian
    jvp = sum(
        np.tensordot(autograd.jacobian(lambda *Ws: chain_product(list(Ws)), j)(*F), H[j], axes=2)
        for j in range(N)
    )
    np.testing.assert_allclose(fx.product_differential(F, H), jvp, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("N", [1, 2, 3, 6])
def test_differential_taylor_slope(N):
    ws = (5,) + (4,) * (N - 1) + (6,)
    F = random_factors(ws, N)
    H = random_factors(ws, N + 10)
    W = fx.product(F)
    D = fx.product_differential(F, H)
    t = np.logspace(-4, -1, 8)
    err = [np.linalg.norm(fx.product([w + s * h for w, h in zip(F, H)]) - W - s * D) for s in t]
    if N == 1:
        assert max(err) < 1e-13  # pi is linear
    else:
        assert abs(fit_loglog_slope(t, err) - 2) < 0.1


@pytest.mark.parametrize("N", [1, 2, 3, 4, 6, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adjoint_identity(N, seed):
    ws = tuple(np.random.default_rng(seed).integers(2, 9, size=N + 1))
    ws = tuple(int(d) for d in ws)
    F = random_factors(ws, seed)
    H = random_factors(ws, seed + 50)
    Z = np.random.default_rng(seed + 99).standard_normal((ws[-1], ws[0]))
    lhs = float(np.sum(fx.product_differential(F, H) * Z))
    rhs = inner(H, fx.product_adjoint(F, Z))
    scale = np.linalg.norm(fx.product_differential(F, H)) * np.linalg.norm(Z)
    assert abs(lhs - rhs) <= 1e-12 * scale
    assert fx.widths(F) == ws


@pytest.mark.parametrize("N", [1, 2, 4])
def test_factor_gradient_dense_sparse_lowrank_agree(N):
    m, n = 30, 25
    ws = (n,) + (6,) * (N - 1) + (m,)
    F = random_factors(ws, 5)
    rng = np.random.default_rng(6)
    Gs = sp.random(m, n, density=0.1, random_state=7, format="csr")
    U, S, V = rng.standard_normal((m, 3)), rng.standard_normal(3), rng.standard_normal((n, 3))
    low = (U, S, V)
    for G, dense in ((Gs, Gs.toarray()), (low, (U * S) @ V.T)):
        a = fx.factor_gradient(F, G)
        b = fx.factor_gradient(F, dense)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("form", ["sparse", "lowrank"])
def test_factor_gradient_never_densifies(form):
    # a dense 100000 x 100000 G would need 80 GB: the gradient must use thin products only
    m = n = 100_000
    F = random_factors((n, 3, 4, m), 0)
    rng = np.random.default_rng(1)
    if form == "sparse":
        rows, cols = rng.integers(0, m, 1000), rng.integers(0, n, 1000)
        G = sp.csr_matrix((rng.standard_normal(1000), (rows, cols)), shape=(m, n))
        GP = lambda B: G @ B  # noqa: E731
        GtS = lambda A: G.T @ A  # noqa: E731
    else:
        U, S, V = rng.standard_normal((m, 2)), np.diag([1.0, 2.0]), rng.standard_normal((n, 2))
        G = (U, S, V)
        GP = lambda B: U @ (S @ (V.T @ B))  # noqa: E731
        GtS = lambda A: V @ (S.T @ (U.T @ A))  # noqa: E731
    g = fx.factor_gradient(F, G)
    W1, W2, W3 = F
    np.testing.assert_allclose(g[0], GtS(W3 @ W2).T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g[1], W3.T @ GP(W1.T), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g[2], GP((W2 @ W1).T), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- balanced factors
@pytest.mark.parametrize("widths", sorted(WIDTH_CASES))
@pytest.mark.parametrize("N", [1, 2, 3, 6])
@pytest.mark.parametrize("as_point", [False, True])
def test_balanced_factors_reproduce_and_balance(widths, N, as_point):
    m, n, k = 9, 7, 3
    manifold = FixedRankDeepLinear(m, n, k, N, rng=N)
    x = manifold.random_point(spread=100.0)
    W = manifold.point_to_matrix(x)
    F = fx.balanced_factors(x if as_point else W, WIDTH_CASES[widths](m, n, k, N), rng=1)
    assert np.linalg.norm(fx.product(F) - W) <= 1e-12 * np.linalg.norm(W)
    assert fx.imbalance_norm(F) <= 1e-12
    assert fx.is_balanced(F, rtol=1e-12)
    assert len(fx.imbalance(F)) == N - 1
    p = fx.to_point(F, k)
    np.testing.assert_allclose(p.s, x.s, rtol=1e-12)


def test_balanced_factors_frames_are_random_and_seeded():
    W = np.random.default_rng(0).standard_normal((5, 4))
    a = fx.balanced_factors(W, (4, 6, 6, 5), rng=3)
    b = fx.balanced_factors(W, (4, 6, 6, 5), rng=3)
    c = fx.balanced_factors(W, (4, 6, 6, 5), rng=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert np.linalg.norm(a[1] - c[1]) > 1e-3


def test_balanced_initialization_is_procedure_1():
    ws = (6, 8, 8, 4)
    can = fx.balanced_initialization(ws, rng=5, scale=0.3, frames="canonical")
    ran = fx.balanced_initialization(ws, rng=5, scale=0.3)
    A = 0.3 * np.random.default_rng(5).standard_normal((4, 6))
    np.testing.assert_allclose(fx.product(can), A, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fx.product(ran), A, rtol=1e-12, atol=1e-14)
    assert fx.is_balanced(can, 1e-12) and fx.is_balanced(ran, 1e-12)
    u, s, vt = np.linalg.svd(A, full_matrices=False)
    root = s ** (1 / 3)
    # W_1 = S^{1/N} V^T, zero-padded; middle = S^{1/N}, zero-padded
    np.testing.assert_allclose(can[0][:4], root[:, None] * vt, atol=1e-12)
    assert np.all(can[0][4:] == 0)
    np.testing.assert_allclose(can[1][:4, :4], np.diag(root), atol=1e-12)
    big = fx.product(fx.balanced_initialization((300, 300, 300), rng=0, scale=0.1))
    assert abs(big.std() - 0.1) < 0.005


# ---------------------------------------------------------------- the theorem
@pytest.mark.parametrize("N", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("widths", ["narrow", "mixed", "wide"])
def test_theorem_dpi_dpistar_is_metric_operator(N, widths):
    m, n, k = 8, 6, 3
    manifold, x, F = balanced_problem(m, n, k, N, widths, seed=N)
    rng = np.random.default_rng(N)
    u, vt = x.u, x.vt
    worst = 0.0
    for _ in range(20):
        Z = rng.standard_normal((m, n))
        xi = manifold.projection(x, Z)
        PZ = manifold.tangent_to_matrix(x, xi)
        target = manifold.tangent_to_matrix(x, manifold.metric_operator(x, xi))
        if N == 1:
            Z = PZ  # A_W = I: the identity holds on the tangent space only
        got = fx.product_differential(F, fx.product_adjoint(F, Z))
        worst = max(worst, np.linalg.norm(got - target) / np.linalg.norm(target))
        if N >= 2:
            # A_W annihilates the normal block: a purely normal Z maps to zero
            normal = Z - PZ
            assert np.linalg.norm(normal) > 0.1 * np.linalg.norm(Z)
            assert np.linalg.norm(fx.product_differential(F, fx.product_adjoint(F, normal))) < (
                1e-12 * np.linalg.norm(target)
            )
    assert worst < 1e-12, worst
    assert np.linalg.norm(u.T @ u - np.eye(k)) < 1e-12 and vt.shape == (k, n)


@pytest.mark.parametrize("N", [1, 2, 3, 6])
@pytest.mark.parametrize("widths", ["narrow", "wide"])
def test_submersion_lift(N, widths):
    manifold, x, F = balanced_problem(8, 6, 3, N, widths, seed=10 + N)
    for i in range(5):
        xi = manifold.random_tangent_vector(x, rng=i) * (i + 1)
        h = fx.horizontal_lift(F, x, xi)
        Xi = manifold.tangent_to_matrix(x, xi)
        assert np.linalg.norm(fx.product_differential(F, h) - Xi) <= 1e-12 * np.linalg.norm(Xi)
        g = manifold.inner_product(x, xi, xi)
        assert abs(inner(h, h) - g) <= 1e-12 * g
        # the lift is horizontal: the projection leaves it alone
        Ph = fx.horizontal_projection(F, h)
        diff = [a - b for a, b in zip(Ph, h)]
        assert np.sqrt(inner(diff, diff)) <= 1e-10 * np.sqrt(g)


def test_theorem_fails_off_balance_and_grows_with_imbalance():
    m, n, k, N = 7, 6, 3, 3
    manifold, x, F = balanced_problem(m, n, k, N, "narrow", seed=3)
    rng = np.random.default_rng(0)
    B = rng.standard_normal((k, k))
    B = B + B.T
    Z = rng.standard_normal((m, n))
    xi = manifold.projection(x, Z)
    target = manifold.tangent_to_matrix(x, manifold.metric_operator(x, xi))
    errs, imbs = [], []
    for t in [0.0, 0.02, 0.05, 0.1, 0.2, 0.3]:
        # gauge W_1 -> E W_1, W_2 -> W_2 E^{-1} (E = exp(tB)): the product is unchanged
        G = [scipy.linalg.expm(t * B) @ F[0], F[1] @ scipy.linalg.expm(-t * B), F[2]]
        np.testing.assert_allclose(fx.product(G), fx.product(F), atol=1e-10)
        got = fx.product_differential(G, fx.product_adjoint(G, Z))
        errs.append(np.linalg.norm(got - target) / np.linalg.norm(target))
        imbs.append(fx.imbalance_norm(G))
    assert errs[0] < 1e-12 and imbs[0] < 1e-12
    assert np.all(np.diff(imbs) > 0), imbs
    assert np.all(np.diff(errs) > 0), errs
    assert errs[-1] > 0.1


# ---------------------------------------------------------------- horizontal projection
@pytest.mark.parametrize("N", [1, 2, 3])
@pytest.mark.parametrize("balanced", [True, False])
def test_horizontal_projection(N, balanced):
    m, n, k = 5, 4, 2
    if balanced:
        manifold, x, F = balanced_problem(m, n, k, N, "mixed", seed=20 + N)
    else:
        F = random_factors((n,) + (3,) * (N - 1) + (m,), 20 + N)
    ws = fx.widths(F)
    H = random_factors(ws, 30 + N)
    P = fx.horizontal_projection(F, H)
    PP = fx.horizontal_projection(F, P)
    for a, b in zip(P, PP):
        np.testing.assert_allclose(a, b, atol=1e-12)
    # H - P H is vertical, P H is orthogonal to it
    V = [a - b for a, b in zip(H, P)]
    assert np.linalg.norm(fx.product_differential(F, V)) < 1e-12 * np.linalg.norm(
        fx.product_differential(F, H)
    )
    assert abs(inner(P, V)) < 1e-12 * inner(H, H)
    # P H is orthogonal to the kernel of Dpi, not only to its own residual
    H2 = random_factors(ws, 40 + N)
    V2 = [a - b for a, b in zip(H2, fx.horizontal_projection(F, H2))]
    assert abs(inner(P, V2)) < 1e-12 * np.sqrt(inner(H, H) * inner(H2, H2))
    if balanced and N >= 2:
        # closed form at balanced factors: Dpi^* A_W^{-1} P_T Dpi H
        xi = manifold.projection(x, fx.product_differential(F, H))
        lift = fx.horizontal_lift(F, x, xi)
        for a, b in zip(P, lift):
            np.testing.assert_allclose(a, b, atol=1e-11)
    if N == 1:
        np.testing.assert_allclose(P[0], H[0], atol=1e-14)


def test_docstring_examples():
    import doctest

    import riemlin.networks.product_map

    assert doctest.testmod(riemlin.networks.product_map, raise_on_error=True).attempted >= 1


# ---------------------------------------------------------------- bad input
def test_errors_name_the_argument():
    W1, W2 = np.ones((3, 2)), np.ones((4, 5))
    with pytest.raises(ValueError, match=r"index 1.*\(4, 5\).*\(3, 2\)"):
        fx.product([W1, W2])
    with pytest.raises(ValueError, match="factors is empty"):
        fx.widths([])
    with pytest.raises(ValueError, match=r"factors\[0\].*2-D"):
        fx.product([np.ones(3)])
    with pytest.raises(ValueError, match=r"factors\[1\].*non-finite"):
        fx.product([W1, np.full((2, 3), np.nan)])
    with pytest.raises(TypeError, match="factors must be a list"):
        fx.product(np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"widths\[1\] = 1 is below rank W = 2"):
        fx.balanced_factors(np.eye(3)[:, :2] @ np.ones((2, 2)) + np.eye(3, 2), (2, 1, 3))
    with pytest.raises(ValueError, match="widths must start with d_0 = n = 2"):
        fx.balanced_factors(np.eye(3, 2), (3, 2, 3))
    with pytest.raises(ValueError, match="rank 1, not k=2"):
        fx.to_point([np.ones((3, 2)), np.ones((4, 3))], 2)
    F = fx.balanced_factors(np.eye(3, 2), (2, 2, 3), rng=0)
    with pytest.raises(ValueError, match="Z must be an ambient 3x2"):
        fx.product_adjoint(F, np.ones((2, 3)))
    with pytest.raises(ValueError, match="G has non-finite"):
        fx.factor_gradient(F, np.full((3, 2), np.inf))
    with pytest.raises(ValueError, match="H must have 2 entries"):
        fx.product_differential(F, [np.ones((2, 2))])
    with pytest.raises(ValueError, match=r"H\[1\] must have shape"):
        fx.product_differential(F, [np.ones((2, 2)), np.ones((2, 3))])
    x = fx.to_point(F, 2)
    xi = (np.zeros((3, 2)), np.eye(2), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="point does not represent product"):
        fx.horizontal_lift(F, (x.u, 2 * x.s, x.vt), xi)
    with pytest.raises(ValueError, match=r"xi.M must have shape"):
        fx.horizontal_lift(F, x, (xi[0], np.eye(3), xi[2]))
    with pytest.raises(ValueError, match="rtol"):
        fx.is_balanced(F, rtol=-1)
    with pytest.raises(ValueError, match="scale"):
        fx.balanced_initialization((2, 2, 2), scale=0.0)
    with pytest.raises(TypeError, match="rng"):
        fx.balanced_factors(np.eye(2), (2, 2, 2), rng="seed")
