"""The ``riemlin`` command line."""

from __future__ import annotations

import argparse
import sys

import riemlin


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riemlin",
        description="Riemannian optimization on fixed-rank matrices with the deep-linear metric.",
    )
    parser.add_argument("--version", action="version", version=f"riemlin {riemlin.__version__}")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="solve a seeded low-rank approximation on M_k")
    demo.add_argument("--m", type=int, default=30)
    demo.add_argument("--n", type=int, default=20)
    demo.add_argument("--k", type=int, default=3)
    demo.add_argument("--depth", type=int, default=3)
    demo.add_argument("--seed", type=int, default=0)
    return parser


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
        if args.command == "demo":
            return _demo(args)
    except (TypeError, ValueError) as exc:
        print(f"riemlin {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
