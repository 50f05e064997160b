r"""One stepping loop for every flow: breakdowns end as a status, never as an exception.

:func:`march` drives a ``scipy.integrate`` ``OdeSolver`` over the output times and turns
every numerical breakdown into a status code and a message:

* ``-2`` (divergence): a non-finite time, state or right-hand side (checked at every
  evaluation by :func:`guarded`, so a ``nan`` never reaches the step-size control of an
  implicit solver, whose Newton iteration and error test are not built for it), or a
  run-specific test in ``after_step`` (an exploding loss). For the explicit Runge–Kutta
  solvers (``guarded(fun, reject_trials=True)``) a non-finite value at a *trial* stage
  is not a breakdown: a step far beyond the stability limit (scipy's first step guess
  on a stiff problem, for instance) can overflow inside its stages while the accepted
  states stay finite. The stage is returned as ``nan``, the solver's error estimate is
  then ``nan`` and the step is rejected with the step size divided by 5; only a run
  whose trials stay non-finite down to the solver's smallest step ends, with ``-2``;
* ``-1`` (integrator failure): the solver's own step-size floor (a step below ten ulps of
  ``t``), or steps so small that reaching the end at their mean size over the last
  :data:`WINDOW` steps would take more than :data:`MAX_STEPS` further steps (an extreme
  scale, or a span far longer than the problem's time scale: an explicit method then
  crawls at its stability limit);
* ``-3`` (loss of rank): a ``LinAlgError`` in the right-hand side (a decomposition of a
  rank-deficient factor), or a rank test in ``after_step``.

The guards are wall-clock free: every evaluation either returns finite numbers, ends
the run, or (explicit solvers) rejects a trial step and divides the step size by 5, so
at most :math:`\log_5(h / h_{\min})` non-finite trials precede the end of a run at the
step-size floor; and every window of :data:`WINDOW` steps either advances ``t`` by at
least ``WINDOW * (t_end - t) / MAX_STEPS`` or ends it.
"""

from __future__ import annotations

import numpy as np

from riemlin.dynamics.result import Status

__all__ = ["march", "guarded", "Guard", "Breakdown", "MAX_STEPS", "WINDOW"]

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
    """A numerical breakdown inside a run: ends it with ``status`` and ``message``.

    Parameters
    ----------
    status : int
        The run's status code (a :class:`~riemlin.dynamics.result.Status` value).
    message : str
        What broke down, and where.
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Guard:
    """A right-hand side (or Jacobian) ``fun(t, y)`` that checks its numbers; see :func:`guarded`.

    Parameters
    ----------
    fun : callable
        ``fun(t, y) -> ndarray``.
    reject_trials : bool, default False
        See :func:`guarded`.

    Attributes
    ----------
    rejected : bool
        Whether a trial was rejected since :func:`march` last cleared it (at every
        accepted step).
    """

    def __init__(self, fun, *, reject_trials: bool = False):
        self.fun = fun
        self.reject_trials = bool(reject_trials)
        self.started = False
        self.rejected = False

    def __call__(self, t, y):
        lenient = self.reject_trials and self.started
        self.started = True
        if not np.isfinite(t) or not np.all(np.isfinite(y)):
            if lenient:
                return self._reject(y)
            raise Breakdown(DIVERGED, f"divergence at t={t:.6g}: non-finite state")
        dy = self.fun(t, y)
        if not np.all(np.isfinite(dy)):
            if lenient:
                return self._reject(y)
            raise Breakdown(DIVERGED, f"divergence at t={t:.6g}: non-finite right-hand side")
        return dy

    def _reject(self, y):
        self.rejected = True
        return np.full(np.shape(y), np.nan)


def guarded(fun, *, reject_trials: bool = False) -> Guard:
    """``fun(t, y)`` that raises :class:`Breakdown` (status ``-2``) on non-finite numbers.

    Parameters
    ----------
    fun : callable
        ``fun(t, y) -> ndarray``, the right-hand side (or a Jacobian).
    reject_trials : bool, default False
        For explicit Runge–Kutta solvers only. After the first evaluation (the solver's
        evaluation at the start, which still raises), a non-finite state or value is
        returned as an array of ``nan``: the solver's error estimate is then ``nan`` and
        it rejects the trial step and divides the step size by 5. :attr:`Guard.rejected`
        records it; :func:`march` (given the guard as ``trial_guard``) clears it at every
        accepted step and reports a run that fails at the step-size floor with it set as
        a divergence.

    Returns
    -------
    Guard
        The guarded ``fun(t, y)``.
    """
    return Guard(fun, reject_trials=reject_trials)


def march(
    make_solver,
    t: np.ndarray,
    record,
    after_step=None,
    *,
    linalg_status=RANK_LOST,
    trial_guard: Guard | None = None,
):
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
    trial_guard : Guard, optional
        The right-hand side's guard when it was built with ``reject_trials=True``: a
        solver failure while its last trials were non-finite is reported as ``-2``.

    Returns
    -------
    status : int
        One of the :class:`~riemlin.dynamics.result.Status` codes: ``0`` at the end of
        ``t``, ``-1`` when the integrator fails or would need more than :data:`MAX_STEPS`
        steps, ``-2`` on divergence, ``linalg_status`` on a ``LinAlgError``, or the status
        of a :class:`Breakdown` raised by a callback.
    message : str
        What happened, with the time reached.

    Raises
    ------
    ValueError
        Re-raised from the right-hand side or the solver, except scipy's refusal of a
        non-finite Newton matrix (an overflow inside an implicit method), which ends the
        run with status ``-2``.
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
                    if trial_guard is not None and trial_guard.rejected:
                        return DIVERGED, (
                            f"divergence at t={now:.6g}: the right-hand side was not finite "
                            f"at trial steps, and the integrator could not go on ({msg})"
                        )
                    return FAILED, f"integrator failed at t={now:.6g}: {msg}"
                if trial_guard is not None:
                    trial_guard.rejected = False
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
                        y = solver.y if t[nxt] == now else dense(t[nxt])
                        if not np.all(np.isfinite(y)):
                            # the dense output's extra stages (DOP853) met a non-finite
                            # right-hand side that the accepted step did not
                            return DIVERGED, (
                                f"divergence at t={t[nxt]:.6g}: non-finite state in the "
                                "interpolation between steps"
                            )
                        record(t[nxt], y)
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
