"""The ``riemlin`` command line: ``verify`` (the main job), ``demo``, ``sweep`` and ``report``."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

import riemlin

#: Output times of ``riemlin verify`` (both runs keep their state at each).
_VERIFY_TIMES = 41


class UsageError(ValueError):
    """A bad command-line argument, found before any work is done (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="riemlin",
        description="Riemannian optimization on fixed-rank matrices with the deep-linear metric.",
    )
    parser.add_argument("--version", action="version", version=f"riemlin {riemlin.__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    verify = sub.add_parser(
        "verify",
        help="check the equivalence theorem on a seeded problem (layer flow vs Riemannian flow)",
        description=(
            "Build a seeded regression problem, start balanced layers at a random rank-k "
            "matrix, integrate the gradient flow of the layers and the Riemannian gradient "
            "flow on M_k, and compare the two curves (Bah et al., arXiv:1910.05505). "
            "Exits 0 on PASS, 1 on FAIL, 2 on bad arguments."
        ),
    )
    verify.add_argument("--m", type=int, default=5, help="output dimension d_N (default 5)")
    verify.add_argument("--n", type=int, default=4, help="input dimension d_0 (default 4)")
    verify.add_argument("--k", type=int, default=2, help="rank of the start (default 2)")
    verify.add_argument("--depth", type=int, default=3, help="number of layers N (default 3)")
    verify.add_argument(
        "--widths",
        type=str,
        default=None,
        help="comma-separated d_0,...,d_N (overrides --m, --n, --depth); default hidden "
        "widths max(m, n)",
    )
    verify.add_argument("--samples", type=int, default=20, help="number of samples (default 20)")
    verify.add_argument("--seed", type=int, default=0, help="seed of the problem (default 0)")
    verify.add_argument("--t-end", type=float, default=40.0, help="end time (default 40)")
    verify.add_argument(
        "--rtol", type=float, default=1e-10, help="integrator tolerance (default 1e-10)"
    )
    verify.add_argument(
        "--tol",
        type=float,
        default=1e-6,
        help="PASS when the max relative mismatch is below this (default 1e-6)",
    )
    verify.add_argument(
        "--formulation",
        choices=("manifold", "dense"),
        default="manifold",
        help="coordinates of the Riemannian flow (factored or the dense matrix)",
    )
    verify.add_argument("--json", action="store_true", help="print one JSON object only")
    verify.add_argument(
        "--plot",
        default="riemlin-verify.png",
        metavar="PATH",
        help="where to write the figure (default riemlin-verify.png; '' for none)",
    )

    sweep = sub.add_parser(
        "sweep",
        help="run a seeded parameter sweep declared in a TOML file",
        description=(
            "Run every (grid point, seed, kind) of the sweep and append one CSV record per "
            "finished run. Exits 0 when every run has a record (failed runs are records), "
            "1 when runs were lost to dead workers or interrupted (rerun with --resume), "
            "2 on bad arguments, a bad sweep file or a corrupted results file."
        ),
    )
    sweep.add_argument("sweep_file", metavar="SWEEP.toml", help="the sweep declaration")
    sweep.add_argument(
        "--results", metavar="PATH", help="results CSV (default: <sweep file stem>.csv)"
    )
    sweep.add_argument("--resume", action="store_true", help="continue an existing results file")
    sweep.add_argument(
        "--backend",
        choices=("serial", "joblib", "dask"),
        default=None,
        help="where runs execute (default serial; dask with --scheduler/--local-cluster)",
    )
    sweep.add_argument("--jobs", type=int, default=None, help="joblib processes (default: all)")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="address of a Dask scheduler")
    where.add_argument(
        "--local-cluster", type=int, metavar="N", help="start a local Dask cluster of N workers"
    )
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")

    report = sub.add_parser("report", help="plots and a text summary of a sweep's results")
    report.add_argument("results", metavar="RESULTS", help="results CSV of riemlin sweep")
    report.add_argument(
        "--out", metavar="DIR", help="output directory (default: <results stem>-report)"
    )

    demo = sub.add_parser("demo", help="solve a seeded low-rank approximation on M_k")
    demo.add_argument("--m", type=int, default=30)
    demo.add_argument("--n", type=int, default=20)
    demo.add_argument("--k", type=int, default=3)
    demo.add_argument("--depth", type=int, default=3)
    demo.add_argument("--seed", type=int, default=0)
    return parser


