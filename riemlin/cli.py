"""The ``riemlin`` command line: ``riemlin verify`` (the main job) and ``riemlin demo``."""

from __future__ import annotations

import argparse
import json
import sys

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
        return {"verify": _verify, "demo": _demo}[args.command](args)
    except (TypeError, ValueError) as exc:
        print(f"riemlin {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
