"""The papers' statements, one test each, named after paper and statement.

Sources: Bah, Rauhut, Terstiege, Westdickenberg (arXiv:1910.05505, "bah"); Arora, Cohen,
Golowich, Hu (arXiv:1810.02281, "arora"); Nguegnang, Rauhut, Terstiege (arXiv:2108.02040,
"nguegnang"); one-neuron-wide layers (Chen, Lin, Zhang, arXiv:2201.02761; Eftekhari,
arXiv:2002.09852). Statements marked *derived* are worked out in the user guide (chapter
"Derivations"), not quoted from a paper.
"""

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from riemlin import (
    RegressionLoss,
    balanced_factors,
    factor_gradient_descent,
    factor_gradient_flow,
    product,
    riemannian_gradient_descent,
    riemannian_gradient_flow,
)
from riemlin.geometry.manifold import FixedRankTangentVector
from riemlin.theory import (
    aligned_singular_values,
    arora_counterexample,
    arora_iterations,
    arora_step_ratios,
    arora_theorem1,
    balancedness,
    classify_limit,
    critical_point_index,
    critical_points,
    deficiency_margin,
    descent_limit,
    margin_probability,
    margin_probability_mc,
    one_neuron_stages,
    one_neuron_trajectory,
    predict_limit,
)


def _weingarten_hessian(point, G, H_xi, xi) -> FixedRankTangentVector:
    r"""The Riemannian Hessian of the *embedded* metric (depth 1) on :math:`\mathcal M_k`.

    .. math::

        \operatorname{Hess} f(W)[\xi] = P_T(H_\xi) + P_{U^\perp} G V_p S^{-1} v^\top
        + u S^{-1} U_p^\top G P_{V^\perp}

    in the tangent coordinates ``(Up, M, Vp)`` (Absil, Mahony, Trumpf 2013, the
    Weingarten map of :math:`\mathcal M_k`; Vandereycken 2013; pymanopt's
    ``FixedRankEmbedded.euclidean_to_riemannian_hessian``).

    Parameters
    ----------
    point : FixedRankPoint
        ``(u, s, vt)``.
    G : ndarray, shape (m, n)
        Euclidean gradient :math:`\nabla f(W)`.
    H_xi : ndarray, shape (m, n)
        Euclidean Hessian-vector product :math:`\nabla^2 f(W)[\xi]`.
    xi : FixedRankTangentVector
        The direction.

    Returns
    -------
    FixedRankTangentVector
    """
    u, s, vt = point
    Up, _, Vp = xi
    M = u.T @ H_xi @ vt.T
    up = H_xi @ vt.T - u @ M
    vp = H_xi.T @ u - vt.T @ M.T
    GVp = (G @ Vp) / s
    GtUp = (G.T @ Up) / s
    up = up + GVp - u @ (u.T @ GVp)
    vp = vp + GtUp - vt.T @ (vt @ GtUp)
    return FixedRankTangentVector(up, M, vp)


