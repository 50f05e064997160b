"""Matrix completion: values and gradients against dense formulas, sparsity at scale,
recovery with pymanopt at several depths, and input validation."""

import copy
import tracemalloc

import numpy as np
import pymanopt
import pytest
import scipy.sparse as sp
from conftest import fit_loglog_slope
from pymanopt.manifolds import FixedRankEmbedded

from riemlin import (
    CompletionLineSearcher,
    CompletionLoss,
    FixedRankDeepLinear,
    FixedRankTangentVector,
    Loss,
    random_completion,
)
from riemlin.losses.completion import _block_size, _rowdot, relative_error


def _dense_mask(loss):
    mask = np.zeros(loss.shape, dtype=bool)
    mask[loss.rows, loss.cols] = True
    A = np.zeros(loss.shape)
    A[loss.rows, loss.cols] = loss.values
    return mask, A


@pytest.mark.parametrize(
    "m, n, k, seed", [(12, 9, 2, 0), (40, 70, 4, 1), (90, 30, 5, 2), (150, 120, 20, 3)]
)
def test_value_and_gradient_match_dense(m, n, k, seed):
    loss, truth = random_completion(m, n, k, oversampling=2, rng=seed)
    assert isinstance(loss, Loss)
    mask, A = _dense_mask(loss)
    point = FixedRankDeepLinear(m, n, k, rng=seed + 10).random_point()
    W = (point[0] * point[1]) @ point[2]
    R = np.where(mask, W - A, 0.0)
    for arg in (point, W):
        assert loss.value(arg) == pytest.approx(0.5 * np.sum(R**2), rel=1e-12)
        G = loss.gradient(arg)
        assert sp.issparse(G) and G.nnz == loss.nnz
        np.testing.assert_allclose(G.toarray(), R, atol=1e-12)
        B = np.random.default_rng(seed).standard_normal((n, 3))
        C = np.random.default_rng(seed).standard_normal((m, 3))
        np.testing.assert_allclose(loss.gradient_matmul(arg, B), R @ B, atol=1e-11)
        np.testing.assert_allclose(loss.gradient_rmatmul(arg, C), R.T @ C, atol=1e-11)
    assert loss.value(truth) == pytest.approx(0.0, abs=1e-20 * m * n)
    # every row and column observed, the requested count, no pair twice
    assert mask.any(axis=1).all() and mask.any(axis=0).all()
    assert loss.nnz == round(2 * k * (m + n - k)) == mask.sum()


def test_gradient_taylor_remainder_is_second_order():
    loss, _ = random_completion(30, 25, 3, oversampling=2, rng=3)
    rng = np.random.default_rng(4)
    W, D = rng.standard_normal((2, 30, 25))
    G = loss.gradient(W).toarray()
    hs = np.logspace(-4, -1, 8)
    rem = [abs(loss.value(W + h * D) - loss.value(W) - h * np.sum(G * D)) for h in hs]
    assert fit_loglog_slope(hs, rem) == pytest.approx(2.0, abs=0.1)


def test_hessian_vector_product_is_the_mask_of_the_direction():
    loss, _ = random_completion(20, 15, 2, oversampling=2, rng=5)
    mask, _ = _dense_mask(loss)
    rng = np.random.default_rng(6)
    U, S, V = (rng.standard_normal(shape) for shape in ((20, 4), (4, 4), (15, 4)))
    Xi = U @ S @ V.T
    point = FixedRankDeepLinear(20, 15, 2, rng=0).random_point()
    for direction in ((U, S, V), Xi):
        H = loss.hessian_vector_product(point, direction)
        np.testing.assert_allclose(H.toarray(), np.where(mask, Xi, 0.0), atol=1e-12)


def test_residual_cache_follows_the_point_values():
    loss, _ = random_completion(40, 30, 3, rng=7)
    manifold = FixedRankDeepLinear(40, 30, 3, rng=1)
    x, y = manifold.random_point(), manifold.random_point()
    vx = loss.value(x)
    assert loss.gradient(x) is loss.gradient(tuple(a.copy() for a in x))  # cached
    u = x[0].copy()
    point = (u, x[1], x[2])
    assert loss.value(point) == vx
    u[0, 0] += 1.0  # mutated in place: the cache must not answer with the old residual
    W = (u * x[1]) @ x[2]
    mask, A = _dense_mask(loss)
    assert loss.value(point) == pytest.approx(0.5 * np.sum(np.where(mask, W - A, 0) ** 2))
    assert loss.value(y) != pytest.approx(vx)


