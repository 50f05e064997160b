"""The tutorial's solutions (examples/plot_tutorial_solutions.py) prove what the exercises claim.

docs/tutorial.md states an expected outcome for each exercise; these tests run the
solution script (in its fast mode) and check each outcome with a tolerance that a wrong
solution or a regression in riemlin would violate.
"""

import runpy
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "plot_tutorial_solutions.py"


@pytest.fixture(scope="module")
def solutions():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RIEMLIN_FAST", "1")
        mp.setenv("MPLBACKEND", "Agg")
        mp.setattr(plt, "show", lambda *args, **kwargs: None)
        result = runpy.run_path(str(SCRIPT), run_name="__main__")
    plt.close("all")
    return result


def test_exercise1_dpi_dpi_star_is_the_metric_operator_at_balanced_factors(solutions):
    assert solutions["ex1_error_balanced"] < 1e-12
    assert solutions["ex1_error_unbalanced"] > 0.1


def test_exercise1_own_dense_operator_matches_riemlin_reference(solutions):
    from riemlin.reference import metric_operator_dense

    W, Z, N = solutions["W"], solutions["Z"], solutions["N"]
    ours = solutions["A_dense"](W, Z, N)
    ref = metric_operator_dense(W, Z, N)
    assert abs(ours - ref).max() < 1e-12 * abs(ref).max()


def test_exercise2_depth_one_is_the_embedded_metric(solutions):
    assert solutions["ex2_inner_error"] < 1e-13
    assert solutions["ex2_gradient_error"] < 1e-13
    assert solutions["ex2_depth3_gradient_difference"] > 0.1


def test_exercise3_aligned_depth_two_flow_matches_the_closed_form(solutions):
    assert solutions["ex3_error"] < 1e-8
    # the solution must actually have moved: the flow ran to a visible change
    sv = solutions["flow"].singular_values
    assert abs(sv[-1] - sv[0]).max() > 1.0


def test_exercise4_gradient_check_accepts_the_right_and_rejects_the_wrong_gradient(solutions):
    assert solutions["right"].passed and abs(solutions["ex4_slope_right"] - 2) < 0.1
    assert solutions["auto"].passed and abs(solutions["ex4_slope_autograd"] - 2) < 0.1
    assert not solutions["wrong"].passed and abs(solutions["ex4_slope_wrong"] - 1) < 0.2


def test_exercise5_layer_flow_conserves_balance_and_rank(solutions):
    res = solutions["res"]
    assert res.success
    assert solutions["ex5_max_drift"] < 1e-9
    assert solutions["ex5_min_sigma_k"] > 0.1
    assert solutions["ex5_max_sigma_k1"] < 1e-12
    assert solutions["ex5_max_loss_increase"] <= 1e-10 * res.loss[0]
    assert res.loss[-1] < 0.99 * res.loss[0]