def _widths(args) -> tuple[int, ...]:
    if args.widths is not None:
        try:
            ws = tuple(int(w) for w in args.widths.split(","))
        except ValueError:
            raise UsageError(
                f"--widths must be comma-separated integers d_0,...,d_N; got {args.widths!r}"
            ) from None
        if len(ws) < 2:
            raise UsageError(f"--widths needs at least d_0 and d_1; got {args.widths!r}")
        if min(ws) < 1:
            raise UsageError(f"--widths must be positive integers; got {args.widths!r}")
        return ws
    for name in ("m", "n", "depth"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be >= 1; got {getattr(args, name)}")
    hidden = max(args.m, args.n)
    return (args.n,) + (hidden,) * (args.depth - 1) + (args.m,)


def _memory_budget() -> int:
    """Half of the machine's physical memory in bytes (8 GiB if it cannot be read)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        total = 16 * 2**30
    return int(total) // 2


def _check_memory(command: str, needed: float, what: str, allowed: str) -> None:
    budget = _memory_budget()
    if needed > budget:
        raise UsageError(
            f"{what} need about {needed / 2**30:.3g} GiB of memory, more than half of this "
            f"machine's {2 * budget / 2**30:.3g} GiB; allowed: {allowed}"
        )


def _probe_directory(directory: Path, option: str) -> None:
    """The directory exists and a file can be created in it (even as root on a read-only
    file system, where ``os.access`` would say yes)."""
    if not directory.exists():
        raise UsageError(f"{option}: the directory {directory} does not exist")
    if not directory.is_dir():
        raise UsageError(f"{option}: {directory} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise UsageError(f"{option}: cannot write in {directory}: {exc.strerror}") from None


def _check_output_file(path, option: str) -> None:
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option}: {path} is a directory; give a file path")
    _probe_directory(path.parent if str(path.parent) else Path("."), option)


def _check_input_file(path, what: str) -> None:
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{what} {path}: no such file")
    if not path.is_file():
        raise UsageError(f"{what} {path} is not a file (a directory?)")


def _check_verify(args) -> tuple[int, ...]:
    ws = _widths(args)
    n, m, depth = ws[0], ws[-1], len(ws) - 1
    if args.k < 1 or args.k > min(ws):
        raise UsageError(f"--k must be between 1 and the narrowest width {min(ws)}; got {args.k}")
    if depth == 1 and args.k < min(m, n):
        raise UsageError(
            f"--depth 1 with --k {args.k} < min(m, n) = {min(m, n)}: with one layer the layer "
            "flow is the Euclidean gradient flow on all m x n matrices, which leaves M_k at "
            "once (at depth 1 the operator A_W is the identity and keeps the part of the "
            "gradient normal to M_k, which A_W removes for depth >= 2), so the equivalence "
            f"theorem needs depth >= 2 there; use --depth >= 2, or --k {min(m, n)} (M_k is "
            "then open and the two flows coincide)"
        )
    if args.samples < n:
        raise UsageError(f"--samples must be >= d_0 = {n} so that X X^T is invertible")
    if not (math.isfinite(args.t_end) and args.t_end > 0):
        raise UsageError(f"--t-end must be a positive finite number; got {args.t_end}")
    if not 0 < args.rtol < 1:
        raise UsageError(f"--rtol must be in (0, 1); got {args.rtol}")
    if not (math.isfinite(args.tol) and args.tol > 0):
        raise UsageError(f"--tol must be a positive finite number; got {args.tol}")
    params = sum(a * b for a, b in zip(ws[:-1], ws[1:]))
    # both runs keep their state at every output time (the layers, and m x n matrices
    # for the two products and their differences); DOP853 holds ~25 more states
    needed = 8.0 * ((_VERIFY_TIMES + 30) * params + 170 * m * n + (m + n) * args.samples)
    side = math.isqrt(max(1, int(_memory_budget() / (8 * (71 * depth + 170)))))
    _check_memory(
        "verify",
        needed,
        f"widths {ws} ({params:.3g} layer parameters)",
        f"71 P + 170 m n + (m + n) samples <= {_memory_budget() / 8:.3g} numbers (P the "
        f"layer parameters), e.g. m = n <= {side} at depth {depth} with the default widths",
    )
    if args.plot:
        from matplotlib.backend_bases import FigureCanvasBase

        _check_output_file(args.plot, "--plot")
        suffix = Path(args.plot).suffix.lstrip(".").lower()
        kinds = FigureCanvasBase.get_supported_filetypes()
        if suffix and suffix not in kinds:
            raise UsageError(
                f"--plot {args.plot}: matplotlib cannot write .{suffix} files; use one of "
                f"{', '.join(sorted(kinds))}"
            )
    return ws


def _verify(args) -> int:
    from riemlin.dynamics.equivalence import compare_flows
    from riemlin.losses import random_regression

    ws = _check_verify(args)
    n, m = ws[0], ws[-1]
    rng = np.random.default_rng(args.seed)
    # the sweeps' problem; the start is small (entries of size 0.5 / sqrt(n)), so the flows
    # travel from near the origin to the optimum over the time span
    loss, W0 = random_regression(m, n, args.k, args.samples, rng, scale=0.5 * np.sqrt(args.k / n))
    t_eval = np.linspace(0.0, args.t_end, _VERIFY_TIMES)
    show = not args.json and sys.stderr.isatty()
    from tqdm import tqdm

    with tqdm(total=1, desc="riemlin verify", disable=not show, delay=1.0, leave=False) as bar:
        cmp = compare_flows(
            loss=loss,
            t_eval=t_eval,
            W0=W0,
            widths=ws,
            rng=rng,
            formulation=args.formulation,
            rtol=args.rtol,
            atol=args.rtol * 1e-3,
        )
        bar.update(1)
    passed = cmp.max_relative_mismatch < args.tol
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        cmp.plot(args.plot)
    if args.json:
        out = cmp.summary()
        out.update(passed=bool(passed), tolerance=args.tol, plot=args.plot or None)
        print(json.dumps(out))
    else:
        print(cmp.table())
        verdict = "PASS" if passed else "FAIL"
        print(
            f"{verdict}: layer flow and Riemannian flow agree to {cmp.max_relative_mismatch:.2e} "
            f"(tolerance {args.tol:g})"
        )
        if args.plot:
            print(f"figure written to {args.plot}")
    return 0 if passed else 1


def _demo(args) -> int:
    from riemlin.experiments.demo import low_rank_approximation

    for name in ("m", "n", "k", "depth"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be >= 1; got {getattr(args, name)}")
    if args.k > min(args.m, args.n):
        raise UsageError(
            f"k must satisfy 1 <= k <= min(m, n) = {min(args.m, args.n)}; got --k {args.k}"
        )
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0; got {args.seed}")
    side = math.isqrt(_memory_budget() // (8 * 20))
    _check_memory(
        "demo",
        8.0 * 20 * args.m * args.n,
        f"--m {args.m} --n {args.n}",
        f"m n <= {_memory_budget() / 160:.3g} (e.g. m = n <= {side})",
    )
    result = low_rank_approximation(args.m, args.n, args.k, args.depth, rng=args.seed)
    print(
        f"FixedRankDeepLinear({args.m}, {args.n}, {args.k}, depth={args.depth}): "
        f"ConjugateGradient reached f = {result['cost']:.12g} in {result['iterations']} "
        f"iterations; Eckart-Young optimum {result['optimum']:.12g} "
        f"({result['gap_kind']} {result['relative_gap']:.2e})"
    )
    return 0 if result["relative_gap"] < 1e-8 else 1


def _sweep(args) -> int:
    from riemlin.experiments import run_sweep

    backend = args.backend
    if backend is None:
        backend = "dask" if (args.scheduler or args.local_cluster is not None) else "serial"
    if backend != "dask" and (args.scheduler or args.local_cluster is not None):
        raise UsageError(f"--scheduler and --local-cluster need --backend dask; got {backend}")
    if backend == "dask" and not (args.scheduler or args.local_cluster is not None):
        raise UsageError("--backend dask needs --scheduler ADDRESS or --local-cluster N")
    if args.local_cluster is not None and args.local_cluster < 1:
        raise UsageError(f"--local-cluster must be >= 1; got {args.local_cluster}")
    if args.jobs is not None and (backend != "joblib" or args.jobs == 0):
        raise UsageError(f"--jobs must be non-zero and goes with --backend joblib; got {args.jobs}")
    for package, module in (("joblib", "joblib"), ("dask", "distributed")):
        if backend == package and importlib.util.find_spec(module) is None:
            raise UsageError(
                f"--backend {backend} needs the {module} package, which is not installed; "
                "pip install 'riemlin[sweep]', or use --backend serial"
            )
    _check_input_file(args.sweep_file, "sweep file")
    results = args.results or Path(args.sweep_file).stem + ".csv"
    _check_output_file(results, "--results")
    progress = False if args.no_progress else None
    try:
        summary = run_sweep(
            args.sweep_file,
            results,
            resume=args.resume,
            backend=backend,
            jobs=args.jobs,
            scheduler=args.scheduler,
            local_cluster=args.local_cluster,
            progress=progress,
        )
    except KeyboardInterrupt:
        print(
            f"riemlin sweep: interrupted; the records written so far are in {results}: "
            "rerun with --resume",
            file=sys.stderr,
        )
        return 1
    print(summary.text())
    return 0 if summary.complete else 1


def _report(args) -> int:
    from riemlin.experiments import report

    _check_input_file(args.results, "results file")
    out = (
        Path(args.out)
        if args.out
        else Path(args.results).with_name(Path(args.results).stem + "-report")
    )
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} is a file; give a directory (it is created if missing)")
    existing = out
    while not existing.exists():  # missing directories are created: probe the first that is
        existing = existing.parent
    _probe_directory(existing, "--out")
    written = report(args.results, out)
    print(written["summary"])
    print("written: " + ", ".join(str(p) for p in written["files"]))
    return 0


def main(argv=None) -> int:
    """Run the command line; return the exit code.

    Exit codes: 0 success; 1 a failed verification (``verify``, ``demo``) or runs lost or
    interrupted (``sweep``); 2 bad arguments, found before any work (paths that cannot be
    read or written, a missing optional package, sizes that do not fit in memory,
    values out of range), a bad sweep file or a corrupted results file, reported on
    one line without a traceback. Any other exception is a bug and propagates.
    """
    from riemlin.experiments.results import ResultsError
    from riemlin.experiments.spec import SweepError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad arguments, 0 on --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        commands = {"verify": _verify, "demo": _demo, "sweep": _sweep, "report": _report}
        return commands[args.command](args)
    except (UsageError, SweepError, ResultsError) as exc:
        message = " ".join(str(exc).split())  # one line
        print(f"riemlin {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