def test_unsorted_input_is_accepted_and_sorted():
    loss = CompletionLoss([2, 0, 1], [0, 1, 1], [3.0, 1.0, 2.0], (3, 2))
    np.testing.assert_array_equal(loss.rows, [0, 1, 2])
    np.testing.assert_array_equal(loss.values, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(
        loss.gradient(np.zeros((3, 2))).toarray(), -np.array([[0, 1.0], [0, 2], [3, 0]])
    )


def test_no_dense_array_at_20000_by_20000():
    m = n = 20000
    k = 3
    tracemalloc.start()
    try:
        loss, truth = random_completion(m, n, k, rng=0)
        manifold = FixedRankDeepLinear(m, n, k, depth=3, rng=1)
        x = manifold.random_point()
        value = loss.value(x)
        grad = manifold.riemannian_gradient_from_matrix(x, loss.gradient(x))
        manifold.retraction(x, -1e-3 * grad)
        loss.problem(FixedRankEmbedded(m, n, k)).riemannian_gradient(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.isfinite(value) and loss.nnz == round(5 * k * (m + n - k))
    # An m x n array of even one byte per entry would take 400 MB.
    assert peak < m * n / 4, peak


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_conjugate_gradient_recovers_a_small_problem(depth):
    m, n, k = 80, 60, 3
    loss, truth = random_completion(m, n, k, rng=11)
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=0)
    x0 = loss.initial_point(k, rng=1)
    assert relative_error(x0, truth) > 1e-2
    opt = pymanopt.optimizers.ConjugateGradient(
        verbosity=0, min_gradient_norm=1e-9 * np.sqrt(loss.value(x0)), max_iterations=3000
    )
    res = opt.run(loss.problem(manifold), initial_point=x0)
    assert relative_error(res.point, truth) < 1e-6, res.stopping_criterion


def test_fixed_rank_embedded_matches_depth_one():
    m, n, k = 50, 40, 2
    loss, truth = random_completion(m, n, k, rng=12)
    x = loss.initial_point(k, rng=2)
    ours = loss.problem(FixedRankDeepLinear(m, n, k, depth=1)).riemannian_gradient(x)
    theirs = loss.problem(FixedRankEmbedded(m, n, k)).riemannian_gradient(x)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=1e-10)
    opt = pymanopt.optimizers.ConjugateGradient(verbosity=0, max_iterations=3000)
    res = opt.run(loss.problem(FixedRankEmbedded(m, n, k)), initial_point=x)
    assert relative_error(res.point, truth) < 1e-6


def test_trust_regions_with_the_exact_hessian():
    m, n, k = 60, 50, 2
    loss, truth = random_completion(m, n, k, rng=13)
    problem = loss.problem(FixedRankDeepLinear(m, n, k, depth=3))
    opt = pymanopt.optimizers.TrustRegions(verbosity=0, min_gradient_norm=1e-8)
    res = opt.run(problem, initial_point=loss.initial_point(k, rng=3))
    assert relative_error(res.point, truth) < 1e-6


def test_relative_error_against_dense():
    rng = np.random.default_rng(14)
    a = FixedRankDeepLinear(30, 20, 3, rng=0).random_point()
    b = FixedRankDeepLinear(30, 20, 5, rng=1).random_point()
    A, B = ((p[0] * p[1]) @ p[2] for p in (a, b))
    assert relative_error(a, b) == pytest.approx(np.linalg.norm(A - B) / np.linalg.norm(B))
    assert relative_error(b, b) < 1e-14
    del rng


