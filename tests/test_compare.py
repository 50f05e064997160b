"""The equivalence theorem, numerically: layer flow vs Riemannian flow."""

import json
import subprocess
import sys

import numpy as np
import pytest

from riemlin import RegressionLoss, balanced_factors, product
from riemlin.dynamics.equivalence import compare_descent, compare_flows
from riemlin.dynamics.layers import factor_gradient_descent, factor_gradient_flow
from riemlin.networks import imbalance

WIDTHS = {2: (5, 2, 4), 3: (5, 3, 2, 4), 4: (5, 3, 6, 2, 4), 6: (5, 3, 6, 2, 3, 5, 4)}


def _problem(widths, seed=0, scale=0.5):
    rng = np.random.default_rng(seed)
    n, m, k = widths[0], widths[-1], min(widths)
    loss = RegressionLoss(rng.standard_normal((n, 20)), rng.standard_normal((m, 20)))
    W0 = scale * rng.standard_normal((m, k)) @ rng.standard_normal((k, n)) / np.sqrt(n)
    return loss, W0


@pytest.mark.parametrize("depth", [2, 3, 4, 6])
def test_balanced_layers_follow_the_riemannian_flow(depth):
    """Equivalence theorem (Bah et al.): the mismatch is at integrator accuracy and shrinks
    with rtol."""
    widths = WIDTHS[depth]
    loss, W0 = _problem(widths)
    t = np.linspace(0, 5, 11)
    loose = compare_flows(loss=loss, t_eval=t, W0=W0, widths=widths, rng=1, rtol=1e-8, atol=1e-11)
    tight = compare_flows(loss=loss, t_eval=t, W0=W0, widths=widths, rng=1, rtol=1e-11, atol=1e-14)
    assert tight.max_relative_mismatch < 1e-8
    assert tight.max_relative_mismatch < 0.2 * loose.max_relative_mismatch
    np.testing.assert_allclose(tight.loss_factor, tight.loss_riemannian, rtol=1e-8)
    assert tight.imbalance_drift.max() < 1e-9  # the flow conserves the imbalance
    assert tight.factor_result.status == 0 and tight.riemannian_result.status == 0


@pytest.mark.parametrize("method", ["manifold", "dense"])
def test_both_flows_reach_the_optimum_on_mk(method):
    widths = (4, 3, 3, 3)  # bottleneck 3 = k
    loss, W0 = _problem(widths, seed=3)
    cmp = compare_flows(
        loss=loss, t_eval=[0.0, 5.0, 60.0], W0=W0, widths=widths, rng=2, formulation=method
    )
    assert cmp.k == 3
    gap_f = (cmp.loss_factor[-1] - cmp.optimum_value) / cmp.optimum_value
    gap_r = (cmp.loss_riemannian[-1] - cmp.optimum_value) / cmp.optimum_value
    # no lower than the minimum, up to the rounding of the two sums (a few ulps)
    assert -1e-14 <= gap_f < 1e-9 and -1e-14 <= gap_r < 1e-9
    assert cmp.distance_to_optimum[-1] < 1e-4
    assert cmp.distance_to_optimum[0] > 0.1


def test_unbalanced_layers_leave_the_riemannian_flow():
    """Without balancedness the theorem fails, and the mismatch grows with the imbalance."""
    widths = WIDTHS[3]
    loss, W0 = _problem(widths)
    layers = balanced_factors(W0, widths, rng=1)
    out = []
    for eps in (0.0, 1e-3, 1e-2, 1e-1):
        rng = np.random.default_rng(5)
        pert = [W + eps * rng.standard_normal(W.shape) for W in layers]
        cmp = compare_flows(pert, loss, np.linspace(0, 2, 5), rtol=1e-10, atol=1e-13)
        out.append(cmp.max_relative_mismatch)
    assert out[0] < 1e-7
    assert out[1] < out[2] < out[3] and out[1] > 100 * out[0]


def test_descent_drift_is_second_order_per_step():
    """Derived (user guide, section "Gradient descent changes the imbalance by eta^2"): one
    descent step changes D_j by exactly
    eta^2 (G_{j+1}^T G_{j+1} - G_j G_j^T).

    A first-order term in eta would mean the layer gradients were wrong.
    """
    widths = WIDTHS[3]
    loss, W0 = _problem(widths)
    layers = balanced_factors(W0, widths, rng=1)
    steps = np.array([1e-2, 5e-3, 2.5e-3, 1.25e-3])
    drift = []
    for eta in steps:
        res = factor_gradient_descent(layers, loss, eta, 1)
        drift.append(res.imbalance_drift[-1])
        # the exact formula
        from riemlin.networks import factor_gradient

        G = factor_gradient(layers, loss.gradient(product(layers)))
        D0, D1 = imbalance(layers), imbalance(res.factors)
        for j in range(len(D0)):
            predicted = eta**2 * (G[j + 1].T @ G[j + 1] - G[j] @ G[j].T)
            np.testing.assert_allclose(
                D1[j] - D0[j], predicted, atol=1e-12 * np.abs(D0[j]).max() + 1e-15
            )
    slope = np.polyfit(np.log(steps), np.log(drift), 1)[0]
    assert abs(slope - 2) < 0.1


