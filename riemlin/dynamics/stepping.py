"""One stepping loop for every flow: breakdowns end as a status, never as an exception.

:func:`march` drives a ``scipy.integrate`` ``OdeSolver`` over the output times and turns
every numerical breakdown into a status code and a message:

* ``-2`` (divergence): a non-finite time, state or right-hand side (checked at every
  evaluation by :func:`guarded`, so a ``nan`` never reaches the step-size control, where
  it would make scipy's step loop run forever), or a run-specific test in
  ``after_step`` (an exploding loss);
* ``-1`` (integrator failure): the solver's own step-size floor (a step below ten ulps of
  ``t``), or steps so small that reaching the end at their mean size over the last
  :data:`WINDOW` steps would take more than :data:`MAX_STEPS` further steps (an extreme
  scale, or a span far longer than the problem's time scale: an explicit method then
  crawls at its stability limit);
* ``-3`` (loss of rank): a ``LinAlgError`` in the right-hand side (a decomposition of a
  rank-deficient factor), or a rank test in ``after_step``.

The guards are wall-clock free: every evaluation either returns finite numbers or ends
the run, and every window of :data:`WINDOW` steps either advances ``t`` by at least
``WINDOW * (t_end - t) / MAX_STEPS`` or ends it.
"""

from __future__ import annotations

import numpy as np

from riemlin.dynamics.result import Status

__all__ = ["march", "guarded", "Breakdown", "MAX_STEPS", "WINDOW"]

SUCCESS, FAILED, DIVERGED, RANK_LOST = (
    Status.SUCCESS,
    Status.INTEGRATOR_FAILED,
    Status.DIVERGED,
    Status.RANK_LOST,
)

#: A run whose last :data:`WINDOW` steps were so short on average that more than this
#: many such steps would remain ends with status ``-1``.
MAX_STEPS = 10**7
#: Steps per window of that test (startup transients, such as LSODA's first tiny steps,
#: average out within a window).
WINDOW = 1000


class Breakdown(Exception):
    """A numerical breakdown inside a run: ends it with ``status`` and ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def guarded(fun):
    """``fun(t, y)`` that raises :class:`Breakdown` (status ``-2``) on non-finite numbers."""

    def rhs(t, y):
        if not np.isfinite(t) or not np.all(np.isfinite(y)):
            raise Breakdown(DIVERGED, f"divergence at t={t:.6g}: non-finite state")
        dy = fun(t, y)
        if not np.all(np.isfinite(dy)):
            raise Breakdown(DIVERGED, f"divergence at t={t:.6g}: non-finite right-hand side")
        return dy

    return rhs


def march(make_solver, t: np.ndarray, record, after_step=None, *, linalg_status=RANK_LOST):
    """Step the solver from ``make_solver()`` to ``t[-1]``, recording the state at ``t[1:]``.

    Parameters
    ----------
    make_solver : callable
        Builds the ``OdeSolver`` (its first right-hand side evaluation happens here, so a
        breakdown at the start is caught too).
    t : ndarray
        Output times; ``t[0]`` is the start (recorded by the caller).
    record : callable
        ``record(t_i, y_i)`` at each output time (dense output between steps); may raise
        :class:`Breakdown`.
    after_step : callable, optional
        ``after_step(t, y)`` after each accepted step; may raise :class:`Breakdown`.
    linalg_status : int, default -3
        Status for a ``numpy.linalg.LinAlgError`` raised by the right-hand side.

    Returns
    -------
    status : int
    message : str
    """
    now = float(t[0])
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            solver = make_solver()
            nxt, steps, window_start = 1, 0, now
            while nxt < t.size:
                msg = solver.step()
                now = float(solver.t)
                if solver.status == "failed":
                    return FAILED, f"integrator failed at t={now:.6g}: {msg}"
                if not np.all(np.isfinite(solver.y)):
                    return DIVERGED, f"divergence at t={now:.6g}: non-finite state"
                if after_step is not None:
                    after_step(now, solver.y)
                steps += 1
                if steps % WINDOW == 0:
                    mean = (now - window_start) / WINDOW
                    remaining = float(t[-1]) - now
                    if remaining > 0 and not mean * MAX_STEPS >= remaining:
                        return FAILED, (
                            f"integrator failed at t={now:.6g}: at the mean step size of the "
                            f"last {WINDOW} steps, {mean:.3g}, reaching t={t[-1]:.6g} would take "
                            f"more than {MAX_STEPS:.0e} steps (extreme scales, or a span far "
                            "longer than the problem's time scale)"
                        )
                    window_start = now
                if t[nxt] <= now:
                    dense = solver.dense_output()
                    while nxt < t.size and t[nxt] <= now:
                        record(t[nxt], solver.y if t[nxt] == now else dense(t[nxt]))
                        nxt += 1
    except Breakdown as exc:
        return exc.status, str(exc)
    except np.linalg.LinAlgError as exc:
        what = "loss of rank" if linalg_status == RANK_LOST else "breakdown"
        return linalg_status, f"{what} at t={now:.6g}: {exc}"
    except (FloatingPointError, ZeroDivisionError, OverflowError) as exc:
        return DIVERGED, f"divergence at t={now:.6g}: {exc}"
    except ValueError as exc:
        # scipy.linalg refusing an overflowed Newton matrix inside an implicit method
        if "infs or NaNs" not in str(exc):
            raise
        return DIVERGED, f"divergence at t={now:.6g}: {exc}"
    return SUCCESS, "The flow reached the end of t_eval."