def test_initial_point_is_deterministic_and_accurate_with_dense_sampling():
    loss, truth = random_completion(60, 50, 3, oversampling=8, rng=15)
    a, b = loss.initial_point(3, rng=4), loss.initial_point(3, rng=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    # 8 * 3 * 107 of 3000 entries observed: the rescaled sample is close to the truth
    assert relative_error(a, truth) < 0.5


def test_generator_is_seeded():
    a, ta = random_completion(50, 40, 2, rng=3)
    b, tb = random_completion(50, 40, 2, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.values, b.values)
    c, _ = random_completion(50, 40, 2, rng=4)
    assert not np.array_equal(a.cols, c.cols)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (([0, 1], [0, 1], [1.0], (2, 2)), {}, ValueError, "one length"),
        (([0, 2], [0, 1], [1.0, 2.0], (2, 2)), {}, ValueError, r"rows must hold row indices"),
        (([0, 1], [0, -1], [1.0, 2.0], (2, 2)), {}, ValueError, "cols must hold column"),
        (([0.0, 1.0], [0, 1], [1.0, 2.0], (2, 2)), {}, TypeError, "integer row"),
        (([0, 0], [1, 1], [1.0, 2.0], (2, 2)), {}, ValueError, r"\(0, 1\) is observed 2"),
        (([0, 1], [0, 1], [1.0, np.nan], (2, 2)), {}, ValueError, "non-finite"),
        (([], [], [], (2, 2)), {}, ValueError, "at least one"),
        (([0], [0], [1.0], 4), {}, TypeError, "shape must be a pair"),
        (([0], [0], [1.0], (0, 2)), {}, ValueError, "shape"),
        (([[0]], [[0]], [[1.0]], (2, 2)), {}, ValueError, "1-D"),
    ],
)
def test_loss_validation(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        CompletionLoss(*args, **kwargs)


def test_point_and_matrix_shape_checks():
    loss, _ = random_completion(20, 10, 2, oversampling=2, rng=0)
    with pytest.raises(ValueError, match="20x10 matrix"):
        loss.value(np.zeros((10, 20)))
    bad = FixedRankDeepLinear(20, 12, 2, rng=0).random_point()
    with pytest.raises(ValueError, match="point of a 20x10"):
        loss.gradient(bad)
    with pytest.raises(ValueError, match="manifold is 20x12"):
        loss.problem(FixedRankDeepLinear(20, 12, 2))
    with pytest.raises(TypeError, match="FixedRankEmbedded"):
        loss.problem(object())
    with pytest.raises(ValueError, match="k must be"):
        loss.initial_point(11)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(m=5, n=4, k=5), "k must satisfy"),
        (dict(m=5, n=4, k=2, oversampling=0), "oversampling"),
        (dict(m=5, n=4, k=2, oversampling=10), "only m\\*n = 20"),
        (dict(m=5, n=4, k=2, condition=0.5), "condition"),
        (dict(m=5, n=4, k=2, noise=-1.0), "noise"),
    ],
)
def test_generator_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        random_completion(**kwargs)


def test_noise_and_coverage_at_low_oversampling():
    loss, truth = random_completion(30, 40, 1, oversampling=0.1, rng=1, noise=0.5)
    mask, _ = _dense_mask(loss)
    assert mask.any(axis=1).all() and mask.any(axis=0).all()
    assert loss.value(truth) > 0


