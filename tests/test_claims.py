"""Claims beyond the equivalence theorem, each as a seeded check that fails if the claim
is numerically false on its problem (the guide chapter "Claims beyond the theorem").

The problems are the run kinds of riemlin.experiments.claims at their defaults unless a
test says otherwise; losses reach exact zero or rounding level, so the inequalities
below carry margins (1e-3 relative and more) far above rounding (~1e-14).
"""

import numpy as np
import pytest

from riemlin.dynamics.imbalanced import imbalanced_gradient_flow
from riemlin.experiments import KINDS
from riemlin.losses import random_regression


def _run(kind, seed=11, **params):
    spec = KINDS[kind]
    p = {name: par.default for name, par in spec.parameters.items()}
    p.update(params)
    out = spec.function(p, np.random.SeedSequence(seed))
    assert out["status"] == 0, out["message"]
    return out


@pytest.fixture(scope="module")
def flatness():
    """Beneventano-Woodworth's model: depth 2, a^T b ~ Phi = 1 (m = n = 1), width 8,
    Gaussian layers tilted by e^{+-0.5}; descent for 1500 steps at step_ratio * 2 /
    (sharpness of the flow's limit)."""
    ratios = (0.25, 0.5, 0.75, 1.0, 1.25)
    return {r: _run("flatness", step_ratio=r, tilt=0.5) for r in ratios}


def test_descent_converges_linearly_with_a_step_near_two_over_sharpness(flatness):
    """Beneventano and Woodworth (arXiv:2501.09137, abstract): linear convergence to a
    global minimum even with a step of about 2 / sharpness. At step = 2 / (the flow's
    limit sharpness) the excess loss falls below 1e-10 of its start within 50 steps, at a
    fitted rate above 0.5 per step, and the limit is linearly stable (step x limit
    sharpness / 2 < 1)."""
    run = flatness[1.0]
    assert run["final_excess"] < 1e-20
    assert run["steps_to_tol"] <= 50 and run["rate"] > 0.5
    assert run["edge_ratio"] < 1.0


def test_descent_ends_flatter_smaller_and_more_balanced_than_the_flow(flatness):
    """Abstract: the limit of descent has lower norm and sharpness than the flow's limit
    from the same start; descent reduces the imbalance the flow conserves. Every ratio
    (descent's limit / flow's limit) is below 1 - 1e-3, and the sharpness ratio falls
    strictly as the step grows (larger steps regularize more)."""
    ratios = sorted(flatness)
    for r in ratios:
        run = flatness[r]
        for name in ("sharpness_ratio", "norm_ratio", "imbalance_ratio"):
            assert run[name] < 1 - 1e-3, (r, name, run[name])
    sharp = [flatness[r]["sharpness_ratio"] for r in ratios]
    assert all(a > b for a, b in zip(sharp, sharp[1:])), sharp


def test_larger_steps_converge_more_slowly_past_the_fastest_step(flatness):
    """Abstract: a trade-off between the speed of convergence and the implicit
    regularization. Measured on this problem: the fastest step is near half of
    2 / sharpness; from there to 2 / sharpness the steps to converge grow while the limit
    gets flatter. (Below it, smaller steps are slower too: the claim holds past the
    fastest step only.)"""
    fast, edge = flatness[0.5], flatness[1.0]
    assert edge["steps_to_tol"] > fast["steps_to_tol"]
    assert edge["limit_sharpness"] < fast["limit_sharpness"]
    assert flatness[0.25]["steps_to_tol"] > fast["steps_to_tol"]


def test_the_flow_conserves_the_imbalance_its_limit_keeps():
    """The gradient flow conserves W2^T W2 - W1 W1^T (Tarmoun et al., ICML 2021; Arora et
    al.): compare_imbalanced_flows reports the drift of the layer flow below 1e-9 (its
    tolerance is 1e-10)."""
    from riemlin.dynamics.imbalanced import compare_imbalanced_flows

    loss, W0 = random_regression(3, 4, 2, 10, rng=0)
    cmp = compare_imbalanced_flows(W0, loss, 1.5, np.linspace(0, 5, 6), rng=1)
    assert np.max(cmp.imbalance_drift) < 1e-9


