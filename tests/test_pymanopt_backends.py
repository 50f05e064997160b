"""The same problems through each of pymanopt's backends, and in a pymanopt Product.

Three costs on the SVD factors ``(u, s, vt)``: one through the product ``u diag(s) vt``
(a least-squares fit, minimum by Eckart-Young), one that is not (nuclear norm plus the
fit, minimum by soft-thresholding the singular values) and one of the column space alone
(minimum by Ky Fan). Each is written for ``pymanopt.function.numpy`` with hand-derived
gradient and Hessian-vector product, for ``autograd``, for ``jax`` and for ``pytorch``
(the last two skip when the package is absent; the ``test`` extra does not install
them). For every backend and depth 1, 2, 5: the Taylor slope of the gradient is 2, that
of the Hessian 3 (with ``retraction="second_order"``), and ``ConjugateGradient`` and
``TrustRegions`` reach the minimum. pymanopt's low-rank approximation example runs on
``FixedRankDeepLinear`` with each backend. A ``pymanopt.manifolds.Product`` with a riemlin
factor carries a coupled cost through the gradient check and the solvers.
"""

import autograd.numpy as anp
import numpy as np
import pymanopt
import pytest
from pymanopt.manifolds import Euclidean, Product
from pymanopt.optimizers import ConjugateGradient, TrustRegions

from riemlin import FixedRankDeepLinear, check_gradient, check_hessian

M_, N_, K_ = 8, 6, 2
LAM = 0.3
_gen = np.random.default_rng(30)
B = _gen.standard_normal((M_, N_))
A = _gen.standard_normal((M_, M_))
Y = _gen.standard_normal(M_)
_SV = np.linalg.svd(B, compute_uv=False)

COSTS = ["product", "nuclear norm + fit", "column space"]
#: Minimum of each cost over M_k.
MINIMA = {
    "product": 0.5 * np.sum(_SV[K_:] ** 2),  # Eckart-Young
    # W = sum_{i<=k} (s_i - lam) u_i v_i^T: sum_{i<=k} (lam s_i - lam^2 / 2) + the tail
    "nuclear norm + fit": np.sum(LAM * _SV[:K_] - 0.5 * LAM**2) + 0.5 * np.sum(_SV[K_:] ** 2),
    "column space": np.sum(np.linalg.eigvalsh(A.T @ A)[:K_]),  # Ky Fan
}
BACKENDS = ["numpy", "autograd", "jax", "pytorch"]
DEPTHS = [1, 2, 5]


# ------------------------------------------------------------ numpy: derivatives by hand
def _fit_derivatives(u, s, vt):
    """Residual R = u diag(s) vt - B and the gradient of 1/2 |R|^2 in (u, s, vt)."""
    R = (u * s) @ vt - B
    RV = R @ vt.T
    return R, (RV * s, np.einsum("ia,ia->a", u, RV), s[:, None] * (u.T @ R))


def _fit_hessian(u, s, vt, a, b, c):
    """Derivative of the fit's gradient along the direction (a, b, c) of (u, s, vt).

    With dR = a diag(s) vt + u diag(b) vt + u diag(s) c:
    d(du) = dR vt^T S + R c^T S + R vt^T diag(b),
    d(ds) = diag(a^T R vt^T + u^T dR vt^T + u^T R c^T),
    d(dvt) = diag(b) u^T R + S a^T R + S u^T dR.
    """
    R, _ = _fit_derivatives(u, s, vt)
    dR = (a * s) @ vt + (u * b) @ vt + (u * s) @ c
    du = dR @ vt.T * s + R @ c.T * s + R @ vt.T * b
    ds = np.diag(a.T @ R @ vt.T + u.T @ dR @ vt.T + u.T @ R @ c.T)
    dvt = b[:, None] * (u.T @ R) + s[:, None] * (a.T @ R) + s[:, None] * (u.T @ dR)
    return du, ds, dvt


def _numpy_functions(name):
    """Cost, gradient and Hessian-vector product in (u, s, vt), by hand."""
    AtA2 = 2.0 * A.T @ A

    if name == "column space":

        def f(u, s, vt):
            return float(np.sum((A @ u) ** 2))

        def grad(u, s, vt):
            return AtA2 @ u, np.zeros_like(s), np.zeros_like(vt)

        def hess(u, s, vt, a, b, c):
            return AtA2 @ a, np.zeros_like(s), np.zeros_like(vt)

        return f, grad, hess

    nuclear = LAM if name == "nuclear norm + fit" else 0.0

    def f(u, s, vt):
        R, _ = _fit_derivatives(u, s, vt)
        return float(nuclear * np.sum(s) + 0.5 * np.sum(R**2))

    def grad(u, s, vt):
        _, (du, ds, dvt) = _fit_derivatives(u, s, vt)
        return du, ds + nuclear, dvt

    return f, grad, _fit_hessian