@pytest.mark.parametrize("q", [1, 7, 20, 40])
def test_rowdot_over_several_blocks_in_any_order(q):
    # more entries than one block, rows in any order, empty rows, one long row
    rng = np.random.default_rng(q)
    X, Y = rng.standard_normal((300, q)), rng.standard_normal((200, q))
    rows, cols = rng.integers(300, size=40000), rng.integers(200, size=40000)
    rows[rows == 7] = 8  # an empty row
    rows[:6000] = 3  # a long row
    assert rows.size > _block_size(q)  # two blocks or more
    expected = np.einsum("ij,ij->i", X[rows], Y[cols])
    # sums of q products of O(1) numbers: rounding ~ q eps
    np.testing.assert_allclose(_rowdot(X, Y, rows, cols), expected, rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------- the line search
def _dense_minimizer(loss, W, D):
    """argmin_t 1/2 ||P_Omega(W + t D - A)||^2, from the dense matrices."""
    r = W[loss.rows, loss.cols] - loss.values
    d = D[loss.rows, loss.cols]
    return -float(r @ d) / float(d @ d)


@pytest.mark.parametrize("depth", [1, 3])
def test_linearized_step_is_the_exact_minimizer_along_the_line(depth):
    m, n, k = 40, 30, 3
    loss, _ = random_completion(m, n, k, rng=20)
    manifold = FixedRankDeepLinear(m, n, k, depth=depth, rng=0)
    x = manifold.random_point()
    d = -manifold.riemannian_gradient_from_matrix(x, loss.gradient(x))
    W, D = (x[0] * x[1]) @ x[2], manifold.tangent_to_matrix(x, d)
    t = CompletionLineSearcher(loss).linearized_step(x, d)
    assert t == pytest.approx(_dense_minimizer(loss, W, D), rel=1e-12)
    # and it is a minimizer: the cost along the line is larger on both sides
    line = [loss.value(W + s * D) for s in (0.9 * t, t, 1.1 * t)]
    assert line[1] < line[0] and line[1] < line[2]


def test_linearized_step_with_fixed_rank_embedded_tangent_vectors():
    m, n, k = 40, 30, 3
    loss, _ = random_completion(m, n, k, rng=21)
    manifold = FixedRankEmbedded(m, n, k)
    x = loss.initial_point(k, rng=0)
    d = -loss.problem(manifold).riemannian_gradient(x)
    W, D = (x[0] * x[1]) @ x[2], manifold.embedding(x, d)
    D = D if isinstance(D, np.ndarray) else D[0] @ D[1] @ D[2].T
    t = CompletionLineSearcher(loss).linearized_step(x, d)
    assert t == pytest.approx(_dense_minimizer(loss, W, D), rel=1e-12)


def _search_setup(seed=25):
    loss, _ = random_completion(40, 30, 3, rng=seed)
    manifold = FixedRankDeepLinear(40, 30, 3, depth=2, rng=0)
    problem = loss.problem(manifold)
    x = loss.initial_point(3, rng=1)
    grad = problem.riemannian_gradient(x)
    d = -grad
    return loss, manifold, x, d, loss.value(x), manifold.inner_product(x, grad, d)


def test_search_accepts_the_linearized_step_and_satisfies_armijo():
    loss, manifold, x, d, f0, df0 = _search_setup(22)
    searcher = CompletionLineSearcher(loss)
    step, newx = searcher.search(loss.value, manifold, x, d, f0, df0)
    t = searcher.linearized_step(x, d)
    assert step == pytest.approx(t * manifold.norm(x, d), rel=1e-12)
    assert loss.value(newx) <= f0 + 1e-4 * t * df0
    assert df0 < 0


def test_search_backtracks_and_rejects():
    loss, manifold, x, d, f0, df0 = _search_setup(23)
    searcher = CompletionLineSearcher(loss, contraction_factor=0.25)
    t = searcher.linearized_step(x, d)
    calls = []

    def first_trial_fails(point):
        calls.append(point)
        return np.inf if len(calls) == 1 else loss.value(point)

    step, _ = searcher.search(first_trial_fails, manifold, x, d, f0, df0)
    assert len(calls) == 2
    assert step == pytest.approx(0.25 * t * manifold.norm(x, d), rel=1e-12)
    step, same = CompletionLineSearcher(loss, max_iterations=3).search(
        lambda point: f0 + 1.0, manifold, x, d, f0, df0
    )
    assert step == 0.0 and same is x


def test_search_backtracks_on_insufficient_decrease():
    # a decrease of half what Armijo asks for at t* is refused; the halved step is taken
    loss, manifold, x, d, f0, df0 = _search_setup()
    searcher = CompletionLineSearcher(loss, sufficient_decrease=0.1)
    t = searcher.linearized_step(x, d)
    calls = []

    def objective(point):
        calls.append(point)
        trial = t * 0.5 ** (len(calls) - 1)
        return f0 + 0.5 * 0.1 * trial * df0 if len(calls) == 1 else f0 + 0.1 * trial * df0

    step, _ = searcher.search(objective, manifold, x, d, f0, df0)
    assert len(calls) == 2
    assert step == pytest.approx(0.5 * t * manifold.norm(x, d), rel=1e-12)


def test_search_gives_up_but_keeps_a_decrease():
    # no trial meets Armijo, the last one still decreases the cost: it is taken
    loss, manifold, x, d, f0, df0 = _search_setup()
    searcher = CompletionLineSearcher(loss, max_iterations=3)
    t = searcher.linearized_step(x, d)
    small = 0.5 * 1e-4 * (t / 4) * abs(df0)  # below what Armijo asks of every trial
    assert f0 - small < f0
    step, newx = searcher.search(lambda p: f0 - small, manifold, x, d, f0, df0)
    assert step == pytest.approx(0.25 * t * manifold.norm(x, d), rel=1e-12)
    assert newx is not x


@pytest.mark.parametrize("case", ["ascent", "zero"])
def test_search_refuses_non_descent_directions(case):
    loss, manifold, x, d, f0, df0 = _search_setup()
    calls = []

    def objective(point):
        calls.append(point)
        return f0

    if case == "ascent":
        step, same = CompletionLineSearcher(loss).search(objective, manifold, x, -d, f0, -df0)
    else:
        zero = manifold.zero_vector(x)
        step, same = CompletionLineSearcher(loss).search(objective, manifold, x, zero, f0, 0.0)
    assert step == 0.0 and same is x and not calls


def test_search_never_tries_a_negative_step():
    # along an ascent direction t* < 0; told (wrongly) that it descends, the search must
    # still step forward (t = 1 / ||d||), never backwards
    loss, manifold, x, d, f0, df0 = _search_setup()
    ascent = -d
    assert CompletionLineSearcher(loss).linearized_step(x, ascent) < 0
    trials = []

    class Recording(FixedRankDeepLinear):
        def retraction(self, point, tangent_vector):
            trials.append(tangent_vector)
            return super().retraction(point, tangent_vector)

    recording = Recording(40, 30, 3, depth=2)
    CompletionLineSearcher(loss, max_iterations=2).search(loss.value, recording, x, ascent, f0, df0)
    scale = 1.0 / recording.norm(x, ascent)
    np.testing.assert_allclose(trials[0].M, scale * ascent.M, rtol=1e-12)


def test_direction_the_observations_do_not_see():
    # only row 0 is observed; a direction that moves only rows 1, 2 is invisible
    loss = CompletionLoss([0, 0], [0, 1], [1.0, 2.0], (3, 3))
    u = np.array([[1.0], [0.0], [0.0]])
    x = FixedRankDeepLinear(3, 3, 1, rng=0).random_point()
    x = type(x)(u, x[1], x[2])
    d = FixedRankTangentVector(np.array([[0.0], [1.0], [0.0]]), np.zeros((1, 1)), np.zeros((3, 1)))
    searcher = CompletionLineSearcher(loss)
    assert np.isnan(searcher.linearized_step(x, d))
    trials = []

    class Recording(FixedRankDeepLinear):
        def retraction(self, point, tangent_vector):
            trials.append(tangent_vector)
            return super().retraction(point, tangent_vector)

    manifold = Recording(3, 3, 1)
    # the true derivative along d is 0 (a search would stop at once); pass a negative
    # one to reach the fallback, as rounding can when t* comes out <= 0
    searcher.search(loss.value, manifold, x, d, loss.value(x), -1.0)
    # the fallback first trial is the unit step t = 1 / ||d||_x
    np.testing.assert_allclose(trials[0].Up, d.Up / manifold.norm(x, d), rtol=1e-14)


def test_searcher_is_copied_without_the_loss():
    loss, _ = random_completion(40, 30, 3, rng=24)
    searcher = CompletionLineSearcher(loss, 1e-3, 0.3, 7)
    twin = copy.deepcopy(searcher)
    assert twin.loss is loss
    assert (twin.sufficient_decrease, twin.contraction_factor, twin.max_iterations) == (
        1e-3,
        0.3,
        7,
    )
    assert "CompletionLineSearcher" in repr(twin)


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((np.eye(3),), TypeError, "CompletionLoss"),
        ((None, 0.0), ValueError, "sufficient_decrease"),
        ((None, 1.0), ValueError, "sufficient_decrease"),
        ((None, 1e-4, 1.5), ValueError, "contraction_factor"),
        ((None, 1e-4, True), TypeError, "contraction_factor"),  # a bool is not a number
        ((None, 1e-4, 0.5, 0), ValueError, "max_iterations"),
    ],
)
def test_line_searcher_validation(args, error, match):
    loss, _ = random_completion(10, 10, 1, rng=0)
    args = tuple(loss if a is None and i == 0 else a for i, a in enumerate(args))
    with pytest.raises(error, match=match):
        CompletionLineSearcher(*args)


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_conjugate_gradient_with_the_line_searcher(depth):
    # Same problem and start for pymanopt's default AdaptiveLineSearcher and the exact
    # linearized step: both recover the truth, the exact step in fewer iterations
    # (measured 36 vs 50 at depth 1, 81 vs 94 at depth 4).
    m, k = 300, 5
    loss, truth = random_completion(m, m, k, rng=11)
    x0 = loss.initial_point(k, rng=1)
    problem = loss.problem(FixedRankDeepLinear(m, m, k, depth=depth))
    iterations = []
    for searcher in (CompletionLineSearcher(loss), None):
        opt = pymanopt.optimizers.ConjugateGradient(
            verbosity=0,
            min_gradient_norm=1e-9 * np.sqrt(loss.value(x0)),
            max_iterations=1000,
            line_searcher=searcher,
        )
        res = opt.run(problem, initial_point=x0)
        assert relative_error(res.point, truth) < 1e-6, res.stopping_criterion
        iterations.append(res.iterations)
    assert iterations[0] < iterations[1]


