"""The stepping loop's rules: breakdowns end as statuses, trial stages of explicit methods."""

import numpy as np
from scipy.integrate import DOP853, RK45

from riemlin.dynamics.stepping import DIVERGED, SUCCESS, guarded, march


def _run(fun, solver=DOP853, *, reject_trials, first_step=1.0, y0=1.0):
    """Step y' = fun(t, y) over [0, 1] through march; return status, message, path."""
    guard = guarded(fun, reject_trials=reject_trials)
    path = []

    def make_solver():
        return solver(
            guard, 0.0, np.array([y0]), 1.0, rtol=1e-10, atol=1e-14, first_step=first_step
        )

    status, message = march(
        make_solver, np.array([0.0, 1.0]), lambda t, y: path.append(y[0]), trial_guard=guard
    )
    return status, message, path, guard


def _decay_inside(t, y):
    # y' = -100 y, undefined (nan) outside |y| <= 2: a first step h = 1 puts the stages
    # of an explicit method at y ~ -100 h, far outside, while the solution stays in (0, 1]
    return np.where(np.abs(y) <= 2.0, -100.0 * y, np.nan)


def test_an_overflowing_trial_stage_rejects_the_step_of_an_explicit_method():
    for solver in (DOP853, RK45):
        outside = []

        def fun(t, y, outside=outside):
            dy = _decay_inside(t, y)
            outside.append(not np.all(np.isfinite(dy)))
            return dy

        status, message, path, guard = _run(fun, solver, reject_trials=True)
        assert status == SUCCESS, message
        assert any(outside)  # the first trial stages did leave the domain
        # the step-size control still meets the tolerance: e^{-100} to rtol 1e-10 and
        # atol 1e-14 gives an absolute error below 1e-13 at t = 1
        assert abs(path[-1] - np.exp(-100.0)) < 1e-13


def test_without_trial_rejection_the_same_stage_ends_the_run():
    status, message, path, _ = _run(_decay_inside, reject_trials=False)
    assert status == DIVERGED and "non-finite right-hand side" in message and path == []


def test_a_right_hand_side_that_is_never_finite_after_the_start_ends_with_divergence():
    calls = []

    def only_the_start(t, y):
        calls.append(t)
        return -y if len(calls) == 1 else np.full_like(y, np.nan)

    status, message, path, guard = _run(only_the_start, reject_trials=True)
    assert status == DIVERGED and "not finite at trial steps" in message
    # every rejection divides the step by 5: from h = 1 to the floor 10 ulp(0) takes
    # log_5(1 / 5e-323) ~ 460 rejections of at most 12 stages
    assert len(calls) < 12 * 500 and path == []


def test_a_non_finite_start_still_ends_at_once():
    calls = []

    def never(t, y):
        calls.append(t)
        return np.full_like(y, np.inf)

    status, message, _, _ = _run(never, reject_trials=True)
    assert status == DIVERGED and "non-finite right-hand side" in message and len(calls) == 1


def test_a_non_finite_dense_output_ends_with_divergence_not_a_nan_record():
    # DOP853's dense output evaluates three extra stages; with lenient trials a nan met
    # only there (here in a thin band around t = 0.1, after the step's own stages) must
    # not be recorded as a state
    calls = []

    def nan_near_a_tenth(t, y):
        calls.append(t)
        if 0.0999999 < t < 0.1000001 and len(calls) > 2:
            return np.full_like(y, np.nan)
        return -y

    guard = guarded(nan_near_a_tenth, reject_trials=True)
    path = []

    def make_solver():
        return DOP853(
            guard, 0.0, np.array([1.0]), 1.0, rtol=1e3, atol=1e3, first_step=1.0, max_step=1.0
        )

    status, message = march(
        make_solver, np.array([0.0, 0.5, 1.0]), lambda t, y: path.append(y[0]), trial_guard=guard
    )
    assert any(0.0999999 < t < 0.1000001 for t in calls)  # the band was hit
    assert status == DIVERGED and "interpolation" in message
    assert not any(np.isnan(path))