@pytest.mark.parametrize("lam", [0.5, 2.0])
def test_square_shapes_see_only_the_size_of_the_imbalance(lam):
    """For m = n = k the metric weights nu_a + mu_b = (r_a + r_b) / 2 do not depend on the
    sign of lam, so the flows of lam and -lam are the same curve (to the integrators'
    accuracy, rtol 1e-10: 1e-8)."""
    loss, W0 = random_regression(4, 4, 4, 20, rng=2, scale=0.3)
    t = np.linspace(0, 2, 5)
    a = imbalanced_gradient_flow(W0, loss, lam, t)
    b = imbalanced_gradient_flow(W0, loss, -lam, t)
    np.testing.assert_allclose(a.W, b.W, atol=1e-8 * np.abs(a.W).max())


def test_rate_improves_with_the_imbalance_for_square_layers():
    """Xu, Min, Tarmoun, Mallada, Vidal (AISTATS 2023) and Tarmoun et al. (ICML 2021),
    abstracts: the linear rate depends on (improves with) the imbalance. Two layers 4x4
    with hidden width 4 and Q = lam I, flow and descent: the fitted rate grows by more
    than 20% from lam = 0 to 1 to 2, for either sign."""
    rates = {
        lam: _run("imbalance_rate", seed=5, m=4, n=4, lam=lam) for lam in (-2.0, 0.0, 1.0, 2.0)
    }
    for key in ("rate_flow", "rate_descent"):
        r = [rates[lam][key] for lam in (0.0, 1.0, 2.0)]
        assert r[1] > 1.2 * r[0] and r[2] > 1.2 * r[1], (key, r)
        assert rates[-2.0][key] == pytest.approx(rates[2.0][key], rel=1e-2)


def test_rate_falls_with_one_sign_of_the_imbalance_for_rectangular_layers():
    """Where the claim's blanket form fails: m = 3 < n = 5 with hidden width k = 3. The
    weight of the V_perp block of the metric is nu = s^2 / mu, which shrinks like
    s^2 / |lam| for lam < 0, and the measured rate falls below the balanced one by more
    than a factor 2; for lam > 0 it grows by more than a factor 2."""
    rate = {
        lam: _run("imbalance_rate", seed=5, m=3, n=5, lam=lam)["rate_flow"]
        for lam in (-2.0, 0.0, 2.0)
    }
    assert rate[-2.0] < 0.5 * rate[0.0] < rate[0.0] < 0.5 * rate[2.0]


def test_descent_stays_two_delta_balanced_with_small_steps_and_not_with_large_ones():
    """Arora et al. (arXiv:1810.02281), Theorem 1: iterates from a delta-balanced start
    stay 2 delta-balanced under its step bound (about 1.5e-8 here). Measured far beyond
    the bound: with delta ~ 4e-3 and step 0.01 the largest imbalance stays below 1.1
    delta; with delta ~ 4e-5 and step 0.3 (outside the theorem's hypotheses: its delta is
    ~6e-6 and its step 2e7 times smaller) it exceeds 2 delta, so the check can fail."""
    small = _run("balancedness", seed=3, strength=1e-3, step=0.01)
    assert small["balance_ratio"] < 1.1
    large = _run("balancedness", seed=3, strength=1e-5, step=0.3)
    assert large["balance_ratio"] > 2.0


def test_departure_from_the_balanced_flow_is_first_order_in_the_imbalance():
    """For imbalance matrices of size q the layer flow's product leaves the balanced
    Riemannian flow by O(q): the log-log slope of the mismatch against max_j ||D_j||_F
    over strengths 1e-4..1e-2 is 1 within 0.15; at strength 0 the flows agree to 1e-8
    (integrator accuracy)."""
    runs = [_run("imbalance_departure", seed=2, strength=s) for s in (1e-4, 1e-3, 1e-2)]
    q = np.log([r["imbalance_norm"] for r in runs])
    e = np.log([r["mismatch"] for r in runs])
    assert np.polyfit(q, e, 1)[0] == pytest.approx(1.0, abs=0.15)
    assert _run("imbalance_departure", seed=2, strength=0.0)["mismatch"] < 1e-8