def test_line_searcher_with_fixed_rank_embedded():
    m, k = 300, 5
    loss, truth = random_completion(m, m, k, rng=11)
    opt = pymanopt.optimizers.ConjugateGradient(
        verbosity=0, max_iterations=1000, line_searcher=CompletionLineSearcher(loss)
    )
    x0 = loss.initial_point(k, rng=1)
    res = opt.run(loss.problem(FixedRankEmbedded(m, m, k)), initial_point=x0)
    assert relative_error(res.point, truth) < 1e-6


def test_problem_refuses_a_manifold_of_another_shape():
    """Both manifold classes: riemlin's at once, pymanopt's (no public shape) at the first
    evaluation, with a ValueError that says both shapes."""
    loss, _ = random_completion(20, 15, 2, oversampling=2.0, rng=0)
    with pytest.raises(ValueError, match="21x15 but the loss is 20x15"):
        loss.problem(FixedRankDeepLinear(21, 15, 2))
    problem = loss.problem(FixedRankEmbedded(21, 15, 2))
    x = FixedRankDeepLinear(21, 15, 2, rng=1).random_point()
    with pytest.raises(ValueError, match="21x15 but the loss is 20x15"):
        problem.cost(x)


class _Uncached(CompletionLoss):
    """The loss with its cache switched off: residual and gradient recomputed at every call."""

    def _same_point(self, W):
        return False