def test_compare_descent_orders():
    widths = WIDTHS[3]
    loss, W0 = _problem(widths)
    res = compare_descent(
        loss=loss, steps=[8e-3, 4e-3, 2e-3, 1e-3], t_end=1.0, W0=W0, widths=widths, rng=1
    )
    assert np.all(res.status_factor == 0) and np.all(res.status_riemannian == 0)
    assert abs(res.mismatch_order - 1) < 0.25  # two first-order schemes of one flow
    assert abs(res.drift_order - 1) < 0.1  # eta^2 per step, t/eta steps
    assert "fitted order" in res.table()


def test_factor_descent_reports_divergence():
    widths = WIDTHS[3]
    loss, W0 = _problem(widths, scale=3.0)
    res = factor_gradient_descent(balanced_factors(W0, widths, rng=1), loss, 1.0, 50)
    assert res.status == -2 and "divergence" in res.message
    assert np.all(np.isfinite(res.loss))


def test_factor_flow_reports_divergence():
    from riemlin import MatrixLoss

    # L(W) = -1/4 ||W||^4 has a finite-time blow-up along its gradient flow
    loss = MatrixLoss(lambda W: -0.25 * np.sum(W**2) ** 2, lambda W: -np.sum(W**2) * W)
    layers = balanced_factors(np.eye(2), (2, 2, 2), rng=0)
    res = factor_gradient_flow(layers, loss, [0.0, 10.0])
    assert res.status == -2 and np.all(np.isfinite(res.loss))


def test_comparison_table_plot_and_summary(tmp_path):
    widths = WIDTHS[2]
    loss, W0 = _problem(widths)
    cmp = compare_flows(loss=loss, t_eval=np.linspace(0, 1, 5), W0=W0, widths=widths, rng=0)
    text = cmp.table()
    assert "max relative mismatch" in text and "L*" in text
    summary = cmp.summary()
    json.dumps(summary)
    path = tmp_path / "cmp.png"
    cmp.plot(path)
    assert path.stat().st_size > 10_000


def test_bad_input():
    widths = WIDTHS[2]
    loss, W0 = _problem(widths)
    with pytest.raises(ValueError, match="either factors"):
        compare_flows([W0], loss, [0.0, 1.0], W0=W0, widths=widths)
    with pytest.raises(ValueError, match="give factors"):
        compare_flows(loss=loss, t_eval=[0.0, 1.0], W0=W0)
    with pytest.raises(ValueError, match="strictly increasing"):
        compare_flows(loss=loss, t_eval=[1.0, 0.0], W0=W0, widths=widths)
    with pytest.raises(ValueError, match="do not chain"):
        factor_gradient_flow([np.ones((3, 5)), np.ones((4, 2))], loss, [0.0, 1.0])
    with pytest.raises(ValueError, match="steps"):
        compare_descent(loss=loss, steps=[0.1], W0=W0, widths=widths)
    with pytest.raises(ValueError, match="integrator"):
        factor_gradient_flow(balanced_factors(W0, widths), loss, [0.0, 1.0], integrator="Euler")
    zero = [np.zeros((2, 5)), np.ones((4, 2))]  # the product is zero: no rank to follow
    with pytest.raises(ValueError, match="is zero; the flows need rank >= 1"):
        compare_flows(zero, loss, [0.0, 1.0])
    with pytest.raises(ValueError, match="is zero; the runs need rank >= 1"):
        compare_descent(zero, loss, steps=[0.1, 0.05], t_end=1.0)


def test_verify_json_subprocess(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "riemlin.cli",
            "verify",
            "--json",
            "--plot",
            str(tmp_path / "v.png"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in (
        "max_relative_mismatch",
        "final_loss_factor",
        "final_loss_riemannian",
        "optimum_value",
        "max_imbalance_drift",
        "seconds_factor",
        "seconds_riemannian",
    ):
        assert key in out
    assert out["passed"] and out["max_relative_mismatch"] < 1e-6
    assert (tmp_path / "v.png").exists()


def test_verify_text_and_bad_arguments(tmp_path, capsys):
    from riemlin.cli import main

    assert main(["verify", "--plot", "", "--t-end", "1"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "mismatch" in out
    assert main(["verify", "--widths", "4,x,3"]) == 2
    assert "--widths" in capsys.readouterr().err
    assert main(["verify", "--k", "9"]) == 2
    assert main(["verify", "--depth", "zero"]) == 2
    # a failing tolerance gives exit code 1
    assert main(["verify", "--plot", "", "--t-end", "1", "--tol", "1e-30"]) == 1
