"""Where the runs execute: in the driver, in joblib worker processes, or on a Dask cluster.

Every back end maps :func:`execute` over the tasks and yields ``(run_id, record)`` pairs
in the order the runs finish; only the driver (the caller) writes them. A run that
raises is not a back-end failure: :func:`execute` turns the exception into a record. A
run that never comes back because its worker died is yielded as :class:`Lost` (Dask
retries such a task on another worker first, up to its ``allowed-failures``).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

from riemlin.experiments.kinds import EXCEPTION

__all__ = ["execute", "Lost", "serial", "joblib_processes", "dask_cluster"]

BACKENDS = ("serial", "joblib", "dask")


@dataclass(frozen=True)
class Lost:
    """A run whose worker died before returning it (nothing is recorded for it).

    Attributes
    ----------
    run_id : str
        The run that was lost.
    message : str
        Why: the worker's or the cluster's error, shortened.
    """

    run_id: str
    message: str


def execute(task):
    """Run one task ``(run_id, function, params, seed)``; never raises.

    Parameters
    ----------
    task : tuple
        ``(run_id, function, params, seed)``: the run's id, the kind's function, its
        parameters (a dict) and its seed; ``function(params, seed)`` returns the record.

    Returns
    -------
    tuple
        ``(run_id, record)`` where ``record`` holds the kind's measures, ``status``,
        ``message`` and ``runtime`` (seconds). An exception gives status ``-4`` and
        the message ``"ExceptionType: text (file:line)"``.
    """
    run_id, function, params, seed = task
    start = time.perf_counter()
    try:
        record = dict(function(params, seed))
    except Exception as exc:  # a failing run is a result, never the end of the sweep
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
        record = {"status": EXCEPTION, "message": f"{type(exc).__name__}: {exc} ({where})"}
    record["runtime"] = time.perf_counter() - start
    return run_id, record


def serial(tasks):
    """Run the tasks one after the other in this process.

    Parameters
    ----------
    tasks : iterable of tuple
        Tasks ``(run_id, function, params, seed)`` as :func:`execute` takes them.

    Yields
    ------
    tuple or Lost
        ``(run_id, record)`` from :func:`execute` for each run, in the order the runs
        finish.
    """
    for task in tasks:
        yield execute(task)


def joblib_processes(tasks, jobs: int):
    """Run the tasks in ``jobs`` joblib (loky) worker processes.

    A worker that dies ends the whole batch (joblib cannot recover it): the runs still
    in flight are yielded as :class:`Lost` and can be done later with ``--resume``.

    Parameters
    ----------
    tasks : iterable of tuple
        Tasks ``(run_id, function, params, seed)`` as :func:`execute` takes them.
    jobs : int
        Number of worker processes (joblib's ``n_jobs``).

    Yields
    ------
    tuple or Lost
        ``(run_id, record)`` from :func:`execute` for each run, in the order the runs
        finish; after a worker died, a :class:`Lost` for each run not yet done.
    """
    from joblib import Parallel, delayed
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    tasks = list(tasks)
    done = set()
    parallel = Parallel(n_jobs=jobs, return_as="generator_unordered")
    try:
        for run_id, record in parallel(delayed(execute)(t) for t in tasks):
            done.add(run_id)
            yield run_id, record
    except TerminatedWorkerError as exc:
        reason = " ".join(str(exc).split())[:200]
        for task in tasks:
            if task[0] not in done:
                yield Lost(task[0], f"a joblib worker died: {reason}")


def dask_cluster(tasks, client, window: int | None = None):
    """Run the tasks on the Dask cluster of ``client``.

    At most ``window`` tasks (default: twice the worker threads, at least 4) are in
    flight; each is submitted under the key ``riemlin-<run_id>``, so the scheduler never
    holds two copies of a run. Tasks of a worker that dies are rescheduled by Dask; one
    that keeps killing workers (``KilledWorker``) is yielded as :class:`Lost`.

    Parameters
    ----------
    tasks : iterable of tuple
        Tasks ``(run_id, function, params, seed)`` as :func:`execute` takes them.
    client : distributed.Client
        A client connected to the cluster.
    window : int, optional
        Most tasks in flight at once.

    Yields
    ------
    tuple or Lost
        ``(run_id, record)`` from :func:`execute` for each run, in the order the runs
        finish; a :class:`Lost` for a run the cluster could not complete.
    """
    from distributed import as_completed

    tasks = iter(tasks)
    if window is None:
        window = max(4, 2 * sum(client.nthreads().values()))
    pending = as_completed()
    for task in tasks:
        pending.add(client.submit(execute, task, key=f"riemlin-{task[0]}", retries=0))
        if pending.count() >= window:
            break
    for future in pending:
        run_id = future.key.removeprefix("riemlin-")
        try:
            got = future.result()
        except Exception as exc:  # the run itself never raises: this is the cluster
            got = Lost(run_id, f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
        future.release()
        nxt = next(tasks, None)
        if nxt is not None:
            pending.add(client.submit(execute, nxt, key=f"riemlin-{nxt[0]}", retries=0))
        yield got
