"""Seeded parameter sweeps with resumable results, on one core, many, or a Dask cluster.

A sweep (a TOML file or a dict, :func:`load_sweep`) crosses a grid of parameters with a
number of seeds; each run is one of the registered kinds (:data:`KINDS`: descent on the
layers, Riemannian descent, the two flows side by side) and is reproducible from its
parameters and seed alone. :func:`run_sweep` appends each record to a CSV file as soon
as the run finishes (``resume`` skips what is done); :func:`report` turns the table into
plots and a text summary. The command line is ``riemlin sweep`` and ``riemlin report``;
the guide chapter *Experiments at scale* walks through both.
"""

from riemlin.experiments import claims  # noqa: F401  (registers the kinds of the claims)
from riemlin.experiments.kinds import KINDS, Param, RunKind, draw_problem, register_kind
from riemlin.experiments.report import report, summarize
from riemlin.experiments.results import Results, ResultsError, read_results
from riemlin.experiments.runner import SweepSummary, run_sweep
from riemlin.experiments.spec import Run, Sweep, SweepError, load_sweep, run_seed

__all__ = [
    "KINDS",
    "Param",
    "Results",
    "ResultsError",
    "Run",
    "RunKind",
    "Sweep",
    "SweepError",
    "SweepSummary",
    "draw_problem",
    "load_sweep",
    "read_results",
    "register_kind",
    "report",
    "run_seed",
    "run_sweep",
    "summarize",
]
