"""The ``riemlin`` command line: ``verify`` (the main job), ``demo``, ``sweep`` and ``report``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import riemlin


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
    verify.add_argument("--t-end", type=float, default=5.0, help="end time (default 5)")
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
        "--method", choices=("manifold", "dense"), default="manifold", help="Riemannian integrator"
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
            raise ValueError(
                f"--widths must be comma-separated integers d_0,...,d_N; got {args.widths!r}"
            ) from None
        if len(ws) < 2:
            raise ValueError(f"--widths needs at least d_0 and d_1; got {args.widths!r}")
        return ws
    if args.depth < 1:
        raise ValueError(f"--depth must be >= 1; got {args.depth}")
    hidden = max(args.m, args.n)
    return (args.n,) + (hidden,) * (args.depth - 1) + (args.m,)


def _verify(args) -> int:
    from riemlin.compare import compare_flows
    from riemlin.losses import RegressionLoss

    ws = _widths(args)
    n, m = ws[0], ws[-1]
    if args.k < 1 or args.k > min(ws):
        raise ValueError(f"--k must be between 1 and the narrowest width {min(ws)}; got {args.k}")
    if args.samples < n:
        raise ValueError(f"--samples must be >= d_0 = {n} so that X X^T is invertible")
    if not args.t_end > 0:
        raise ValueError(f"--t-end must be positive; got {args.t_end}")
    if not 0 < args.rtol < 1 or not args.tol > 0:
        raise ValueError("--rtol must be in (0, 1) and --tol positive")
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((n, args.samples))
    Y = rng.standard_normal((m, args.samples))
    loss = RegressionLoss(X, Y)
    W0 = 0.5 * rng.standard_normal((m, args.k)) @ rng.standard_normal((args.k, n)) / np.sqrt(n)
    t_eval = np.linspace(0.0, args.t_end, 41)
    show = not args.json and sys.stderr.isatty()
    from tqdm import tqdm

    with tqdm(total=1, desc="riemlin verify", disable=not show, delay=1.0, leave=False) as bar:
        cmp = compare_flows(
            loss=loss,
            t_eval=t_eval,
            W0=W0,
            widths=ws,
            rng=rng,
            method=args.method,
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
    from riemlin._demo import low_rank_approximation

    result = low_rank_approximation(args.m, args.n, args.k, args.depth, rng=args.seed)
    print(
        f"FixedRankDeepLinear({args.m}, {args.n}, {args.k}, depth={args.depth}): "
        f"ConjugateGradient reached f = {result['cost']:.12g} in {result['iterations']} "
        f"iterations; Eckart-Young optimum {result['optimum']:.12g} "
        f"(relative gap {result['relative_gap']:.2e})"
    )
    return 0 if result["relative_gap"] < 1e-8 else 1


def _sweep(args) -> int:
    from riemlin.experiments import run_sweep

    backend = args.backend
    if backend is None:
        backend = "dask" if (args.scheduler or args.local_cluster is not None) else "serial"
    if backend != "dask" and (args.scheduler or args.local_cluster is not None):
        raise ValueError(f"--scheduler and --local-cluster need --backend dask; got {backend}")
    if backend == "dask" and not (args.scheduler or args.local_cluster is not None):
        raise ValueError("--backend dask needs --scheduler ADDRESS or --local-cluster N")
    if args.local_cluster is not None and args.local_cluster < 1:
        raise ValueError(f"--local-cluster must be >= 1; got {args.local_cluster}")
    if args.jobs is not None and (backend != "joblib" or args.jobs == 0):
        raise ValueError(f"--jobs must be non-zero and goes with --backend joblib; got {args.jobs}")
    results = args.results or Path(args.sweep_file).stem + ".csv"
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

    out = report(args.results, args.out)
    print(out["summary"])
    print("written: " + ", ".join(str(p) for p in out["files"]))
    return 0


def main(argv=None) -> int:
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
    except (TypeError, ValueError) as exc:
        print(f"riemlin {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
