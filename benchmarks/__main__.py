"""Run riemlin's benchmarks and print a table of ratios; save it as JSON."""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import platform
import sys
from pathlib import Path

import numpy as np

import riemlin

BENCHMARKS = [
    "metric_kernels",
    "factors",
    "flows",
    "equivalence",
    "second_order",
    "completion",
    "deep",
    "scaling",
    "geodesics",
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run only these")
    parser.add_argument(
        "--json", type=Path, default=Path("benchmarks/results/latest.json"), help="output file"
    )
    args = parser.parse_args(argv)
    rows = []
    for name in args.only or BENCHMARKS:
        module = importlib.import_module(f"benchmarks.{name}")
        kwargs = {"quick": args.quick}
        if "results_dir" in inspect.signature(module.run).parameters:
            kwargs["results_dir"] = args.json.parent  # plots go next to the report
        rows.extend(module.run(**kwargs))
    width = max(len(r["name"]) for r in rows)
    print(f"{'benchmark':<{width}}  {'size':<22} {'ratio':>9}  goal      ok")
    for r in rows:
        mark = "yes" if r["meets_goal"] else "NO"
        print(f"{r['name']:<{width}}  {r['size']:<22} {r['ratio']:9.3g}  {r['goal']:<9} {mark}")
    report = {
        "riemlin": riemlin.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "machine": platform.platform(),
        "quick": args.quick,
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"saved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