def _aligned_problem(s_target, sigma0, seed=0, m=5, n=4):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((m, m)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    r = len(s_target)
    loss = RegressionLoss(np.eye(n), (U[:, :r] * s_target) @ V[:, :r].T)
    k = len(sigma0)
    return loss, (U[:, :k] * sigma0) @ V[:, :k].T


# ------------------------------------------------------------------ aligned flow
@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("zero_target", [False, True], ids=["s>0", "s=0"])
def test_bah_aligned_whitened_flow_singular_values(depth, zero_target):
    """Bah et al.; user guide, "The aligned flow and its closed forms": the flow is d sigma/dt =
    -N sigma^{2(N-1)/N} (sigma - s), solved by aligned_singular_values (closed forms for
    N = 1, 2 and s = 0, a Radau solve otherwise). Checked against the full matrix flow
    riemannian_gradient_flow at rtol 1e-12 to 1e-9 relative. A failure means the closed
    form, the scalar ODE or the metric's action on the diagonal block K_aa = N p^{N-1} is
    wrong."""
    s = np.array([3.0, 0.0 if zero_target else 1.5, 0.7])
    sigma0 = np.array([0.2, 2.5])
    loss, W0 = _aligned_problem(s, sigma0)
    t = np.linspace(0.0, 2.0, 5)
    res = riemannian_gradient_flow(W0, loss, depth, t, "dense", rtol=1e-12, atol=1e-14)
    assert res.status == 0, res.message
    pred = -np.sort(-aligned_singular_values(s[:2], sigma0, depth, t), axis=1)
    np.testing.assert_allclose(res.singular_values, pred, rtol=1e-9, atol=0)


def test_aligned_singular_values_zero_target_loses_rank_only_in_the_limit():
    """Derived (user guide, "The aligned flow and its closed forms"): for s = 0 and N >= 2,
    sigma(t) = (sigma0^{-p} + 2(N-1) t)^{-1/p}, p = 2(N-1)/N, positive for all t and
    O(t^{-N/(2(N-1))}). The ODE branch (forced by a tiny s) must agree with it; a failure
    means one of the two branches is wrong."""
    t = np.array([0.0, 1.0, 10.0, 100.0])
    closed = aligned_singular_values([0.0], [1.3], 4, t)[:, 0]
    ode = aligned_singular_values([1e-14], [1.3], 4, t)[:, 0]
    assert np.all(closed > 0)
    np.testing.assert_allclose(ode, closed, rtol=1e-9)
    np.testing.assert_allclose(closed[-1] * (6 * 100.0) ** (4 / 6), 1.0, rtol=0.02)


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("times", [0.0, [0.0], np.zeros((2, 3))])
def test_aligned_singular_values_at_the_start_are_the_initial_values(depth, times):
    """At t = 0 every branch (closed forms, zero target, ODE) returns sigma0 to rounding
    (the closed forms evaluate s + (sigma0 - s) and the like), whatever the shape of t;
    the ODE branch used to fail on a time span of length zero."""
    s, sigma0 = np.array([2.0, 0.0, 0.5]), np.array([0.3, 1.1, 0.9])
    got = aligned_singular_values(s, sigma0, depth, times)
    assert got.shape == np.shape(times) + (3,)
    want = np.broadcast_to(sigma0, (got.size // 3, 3))
    np.testing.assert_allclose(got.reshape(-1, 3), want, rtol=4 * np.finfo(float).eps, atol=0)


def test_aligned_singular_values_rejects_bad_input():
    """Input checks name the argument."""
    with pytest.raises(ValueError, match="sigma0"):
        aligned_singular_values([1.0], [0.0], 2, [1.0])
    with pytest.raises(ValueError, match="same length"):
        aligned_singular_values([1.0, 2.0], [1.0], 2, [1.0])
    with pytest.raises(ValueError, match="t must be non-negative"):
        aligned_singular_values([1.0], [1.0], 2, [-1.0])
    with pytest.raises(ValueError, match="depth"):
        aligned_singular_values([1.0], [1.0], 0, [1.0])


# ------------------------------------------------------------------ critical points
def _regression(seed, m=5, n=4, samples=9):
    rng = np.random.default_rng(seed)
    return RegressionLoss(rng.standard_normal((n, samples)), rng.standard_normal((m, samples)))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_bah_critical_points_on_Mk(k):
    """Bah et al.; user guide, "Critical points and their index": W_S = (sum_{i in S} b_i p_i
    q_i^T) Q^{-1} are critical points of L on M_k with L(W_S) = (||Y||^2 - sum_S b_i^2)/2, the
    best is the optimum of rank <= k. A failure means a wrong critical set, a wrong value or a
    wrong whitening."""
    loss = _regression(1)
    cps = critical_points(loss, k)
    assert len(cps) == {1: 4, 2: 6, 3: 4}[k]
    for c in cps:
        assert np.linalg.matrix_rank(c.W) == k
        assert abs(loss.value(c.W) - c.value) <= 1e-12 * loss.value(np.zeros(loss.shape))
        u, _, vt = np.linalg.svd(c.W)
        u, v = u[:, :k], vt[:k].T
        G = loss.gradient(c.W)
        PG = u @ (u.T @ G) + (G @ v) @ v.T - u @ (u.T @ G @ v) @ v.T
        assert np.linalg.norm(PG) <= 1e-12 * np.linalg.norm(G) + 1e-13
    Wk, best = loss.optimum(k)
    np.testing.assert_allclose(cps[0].value, best, rtol=1e-13)
    np.testing.assert_allclose(cps[0].W, Wk, atol=1e-12)


def test_critical_points_need_distinct_singular_values():
    """Equal singular values of B give a continuum of critical points: refused by name."""
    loss = RegressionLoss(np.eye(3), np.diag([2.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="distinct"):
        critical_points(loss, 1)
    with pytest.raises(ValueError, match="k=4"):
        critical_points(RegressionLoss(np.eye(3), np.diag([3.0, 2.0, 1.0])), 4)
    with pytest.raises(TypeError, match="RegressionLoss"):
        critical_points(object(), 1)


@pytest.mark.parametrize("seed", [0, 1])
def test_bah_critical_point_index_depth1(seed):
    """Derived index (user guide, "Critical points and their index"): at W_S the Hessian of L on M_k
    (depth 1, embedded Hessian of Absil-Mahony-Trumpf) has exactly #{(i in S, j not in S): b_j >
    b_i} negative eigenvalues: the global minimizer has index 0, every other W_S is a strict saddle.
    Whitened data: the eigenvalues are 1 and 1 +- b_j/b_i. A failure means a wrong Hessian, basis or
    eigen-solve, or a wrong derivation."""
    loss = _regression(seed)
    for k in (1, 2):
        cps = critical_points(loss, k)
        for c in cps:
            h = critical_point_index(c.W, loss, 1)
            assert h.asymmetry < 1e-12
            assert (h.negative, h.zero) == (c.predicted_index, 0)
            assert (c.predicted_index == 0) == (c.subset == cps[0].subset)
    rng = np.random.default_rng(seed)
    b = np.array([3.0, 2.2, 1.1, 0.4])
    U, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    V, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    white = RegressionLoss(np.eye(4), (U[:, :4] * b) @ V.T)
    k = 2
    for c in critical_points(white, k):
        S = list(c.subset)
        out = [j for j in range(4) if j not in S]
        pairs = [1 + sgn * b[j] / b[i] for i in S for j in out for sgn in (1, -1)]
        # M block k^2 ones, Up columns beyond the 4 pairs (m - 4 = 1 per column) ones
        expect = np.sort(np.concatenate((pairs, np.ones(k * k + k * (5 - 4)))))
        h = critical_point_index(c.W, white, 1)
        np.testing.assert_allclose(h.eigenvalues, expect, atol=1e-12)


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_bah_critical_point_index_under_g(depth):
    """Bah et al.; derived index: under the deep-linear metric g of every depth the global
    minimizer on M_k has index 0 and the other critical points are strict saddles, with the
    same index as for depth 1 (at a critical point the Hessian form is metric-independent).
    Uses the manifold's exact Riemannian Hessian; a failure means that Hessian is wrong at
    critical points or not g-self-adjoint."""
    loss = _regression(3)
    for c in critical_points(loss, 2):
        h = critical_point_index(c.W, loss, depth)
        assert h.asymmetry < 1e-10
        assert (h.negative, h.zero) == (c.predicted_index, 0)
        if depth == 1:  # the manifold's Hessian against the Weingarten formula written here
            own = critical_point_index(
                c.W,
                loss,
                1,
                hessian=lambda m, p, G, H, xi: _weingarten_hessian(p, G, H, xi),
            )
            np.testing.assert_allclose(h.eigenvalues, own.eigenvalues, atol=1e-12)


# ------------------------------------------------------------------ Arora et al.
def test_arora_definitions_and_theorem1_quantities_by_hand():
    """Arora et al., Definitions 1, 2 and Theorem 1 on cases computed by hand:
    margin of diag(2, .5) w.r.t. diag(2, 1) is 1 - .5; layers diag(1, 2), I are 3-balanced;
    for Phi = [1], c = .5, N = 2: delta = .25/(256*8), eta = .5^3/(6144*8) (the paper's
    constants, confirmed), rate = .5; T = ceil(ln(l0/eps)/(eta rate))."""
    assert deficiency_margin(np.diag([2.0, 0.5]), np.diag([2.0, 1.0])) == pytest.approx(0.5)
    assert balancedness([np.diag([1.0, 2.0]), np.eye(2)]) == pytest.approx(3.0)
    assert balancedness([np.eye(2)]) == 0.0
    b = arora_theorem1(np.array([[1.0]]), 0.5, 2)
    assert b.delta == pytest.approx(0.25 / 2048)
    assert b.step == pytest.approx(0.125 / (6144 * 8))
    assert b.rate == pytest.approx(0.5)
    assert arora_iterations(1.0, np.exp(-3.0), 0.1, 0.5, 2) == 60
    assert arora_iterations(0.1, 1.0, 0.1, 0.5, 2) == 0
    with pytest.raises(ValueError, match="margin"):
        arora_theorem1(np.eye(2), 1.5, 2)
    with pytest.raises(ValueError, match="target"):
        deficiency_margin(np.eye(2), np.eye(3))


def _arora_start(depth, seed=0, noise=0.15):
    Phi = np.array([[2.0, 0.3, 0.0], [0.1, 1.5, 0.2], [0.0, 0.4, 1.2]])
    W0 = Phi + noise * np.random.default_rng(seed).standard_normal((3, 3))
    F = balanced_factors(W0, (3,) * (depth + 1), rng=seed + 1)
    return Phi, W0, F, RegressionLoss(np.eye(3), Phi)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_arora_lemma1_per_step_descent_at_theorem_step(depth):
    """Arora et al., Lemma 1 and the proof of Theorem 1, at its step: each step has
    l(t+1) <= (1 - eta sigma_min(W(t))^{2(N-1)/N}) l(t), and layers that start delta-balanced
    (delta of Theorem 1) stay 2 delta-balanced. The step is tiny (~1e-8), so the ratios sit
    just below 1, far above rounding (1e-16). A failure means descent or the statement is
    wrong."""
    Phi, W0, F, loss = _arora_start(depth)
    c = deficiency_margin(W0, Phi)
    assert c > 0
    bounds = arora_theorem1(Phi, c, depth)
    rng = np.random.default_rng(7)
    F = [W + 0.1 * bounds.delta / (3 * depth) * rng.standard_normal(W.shape) for W in F]
    assert balancedness(F) <= bounds.delta
    for _ in range(3):
        res = factor_gradient_descent(F, loss, bounds.step, 40)
        assert np.all(arora_step_ratios(res.W, Phi, bounds.step, depth) <= 1.0)
        F = res.factors
        assert balancedness(F) <= 2 * bounds.delta


@pytest.mark.parametrize("step", [1e-3, 1e-2, 5e-2, 1e-1])
def test_arora_lemma1_per_step_descent_beyond_theorem_step(step):
    """Arora et al., Lemma 1 measured far above Theorem 1's step bound: the per-step
    inequality still holds on this case (depth 3) until the loss reaches rounding level
    (steps with l(t) < 1e-20 l(0) are excluded: l is then (eps ||Phi||)^2-noise), and the
    unrolled bound l(T) <= (1 - eta c^{2(N-1)/N})^T l(0) holds. A failure means a broken
    descent or a case where the paper's small-step hypothesis matters (report it)."""
    Phi, W0, F, loss = _arora_start(3)
    c = deficiency_margin(W0, Phi)
    res = factor_gradient_descent(F, loss, step, 300)
    ell = 0.5 * np.sum((res.W - Phi) ** 2, axis=(1, 2))
    live = ell[:-1] > 1e-20 * ell[0]
    assert np.all(arora_step_ratios(res.W, Phi, step, 3)[live] <= 1.0)
    rate = arora_theorem1(Phi, c, 3).rate
    T = np.arange(ell.size)
    assert np.all(ell[live.nonzero()[0]] <= (1 - step * rate) ** T[live.nonzero()[0]] * ell[0])


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_arora_procedure1_margin_probability(scale):
    """Arora et al., Procedure 1, scalar regression (d_N = 1), derived law: the end-to-end
    matrix A is iid N(0, s^2), so P(margin >= 0) is the noncentral chi-square cdf at
    sigma_min(Phi)^2/s^2 (d_0 d_N dof, noncentrality ||Phi||^2/s^2). Monte Carlo over 2000
    balanced initializations must agree within 4 binomial standard deviations (a false alarm
    has probability ~6e-5). A failure means Procedure 1 or the formula is wrong."""
    Phi = np.array([[1.0, -0.5, 0.3, 0.8, 0.2]])
    n = 2000
    p = margin_probability(Phi, scale)
    mc = margin_probability_mc(Phi, (5, 4, 3, 1), scale, n, rng=int(10 * scale))
    assert abs(mc - p) <= 4 * np.sqrt(p * (1 - p) / n)


def test_arora_theorem2_margin_probability_limits():
    """Arora et al., Theorem 2; derived limits: for d_N = 1 the probability of a margin tends to
    1/2 (from below) as s -> 0; for rank Phi >= 2 it tends to 0 (derived). A failure means
    the chi-square formula has the wrong dof or noncentrality."""
    row = np.array([[1.0, 2.0, -1.0]])
    ps = [margin_probability(row, s) for s in (1e-1, 1e-2, 1e-3)]
    assert all(p < 0.5 for p in ps) and np.all(np.diff(ps) > 0)
    assert ps[-1] == pytest.approx(0.5, abs=2e-3)
    assert margin_probability(np.diag([2.0, 1.0]), 1e-2) < 1e-6
    assert margin_probability(row, 1.0, margin=5.0) == 0.0


# ------------------------------------------------------------------ Nguegnang et al., Bah et al.
@pytest.mark.parametrize("depth", [2, 3])
def test_nguegnang_descent_converges_to_global_minimum_on_Mk(depth):
    """Nguegnang, Rauhut, Terstiege: descent on the layers with a small step converges to a
    critical point (layer gradients -> 0); N = 2: to the global minimum; N >= 3: to the
    global minimum on M_k for the rank k reached (k = 3 = min(m, n) in all 6 seeded runs
    here). Their step-size constant is unconfirmed; the step 0.05 is run-based. A failure
    means descent stalls away from a critical point or ends at a saddle."""
    rng = np.random.default_rng(0)
    X = 2 * rng.standard_normal((4, 20)) / np.sqrt(20)
    Y = 2 * rng.standard_normal((3, 20)) / np.sqrt(20)
    loss = RegressionLoss(X, Y)
    widths = (4,) + (5,) * (depth - 1) + (3,)
    for seed in range(6):
        g = np.random.default_rng(seed)
        F = [0.3 * g.standard_normal((widths[j + 1], widths[j])) for j in range(depth)]
        res = factor_gradient_descent(F, loss, 0.05, 3000, record_every=3000)
        lim = descent_limit(res, loss)
        assert lim.gradient_norm < 1e-10
        assert lim.gap < 1e-12 * max(1.0, lim.loss)
        assert lim.distance < 1e-8
        if depth == 2:
            assert lim.rank == 3


@pytest.mark.parametrize("depth", [2, 3])
def test_bah_balanced_flow_converges_to_minimizer_on_Mk(depth):
    """Bah et al.: from random balanced starts of rank k <= r the flow converges to the
    global minimizer of L on M_k and W(t) itself converges (the distance to W*_k falls,
    W(40) - W(20) is below 1e-6 relative). Three seeds, k = 2 < r = 3, run with the
    equivalent Riemannian flow (the equivalence theorem). A failure means the flow ends at
    a saddle or drifts."""
    rng = np.random.default_rng(5)
    loss = RegressionLoss(rng.standard_normal((4, 12)), rng.standard_normal((3, 12)))
    Wk, best = loss.optimum(2)
    t = np.array([0.0, 2.5, 5.0, 10.0, 20.0, 40.0])
    for seed in range(3):
        g = np.random.default_rng(seed)
        W0 = 0.5 * g.standard_normal((3, 2)) @ g.standard_normal((2, 4))
        res = riemannian_gradient_flow(W0, loss, depth, t, "manifold", rtol=1e-10, atol=1e-12)
        assert res.status == 0, res.message
        dist = np.linalg.norm(res.W - Wk, axis=(1, 2)) / np.linalg.norm(Wk)
        assert np.all(np.diff(dist[:4]) < 0) and dist[-1] < 1e-6
        assert np.linalg.norm(res.W[-1] - res.W[-2]) < 1e-6 * np.linalg.norm(Wk)
        assert res.loss[-1] - best < 1e-10


# ------------------------------------------------------------------ one-neuron layers
ONE_NEURON_PHI = np.diag([3.0, 2.0, 1.0, 0.0])


def _one_neuron_layers(u, v, sigma0, depth):
    r = sigma0 ** (1.0 / depth)
    mid = [np.array([[r]]) for _ in range(depth - 2)]
    return [r * v[None, :]] + mid + [r * u[:, None]]


def test_one_neuron_predict_limit_by_hand():
    """Derived i* rule (user guide, "One-neuron-wide layers") on hand cases for Phi = diag(3, 2,
    1, 0): e2 e2^T -> saddle 2; u0 = (1, 1)/sqrt2, v0 = (-1, 1)/sqrt2 cancels pair 1 -> saddle
    2; e4 e4^T -> origin; e1 e3^T -> global. A failure means a wrong coefficient u_i^T u0 +
    v_i^T v0."""
    loss = RegressionLoss(np.eye(4), ONE_NEURON_PHI)
    e = np.eye(4)
    h = np.sqrt(0.5)
    cases = [
        (e[1], e[1], ("saddle", 2)),
        (h * (e[0] + e[1]), h * (e[1] - e[0]), ("saddle", 2)),
        (e[3], e[3], ("origin", None)),
        (e[0], e[2], ("global", 1)),
    ]
    for u, v, want in cases:
        got = predict_limit(_one_neuron_layers(u, v, 0.7, 3), loss)
        assert (got.kind, got.pair) == want
    with pytest.raises(ValueError, match="balanced"):
        predict_limit([2 * e[2][None, :], e[0][:, None]], loss)
    with pytest.raises(ValueError, match="whitened"):
        predict_limit(_one_neuron_layers(e[0], e[0], 1.0, 2), RegressionLoss(2 * np.eye(4), e))


def _one_neuron_ensemble(depth, runs, seed, T):
    loss = RegressionLoss(np.eye(4), ONE_NEURON_PHI)
    rng = np.random.default_rng(seed)
    tally = {}
    for _ in range(runs):
        istar = int(rng.integers(1, 5))  # 4: no growing pair (origin)
        u, v = rng.standard_normal(4), rng.standard_normal(4)
        u[: istar - 1] = 0.0  # exact zeros: the flow of the layers keeps them exactly
        v[: istar - 1] = 0.0
        layers = _one_neuron_layers(
            u / np.linalg.norm(u), v / np.linalg.norm(v), rng.uniform(0.3, 1.5), depth
        )
        pred = predict_limit(layers, loss)
        res = factor_gradient_flow(layers, loss, [0.0, T], rtol=1e-7, atol=1e-9)
        got = classify_limit(res, loss, tol=1e-2)
        key = (pred.kind, pred.pair, got.kind, got.pair)
        tally[key] = tally.get(key, 0) + 1
    return tally


def test_one_neuron_limits_ensemble_depth2():
    """One-neuron-wide layers (Chen, Lin, Zhang; Eftekhari; derived i* rule): 200 seeded runs of
    the layer flow (depth 2, widths 4-1-4, Phi = diag(3, 2, 1, 0)), starts drawn so that
    every outcome occurs; predict_limit must match classify_limit on every run (measured:
    200/200, each of the four outcomes 43-56 times). Starts whose cancellation is inexact in
    floating point are left out: roundoff then seeds the unstable pair and the run leaves the
    saddle. A failure means the rule or the classification is wrong."""
    tally = _one_neuron_ensemble(2, 200, 0, 100.0)
    wrong = {k: n for k, n in tally.items() if k[:2] != k[2:]}
    assert not wrong, wrong
    assert {k[0] for k in tally} == {"global", "saddle", "origin"}


@pytest.mark.slow
def test_one_neuron_limits_ensemble_depth3():
    """As the depth-2 ensemble, depth 3 (widths 4-1-1-4): 200 runs, all predictions right
    (measured 200/200). Slow (~10 s): the origin is approached like t^{-3/4}."""
    tally = _one_neuron_ensemble(3, 200, 1, 100.0)
    wrong = {k: n for k, n in tally.items() if k[:2] != k[2:]}
    assert not wrong, wrong


def test_classify_limit_undecided_and_errors():
    """classify_limit reports "undecided" away from every candidate and names bad input."""
    loss = RegressionLoss(np.eye(4), ONE_NEURON_PHI)
    W = 1.5 * np.outer(np.eye(4)[0], np.eye(4)[0])
    assert classify_limit(W, loss).kind == "undecided"
    assert classify_limit(3 * np.outer(np.eye(4)[0], np.eye(4)[0]), loss).kind == "global"
    with pytest.raises(ValueError, match="tol"):
        classify_limit(W, loss, tol=-1.0)
    with pytest.raises(ValueError, match="shape"):
        classify_limit(np.zeros((3, 4)), loss)


# ------------------------------------------------------------------ one-neuron stages
def _stage_problem():
    """Phi of shape 4 x 3 with s = (3, 2, 1) in random frames; a start with rho(0) < 0."""
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    V, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    loss = RegressionLoss(np.eye(3), (U[:, :3] * [3.0, 2.0, 1.0]) @ V.T)
    u0, v0 = U @ [0.5, 1.0, 0.0, 0.3], V @ [-1.0, 0.2, 0.5]
    return loss, u0 / np.linalg.norm(u0), v0 / np.linalg.norm(v0), U, V


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_one_neuron_trajectory_closed_form_vs_flows(depth):
    """Derived (user guide, "One-neuron-wide layers"): from W(0) = sigma0 u0 v0^T the balanced flow
    is (x; y) = exp(tau [[0, Phi], [Phi^T, 0]]) (u0; v0), u = x/|x|, v = y/|y|, d tau/dt =
    sigma^{(N-2)/N}, sigma = |x|^N / (1/sigma0 + N int |x|^N). one_neuron_trajectory must match
    riemannian_gradient_flow (and, depth 3, the layer flow of widths 3-1-1-4) to 1e-8 relative over
    the decay, plateau and convergence (measured: 1e-11 to 2e-10, the flows' own error). A failure
    means the formula, the metric on M_1 or the flows are wrong."""
    loss, u0, v0, _, _ = _stage_problem()
    assert u0 @ loss.target @ v0 < 0
    W0 = 0.05 * np.outer(u0, v0)
    t = np.concatenate((np.linspace(0.0, 0.4, 5), np.linspace(1.0, 12.0, 12)))
    tr = one_neuron_trajectory(W0, loss, t, depth=depth)
    assert np.min(tr.sigma) < 0.05 and tr.sigma[-1] > 2.99  # a decay stage, then escape
    res = riemannian_gradient_flow(W0, loss, depth, t, "dense", rtol=1e-12, atol=1e-14)
    assert res.status == 0, res.message
    scale = np.linalg.norm(tr.W, axis=(1, 2))
    np.testing.assert_array_less(np.linalg.norm(res.W - tr.W, axis=(1, 2)) / scale, 1e-8)
    if depth == 3:
        layers = _one_neuron_layers(u0, v0, 0.05, 3)
        fl = factor_gradient_flow(layers, loss, t, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_less(np.linalg.norm(fl.W - tr.W, axis=(1, 2)) / scale, 1e-8)
        np.testing.assert_allclose(one_neuron_trajectory(layers, loss, t).W, tr.W, atol=1e-14)


def _escape_and_turn(W0, sigma0, loss, depth, st):
    """Measured times of sigma = a/2 and of the sign change of rho = <W, Phi>/sigma."""
    # the escape takes O(1) time: a window of half-width 1 + 0.1 t sigma0^q at spacing <= 0.02
    w = 1.0 + 0.1 * st.escape_time * sigma0 ** ((depth - 2) / depth)
    t = np.concatenate(
        (
            [0.0],
            np.linspace(0.9 * st.turn_time, 1.1 * st.turn_time, 100),
            np.linspace(st.escape_time - w, st.escape_time + w, 200),
        )
    )
    res = riemannian_gradient_flow(W0, loss, depth, t, "dense", rtol=1e-11, atol=1e-30)
    assert res.status == 0, res.message
    sig = res.singular_values[:, 0]
    rho = np.einsum("tij,ij->t", res.W, loss.target) / sig

    def crossing(tt, f):  # cubic spline through the window: interpolation error O(h^4)
        roots = CubicSpline(tt, f).roots(extrapolate=False)
        assert roots.size, "the crossing lies outside the window"
        return roots[0]

    return crossing(t[101:], np.log(sig[101:] / (st.a / 2))), crossing(t[1:101], rho[1:101])


@pytest.mark.parametrize(
    ("depth", "sigma0s"),
    [(2, [1e-2, 1e-4, 1e-6, 1e-8]), (3, [1e-3, 1e-6, 1e-9]), (4, [1e-4, 1e-5, 1e-6])],
)
def test_one_neuron_stages_escape_time_vs_runs(depth, sigma0s):
    """Derived (user guide, "One-neuron-wide layers: the stages of a run"), plateau length: the time
    at which sigma reaches a/2 (a = s_{i*}, the singular value of the pair the run escapes along,
    here s_1 = 3) is, as sigma0 -> 0, sigma0^{-q} int_0^inf |x(tau)|^{-(N-2)} d tau (q = (N-2)/N, N
    >= 3; relative error O(sigma0^q)) and ln(a / (sigma0 A^2)) / (2a) for N = 2 (A = |u_1^T u0 +
    v_1^T v0|/2; absolute error O(sigma0^{g/a}), g = s_1 - s_2). For the aligned start these are
    sigma0^{-q}/((N-2)a) and ln(a/sigma0)/(2a). Checked against riemannian_gradient_flow: the error
    falls, with log-log slope q (N >= 3; relative error) or g/a = 1/3 (N = 2; absolute error) within
    0.1 (measured 0.33, 0.33 and 0.44 for N = 2, 3, 4). The turn (rho = u^T Phi v = 0, end of the
    decay) is exact for N = 2 and leading order otherwise. A failure means a wrong asymptotic
    formula, a wrong a, or a flow that does not resolve the plateau."""
    loss, u0, v0, U, V = _stage_problem()
    q = (depth - 2) / depth
    errs, turn_errs = [], []
    for sigma0 in sigma0s:
        W0 = sigma0 * np.outer(u0, v0)
        st = one_neuron_stages(W0, loss, depth)
        assert (st.kind, st.pair, st.a) == ("global", 1, pytest.approx(3.0))
        escape, turn = _escape_and_turn(W0, sigma0, loss, depth, st)
        err = st.escape_time - escape
        errs.append(abs(err) if depth == 2 else abs(err) / escape)
        turn_errs.append(abs(st.turn_time - turn) / turn)
        aligned = one_neuron_stages(sigma0 * np.outer(U[:, 0], V[:, 0]), loss, depth)
        np.testing.assert_allclose(aligned.escape_time, aligned.plateau_aligned, rtol=1e-10)
    assert np.all(np.diff(errs) < 0), errs
    slope = np.polyfit(np.log(sigma0s), np.log(errs), 1)[0]
    assert abs(slope - (1 / 3 if depth == 2 else q)) < 0.1, (slope, errs)
    if depth == 2:
        assert max(turn_errs) < 1e-6, turn_errs  # exact: tau = t
    else:
        assert turn_errs[-1] < 2 * sigma0s[-1] ** q, turn_errs


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_one_neuron_stages_final_linear_rate_vs_runs(depth):
    """Derived (user guide, "One-neuron-wide layers: the stages of a run"), last stage: L - L(W*) =
    (sigma - rho)^2/2 + (a^2 - rho^2)/2 decays at lambda = min(2N a^{2(N-1)/N}, 2 g a^{(N-2)/N})
    (g = s_1 - s_2 here: the direction, not the singular value, sets the rate), so |W - W*|
    decays at lambda/2. The measured rate of riemannian_gradient_flow between |W - W*| = 1e-3
    and 1e-8 must agree to 1e-4 relative (measured: 1e-7 to 2e-6). A failure means a wrong rate
    or linearization."""
    loss, u0, v0, U, V = _stage_problem()
    W0 = 0.3 * np.outer(u0, v0)
    st = one_neuron_stages(W0, loss, depth)
    assert st.rate == st.rate_direction < st.rate_sigma
    t = np.linspace(0.0, st.escape_time + 2 * np.log(1e9) / st.rate, 300)
    res = riemannian_gradient_flow(W0, loss, depth, t, "dense", rtol=1e-12, atol=1e-16)
    dist = np.linalg.norm(res.W - 3.0 * np.outer(U[:, 0], V[:, 0]), axis=(1, 2))
    i, j = int(np.argmax(dist < 1e-3)), int(np.argmax(dist < 1e-8))
    assert 0 < i < j
    measured = 2 * np.log(dist[i] / dist[j]) / (t[j] - t[i])
    np.testing.assert_allclose(measured, st.rate, rtol=1e-4)


def test_one_neuron_stages_origin_and_errors():
    """Starts with no growing pair have no escape (origin); bad input is named."""
    loss = RegressionLoss(np.eye(4), ONE_NEURON_PHI)
    e = np.eye(4)
    st = one_neuron_stages(0.5 * np.outer(e[3], e[3]), loss, 3)
    assert st.kind == "origin" and st.escape_time == np.inf
    with pytest.raises(ValueError, match="depth"):
        one_neuron_trajectory(0.5 * np.outer(e[0], e[0]), loss, [0.0, 1.0])
    with pytest.raises(ValueError, match="rank one"):
        one_neuron_stages(np.eye(4), loss, 3)
    with pytest.raises(ValueError, match="depth must be >= 2"):
        one_neuron_stages(np.outer(e[0], e[0]), loss, 1)


# ------------------------------------------------------------------ Arora et al., counterexample
def _arora_negative_target():
    Q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))
    Phi = (Q * [2.0, 0.5, -1.0]) @ Q.T
    return 0.5 * (Phi + Phi.T)


@pytest.mark.parametrize("depth", [2, 4, 6])
@pytest.mark.parametrize("step", [0.01, 0.05, 0.1, 1.0])
def test_arora_counterexample_identity_start_never_below_bound(depth, step):
    """Arora et al., Claim 5 (counterexample): N even, Phi symmetric with eigenvalue
    lambda = -1, W_j(0) = I: descent stays at loss >= lambda^2/2 for every step size
    (1.0 diverges; still above; at N = 2 the run may stop on numerical rank loss, the
    negative direction's eigenvalue reaching rounding level). The reason, checked here: all
    layers stay one and the same symmetric matrix commuting with Phi (a polynomial in Phi),
    so W = p(Phi)^N is PSD. 300 steps: rounding breaks the symmetry, but it is still below
    1e-9 there. A failure means descent does not treat the layers alike or the mechanism is
    different."""
    ex = arora_counterexample(_arora_negative_target(), depth)
    Phi = ex.loss.target
    assert ex.bound == pytest.approx(0.5)
    res = factor_gradient_descent(ex.factors, ex.loss, step, 300, rank_tol=1e-300)
    # -2: diverged (step 1.0); -3 (N = 2): the eigenvalue on the negative direction of Phi
    # decays geometrically to below rounding, which is the PSD bound being approached
    assert res.status in (0, -2, -3), res.message
    assert np.all(res.loss >= ex.bound * (1 - 1e-12))
    if res.status != -2:
        A = res.factors[0]
        for Wj in res.factors:
            assert np.max(np.abs(Wj - A)) < 1e-9 and np.max(np.abs(Wj - Wj.T)) < 1e-9
        assert np.max(np.abs(A @ Phi - Phi @ A)) < 1e-9
        assert np.linalg.eigvalsh(0.5 * (res.W[-1] + res.W[-1].T))[0] > -1e-12


def test_arora_counterexample_needs_the_exact_symmetric_start():
    """The same case (depth 4, step 0.1) from I + 1e-8 E (E a fixed non-symmetric matrix) in
    one layer: the symmetric set is unstable, the asymmetry grows geometrically and descent
    goes below lambda^2/2 (measured: loss 0.125 after 1500 steps). Rounding alone does the
    same, later (about 1000 steps from the exact start, platform-dependent), so the
    counterexample is a measure-zero start. A failure means the instability is gone, so the
    bound would hold for perturbed starts as well."""
    ex = arora_counterexample(_arora_negative_target(), 4)
    E = np.arange(9.0).reshape(3, 3) / 9.0
    F = [ex.factors[0] + 1e-8 * E] + ex.factors[1:]
    res = factor_gradient_descent(F, ex.loss, 0.1, 1500, rank_tol=1e-300)
    assert res.status == 0, res.message
    assert res.loss[-1] < 0.5 * ex.bound
    with pytest.raises(ValueError, match="even"):
        arora_counterexample(_arora_negative_target(), 3)
    with pytest.raises(ValueError, match="negative eigenvalue"):
        arora_counterexample(np.eye(2), 2)


# ------------------------------------------------------------------ step-size stability
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_derived_descent_step_bounds_separate_convergence_from_departure(depth):
    """Derived linear-stability bounds (riemlin.theory.stability): from a start close to
    the minimizer W* on M_k, Riemannian descent with step 0.9 * 2/lambda_max(Hess^g L(W*))
    converges to W*, and with 1.1 times the bound it leaves W* (the error grows); the same
    for layer descent with 2/lambda_max of the layer Hessian at balanced layers over W*.
    A failure means the Hessian under g (or the layer Hessian) has the wrong top
    eigenvalue, or the stability argument is wrong."""
    from riemlin.theory import descent_step_bounds

    rng = np.random.default_rng(8)
    m, n, k, s = 6, 5, 2, 20
    loss = RegressionLoss(rng.standard_normal((n, s)) / np.sqrt(s), rng.standard_normal((m, s)))
    W_star, _ = loss.optimum(k)
    widths = (n,) + (k,) * (depth - 1) + (m,)  # bottleneck k: W* minimizes L^N
    bounds = descent_step_bounds(loss, k, depth, widths if depth > 1 else None)
    perturbation = 1e-4 * rng.standard_normal((m, k)) @ rng.standard_normal((k, n))
    U, sv, Vt = np.linalg.svd(W_star + perturbation)
    W0 = (U[:, :k] * sv[:k]) @ Vt[:k]  # a nearby point of M_k
    layers = balanced_factors(W0, widths, rng=1) if depth > 1 else None

    def error(W):
        return np.linalg.norm(W - W_star) / np.linalg.norm(W_star)

    e0 = error(W0)
    for factor, converges in ((0.9, True), (1.1, False)):
        riem = riemannian_gradient_descent(
            W0, loss, depth, factor * bounds.riemannian, 400, k=k, output="matrix"
        )
        end = error(riem.W[-1]) if riem.status == 0 else np.inf
        assert (end < 1e-3 * e0) == converges, (factor, end, e0)
        if depth > 1:
            fac = factor_gradient_descent(
                layers, loss, factor * bounds.factor, 400, record_every=400
            )
            end = error(product(fac.factors)) if fac.status == 0 else np.inf
            assert (end < 1e-3 * e0) == converges, (factor, end, e0)
    with pytest.raises(ValueError, match="bottleneck"):
        descent_step_bounds(loss, k, 2, (n, 3, m))