# ------------------------------------------------------------ autodiff backends
def _backend(backend):
    """The array namespace, pymanopt's decorator and a converter for constant arrays."""
    if backend == "autograd":
        return anp, pymanopt.function.autograd, np.asarray
    if backend == "jax":
        return pytest.importorskip("jax").numpy, pymanopt.function.jax, np.asarray
    torch = pytest.importorskip("torch")
    return torch, pymanopt.function.pytorch, torch.from_numpy


def _autodiff_cost(name, backend):
    """pymanopt's decorator for the backend and the cost written with its arrays."""
    xp, decorator, const = _backend(backend)
    Bx, Ax = const(B), const(A)

    def fit(u, s, vt):
        return 0.5 * xp.sum((u @ xp.diag(s) @ vt - Bx) ** 2)

    def nuclear(u, s, vt):
        return LAM * xp.sum(s) + fit(u, s, vt)

    def column(u, s, vt):
        value = xp.sum((Ax @ u) ** 2)
        if backend == "pytorch":
            # pymanopt 2.2.1's pytorch Hessian operator fails (AttributeError on a None
            # gradient) for a cost that leaves an argument out of its graph: keep s and
            # vt in it with weight zero.
            value = value + 0.0 * (xp.sum(s) + xp.sum(vt))
        return value

    return decorator, {"product": fit, "nuclear norm + fit": nuclear, "column space": column}[name]


def _problem(manifold, name, backend):
    if backend == "numpy":
        f, grad, hess = (pymanopt.function.numpy(manifold)(g) for g in _numpy_functions(name))
        return pymanopt.Problem(manifold, f, euclidean_gradient=grad, euclidean_hessian=hess)
    decorator, f = _autodiff_cost(name, backend)
    return pymanopt.Problem(manifold, decorator(manifold)(f))


def _start(manifold, seed):
    # contiguous copies: pytorch warns on the negative strides of a reversed sort
    return tuple(np.ascontiguousarray(a) for a in manifold.random_point(rng=seed))