@pytest.mark.parametrize("depth", [1, 4])
def test_conjugate_gradient_gives_the_same_iterates_with_and_without_the_cache(depth):
    loss, truth = random_completion(120, 90, 3, rng=2)
    uncached = _Uncached(loss.rows, loss.cols, loss.values, loss.shape)
    x0 = loss.initial_point(3, rng=3)
    manifold = FixedRankDeepLinear(120, 90, 3, depth=depth)
    points = []
    for f in (loss, uncached):
        opt = pymanopt.optimizers.ConjugateGradient(
            verbosity=0,
            max_iterations=15,
            min_gradient_norm=0.0,
            min_step_size=0.0,
            line_searcher=CompletionLineSearcher(f),
        )
        points.append(opt.run(f.problem(manifold), initial_point=x0).point)
    W_cached, W_fresh = ((u * s) @ vt for u, s, vt in points)
    # the cache hands back the residual that recomputing gives: equal to the last bit
    np.testing.assert_array_equal(W_cached, W_fresh)
    assert relative_error(points[0], truth) < 0.5  # the runs did move toward the truth


def test_sampled_entries_of_a_product_match_the_dense_product():
    loss, _ = random_completion(70, 50, 4, rng=8)
    rng = np.random.default_rng(9)
    for q in (1, 4, 8, 30):
        X, Y = rng.standard_normal((70, q)), rng.standard_normal((50, q))
        # sums of q products of O(1) numbers, in another order: rounding ~ q eps
        np.testing.assert_allclose(
            loss.sampled(X, Y), (X @ Y.T)[loss.rows, loss.cols], rtol=1e-13, atol=1e-13 * q
        )
    # over several blocks of the kernel
    big, _ = random_completion(400, 300, 5, oversampling=20, rng=3)
    q = 20
    assert big.nnz > 2 * _block_size(q)
    X, Y = rng.standard_normal((400, q)), rng.standard_normal((300, q))
    np.testing.assert_allclose(
        big.sampled(X, Y), (X @ Y.T)[big.rows, big.cols], rtol=1e-13, atol=1e-13 * q
    )


@pytest.mark.parametrize(
    "X, Y, error, match",
    [
        (np.ones((70, 2)), np.ones((50, 1)), ValueError, "same number of columns"),
        (np.ones((71, 2)), np.ones((50, 2)), ValueError, r"shapes \(70, q\) and \(50, q\)"),
        (np.ones(70), np.ones((50, 1)), ValueError, "2-D"),
        (np.ones((70, 2)), np.ones((50, 2, 1)), ValueError, "2-D"),
        (np.ones((70, 2), complex), np.ones((50, 2)), TypeError, "X"),
    ],
)
def test_sampled_refuses_factors_of_the_wrong_shape(X, Y, error, match):
    # einsum would broadcast a width-1 factor and ignore extra rows: refused instead
    loss, _ = random_completion(70, 50, 4, rng=8)
    with pytest.raises(error, match=match):
        loss.sampled(X, Y)
