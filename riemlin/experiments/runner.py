"""The driver: expand a sweep, skip what is done, run the rest, append each record."""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from riemlin.experiments import backends
from riemlin.experiments.kinds import KINDS
from riemlin.experiments.results import ResultsError, ResultsWriter, read_results
from riemlin.experiments.spec import Sweep, SweepError, load_sweep

__all__ = ["SweepSummary", "run_sweep"]


@dataclass
class SweepSummary:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    results : pathlib.Path
        The results file.
    total : int
        Runs in the sweep.
    skipped : int
        Runs already in the file (``resume``).
    recorded : int
        Records written by this call.
    failures : int
        Of those, records with a non-zero status (divergence, rank loss, exception).
    lost : int
        Runs whose worker died; not recorded, done by the next ``resume``.
    seconds : float
        Wall-clock time of this call.
    backend : str
        The back end that ran them: ``"serial"``, ``"joblib"`` or ``"dask"``.
    """

    results: Path
    total: int
    skipped: int
    recorded: int
    failures: int
    lost: int
    seconds: float
    backend: str

    @property
    def complete(self) -> bool:
        """Whether every run of the sweep now has a record."""
        return self.skipped + self.recorded == self.total

    @property
    def runs_per_second(self) -> float:
        """Throughput of this call."""
        return self.recorded / self.seconds if self.seconds > 0 else float("nan")

    def text(self) -> str:
        """One line for the terminal.

        Returns
        -------
        str
            Runs recorded and failed, time, back end and throughput, runs skipped and
            lost, and whether the sweep is complete.
        """
        line = (
            f"{self.recorded} runs recorded ({self.failures} failures) in {self.seconds:.1f} s "
            f"with {self.backend} ({self.runs_per_second:.2f} runs/s); {self.skipped} were "
            f"already done; results in {self.results}"
        )
        if self.lost:
            line += f"; {self.lost} runs lost to dead workers: rerun with --resume"
        return line


@contextlib.contextmanager
def _dask_client(client, scheduler, local_cluster):
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            c = Client(scheduler, timeout=10)
        except (OSError, TimeoutError) as exc:
            raise SweepError(
                f"scheduler: cannot reach the Dask scheduler at {scheduler!r}: {exc}"
            ) from None
        with c:
            yield c
        return
    import logging

    with (
        LocalCluster(
            n_workers=local_cluster,
            threads_per_worker=1,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def _check_backend(backend, jobs, scheduler, local_cluster, client):
    if backend not in backends.BACKENDS:
        raise ValueError(f"backend must be one of {backends.BACKENDS}; got {backend!r}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs == 0):
        raise ValueError(f"jobs must be a non-zero int (-1: all cores); got {jobs!r}")
    given = [n for n, v in (("scheduler", scheduler), ("local_cluster", local_cluster)) if v]
    if client is not None:
        given.append("client")
    if backend != "dask" and given:
        raise ValueError(f"{given[0]} needs backend='dask'; got backend={backend!r}")
    if backend == "dask" and len(given) != 1:
        raise ValueError(
            "backend 'dask' needs exactly one of scheduler (an address), local_cluster (a "
            f"number of workers) or client; got {given or 'none'}"
        )
    if local_cluster is not None and (not isinstance(local_cluster, int) or local_cluster < 1):
        raise ValueError(f"local_cluster must be a positive int; got {local_cluster!r}")


def run_sweep(
    sweep,
    results,
    *,
    resume: bool = False,
    backend: str = "serial",
    jobs: int | None = None,
    scheduler: str | None = None,
    local_cluster: int | None = None,
    client=None,
    progress: bool | None = None,
    on_record=None,
) -> SweepSummary:
    """Run a sweep, appending one record per finished run to ``results``.

    Parameters
    ----------
    sweep : Sweep, dict or path
        The declaration (see :func:`load_sweep`).
    results : path-like
        The CSV results file. It must not exist unless ``resume``.
    resume : bool, default False
        Continue an existing file: its runs are skipped, the others appended.
    backend : {"serial", "joblib", "dask"}
        Where the runs execute (the driver writes in every case).
    jobs : int, optional
        Number of joblib worker processes (default: all cores; ``-1`` too).
    scheduler : str, optional
        Address of a running Dask scheduler (``backend="dask"``).
    local_cluster : int, optional
        Start a ``distributed.LocalCluster`` with this many single-threaded workers.
    client : distributed.Client, optional
        Use this client's cluster (tests and notebooks share one).
    progress : bool, optional
        Show a tqdm bar (runs done, failures, time left); default: when stderr is a
        terminal.
    on_record : callable, optional
        Called as ``on_record(run, record)`` after each record is on disk.

    Returns
    -------
    SweepSummary
        Counts of runs skipped, recorded, failed and lost, the time taken and the back
        end.

    Raises
    ------
    SweepError
        For a bad declaration (the message names the key).
    ResultsError
        If ``results`` exists without ``resume``, or is corrupted, truncated or from
        another sweep (the file is not modified).
    ValueError
        For inconsistent back-end arguments.
    """
    _check_backend(backend, jobs, scheduler, local_cluster, client)
    sweep = sweep if isinstance(sweep, Sweep) else load_sweep(sweep)
    path = Path(results)
    from riemlin import __version__

    runs = sweep.runs()
    done = set()
    exists = path.exists()
    if exists and not resume:
        raise ResultsError(
            f"results file {path} already exists; pass --resume (resume=True) to continue it, "
            "or choose another path"
        )
    if exists:
        done = read_results(path, sweep.columns).run_ids
        unknown = done - {r.run_id for r in runs}
        if unknown:
            raise ResultsError(
                f"results file {path} has {len(unknown)} records of runs that are not in this "
                "sweep (was the sweep file changed?); choose another results path"
            )
    todo = [r for r in runs if r.run_id not in done]
    by_id = {r.run_id: r for r in todo}
    tasks = ((r.run_id, KINDS[r.kind].function, r.params, r.seed) for r in todo)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    from tqdm import tqdm

    recorded = failures = lost = 0
    written = set()
    start = time.perf_counter()
    with ResultsWriter(path, sweep.columns, create=not exists) as writer:
        bar = tqdm(total=len(todo), desc=sweep.name, unit="run", disable=not show)
        with bar, contextlib.ExitStack() as stack:
            if backend == "serial":
                stream = backends.serial(tasks)
            elif backend == "joblib":
                stream = backends.joblib_processes(tasks, -1 if jobs is None else jobs)
            else:
                c = stack.enter_context(_dask_client(client, scheduler, local_cluster))
                stream = backends.dask_cluster(tasks, c)
            for item in stream:
                if isinstance(item, backends.Lost):
                    lost += 1
                    bar.set_postfix(failures=failures, lost=lost, refresh=False)
                    continue
                run_id, record = item
                if run_id in written or run_id not in by_id:
                    continue  # a second copy of a run: never a second record
                run = by_id[run_id]
                row = {
                    "run_id": run_id,
                    "sweep": sweep.name,
                    "kind": run.kind,
                    "replicate": run.replicate,
                    "sweep_seed": sweep.seed,
                    "riemlin_version": __version__,
                    **run.params,
                    **{k: record.get(k, float("nan")) for k in sweep.record},
                    "status": record["status"],
                    "message": record["message"],
                    "runtime": record["runtime"],
                }
                writer.append(row)
                written.add(run_id)
                recorded += 1
                failures += record["status"] != 0
                bar.set_postfix(failures=failures, refresh=False)
                bar.update(1)
                if on_record is not None:
                    on_record(run, row)
    return SweepSummary(
        path,
        len(runs),
        len(runs) - len(todo),
        recorded,
        failures,
        lost,
        time.perf_counter() - start,
        backend,
    )