@pytest.mark.parametrize("name", COSTS)
def test_hand_derivatives_match_autograd(name):
    """The numpy backend's hand-written derivatives are autograd's, on arbitrary arrays."""
    manifold = FixedRankDeepLinear(M_, N_, K_, depth=1)
    gen = np.random.default_rng(31)
    x = (gen.standard_normal((M_, K_)), gen.standard_normal(K_), gen.standard_normal((K_, N_)))
    d = (gen.standard_normal((M_, K_)), gen.standard_normal(K_), gen.standard_normal((K_, N_)))
    f, grad, hess = _numpy_functions(name)
    decorator, g = _autodiff_cost(name, "autograd")
    auto = decorator(manifold)(g)
    assert f(*x) == pytest.approx(auto(*x), rel=1e-14)
    for a, b in zip(grad(*x), auto.get_gradient_operator()(*x)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    for a, b in zip(hess(*x, *d), auto.get_hessian_operator()(*x, *d)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("depth", DEPTHS, ids=lambda d: f"N{d}")
@pytest.mark.parametrize("name", COSTS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_taylor_slopes(backend, name, depth):
    """Gradient slope 2 and Hessian slope 3 (second-order retraction) through each backend."""
    manifold = FixedRankDeepLinear(M_, N_, K_, depth=depth, rng=32, retraction="second_order")
    problem = _problem(manifold, name, backend)
    x = _start(manifold, 33)
    g = check_gradient(problem, x, rng=34)
    h = check_hessian(problem, x, rng=35)
    assert g.passed and abs(g.slope - 2) < 0.1, g.message
    assert h.passed and abs(h.slope - 3) < 0.1, h.message


@pytest.mark.parametrize("solver", [ConjugateGradient, TrustRegions])
@pytest.mark.parametrize("depth", DEPTHS, ids=lambda d: f"N{d}")
@pytest.mark.parametrize("name", COSTS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_solvers_reach_the_minimum(backend, name, depth, solver):
    manifold = FixedRankDeepLinear(M_, N_, K_, depth=depth, rng=36)
    problem = _problem(manifold, name, backend)
    result = solver(verbosity=0, min_gradient_norm=1e-9).run(
        problem, initial_point=_start(manifold, 37)
    )
    # gradient norm 1e-9 puts the cost within ~1e-18 / (smallest Hessian eigenvalue) of
    # the minimum; 1e-10 relative is the rounding of the costs the solvers compare
    assert result.cost == pytest.approx(MINIMA[name], rel=1e-10)


@pytest.mark.parametrize("depth", DEPTHS, ids=lambda d: f"N{d}")
@pytest.mark.parametrize("backend", BACKENDS)
def test_low_rank_example(backend, depth):
    """pymanopt's examples/low_rank_matrix_approximation.py, on FixedRankDeepLinear.

    A 5 x 4 matrix, rank 2, the cost |u diag(s) vt - B|^2 (no 1/2), the numpy backend with
    a Euclidean gradient only, and ConjugateGradient with the Polak-Ribiere rule. pymanopt
    only runs it; here it must reach the Eckart-Young minimum.
    """
    m, n, k = 5, 4, 2
    target = np.random.default_rng(38).standard_normal((m, n))
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=39)
    gradient = None
    if backend == "numpy":

        @pymanopt.function.numpy(manifold)
        def cost(u, s, vt):
            return float(np.sum(((u * s) @ vt - target) ** 2))

        @pymanopt.function.numpy(manifold)
        def gradient(u, s, vt):
            R = 2.0 * ((u * s) @ vt - target)
            return R @ vt.T * s, np.einsum("ia,ia->a", u, R @ vt.T), s[:, None] * (u.T @ R)

    else:
        xp, decorator, const = _backend(backend)
        T = const(target)
        cost = decorator(manifold)(lambda u, s, vt: xp.sum((u @ xp.diag(s) @ vt - T) ** 2))
    problem = pymanopt.Problem(manifold, cost, euclidean_gradient=gradient)
    result = ConjugateGradient(verbosity=0, beta_rule="PolakRibiere").run(
        problem, initial_point=_start(manifold, 40)
    )
    fstar = np.sum(np.linalg.svd(target, compute_uv=False)[k:] ** 2)
    # pymanopt's default stopping rule (gradient norm 1e-6) leaves the cost within
    # ~1e-12 / (smallest Hessian eigenvalue) of the minimum
    assert result.cost == pytest.approx(fstar, rel=1e-8)


# ------------------------------------------------------------ a Product with a riemlin factor
class _ForwardingProduct(Product):
    """pymanopt's Product with ``embedding`` forwarded to the factors.

    pymanopt 2.2.1's Product inherits the identity ``embedding``, so the autodiff
    Hessian-vector product of a joint cost is taken along the raw tangent vector
    ``(Up, M, Vp)``, whose shapes are not those of ``(u, s, vt)`` (pymanopt raises).
    Forwarding hands each factor's Hessian operator its own direction.
    """

    def embedding(self, point, tangent_vector):
        return [f.embedding(p, v) for f, p, v in zip(self.manifolds, point, tangent_vector)]


@pytest.fixture
def seeded_global_numpy():
    """Seed numpy's global state (Euclidean's random draws) and restore it afterwards."""
    state = np.random.get_state()  # noqa: NPY002 (pymanopt's Euclidean samples from it)
    np.random.seed(41)  # noqa: NPY002
    yield
    np.random.set_state(state)  # noqa: NPY002


def _joint_problem(cls, depth):
    """1/2 |W - B|^2 + 1/2 |z - W^T y|^2 on Product(M_k, R^n): coupled; for every W the
    best z is W^T y, so the minimum is Eckart-Young's, at z = W*^T y."""
    factor = FixedRankDeepLinear(M_, N_, K_, depth=depth, rng=42, retraction="second_order")
    product = cls([factor, Euclidean(N_)])

    @pymanopt.function.autograd(product)
    def cost(u, s, vt, z):
        W = u @ anp.diag(s) @ vt
        return 0.5 * anp.sum((W - B) ** 2) + 0.5 * anp.sum((z - W.T @ Y) ** 2)

    gen = np.random.default_rng(43)
    x = [_start(factor, 44), gen.standard_normal(N_)]
    tangent = type(product.zero_vector(x))
    direction = tangent([factor.random_tangent_vector(x[0], rng=45), gen.standard_normal(N_)])
    return pymanopt.Problem(product, cost), x, direction / product.norm(x, direction)


@pytest.mark.skipif(
    not pymanopt.__version__.startswith("2.2."), reason="asserts pymanopt 2.2's own Product"
)
def test_product_does_not_forward_embedding():
    # why _ForwardingProduct exists: the riemlin factor's embedding is never called
    problem, x, direction = _joint_problem(Product, 1)
    assert problem.manifold.embedding(x, direction) is direction


@pytest.mark.parametrize("depth", DEPTHS, ids=lambda d: f"N{d}")
def test_product_with_a_riemlin_factor(depth, seeded_global_numpy):
    problem, x, direction = _joint_problem(Product, depth)
    g = check_gradient(problem, x, direction)
    assert g.passed and abs(g.slope - 2) < 0.1, g.message
    fstar = MINIMA["product"]
    result = ConjugateGradient(verbosity=0, min_gradient_norm=1e-9).run(problem, initial_point=x)
    assert result.cost == pytest.approx(fstar, rel=1e-10)  # as in test_solvers_reach_the_minimum
    # second order: with embedding forwarded, the Hessian is exact. Both factors'
    # retractions are second order for their metrics (riemlin's "second_order", the
    # Euclidean one exact), so the product's is too.
    problem, x, direction = _joint_problem(_ForwardingProduct, depth)
    h = check_hessian(problem, x, direction, second_order_retraction=True)
    assert h.passed and abs(h.slope - 3) < 0.1, h.message
    result = TrustRegions(verbosity=0, min_gradient_norm=1e-9).run(problem, initial_point=x)
    assert result.cost == pytest.approx(fstar, rel=1e-10)
    W = (result.point[0][0] * result.point[0][1]) @ result.point[0][2]
    np.testing.assert_allclose(result.point[1], W.T @ Y, rtol=0, atol=1e-8)
