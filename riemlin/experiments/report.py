r"""From a results table to plots and a short text summary (``riemlin report``).

* ``reach_probability.png``: the fraction of runs that reached the global minimum on
  :math:`\mathcal M_k` (``reached_global``; failed runs count as not reaching it) against
  depth, one line per initialization scale, with 95% Wilson intervals.
* ``gap_distribution.png``: the distribution of :math:`\log_{10}` of the relative gap
  :math:`(L(W_T) - L^*_k) / (L(W_0) - L^*_k)` by depth (completed runs).
* ``step_phase.png``: the fraction of runs that diverged over step size and depth, one
  panel per kind, with ``thresholds.csv``: per kind, depth and replicate, the largest
  step that did not diverge and the smallest that did.
* the figures of the claim kinds (:func:`riemlin.experiments.claims_report.claim_figures`).

A plot is skipped (and the summary says why) when the table lacks what it needs.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from riemlin.dynamics.result import Status
from riemlin.experiments.claims_report import claim_figures
from riemlin.experiments.kinds import KINDS
from riemlin.experiments.results import Results, read_results

__all__ = ["report", "summarize"]


def _status_name(code) -> str:
    try:
        return Status(int(code)).description
    except ValueError:  # a code no flow produces (a results file from elsewhere)
        return str(code)


def _wilson(k: np.ndarray, n: np.ndarray, z: float = 1.96):
    p = k / np.maximum(n, 1)
    den = 1 + z**2 / n
    mid = (p + z**2 / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    return p, mid - half, mid + half


def _table(res: Results) -> dict:
    cols = {c: res.column(c) for c in res.columns}
    cols["kind"] = np.array([r["kind"] for r in res.rows], dtype=object)
    return cols


def _params(res: Results) -> list:
    names = {}
    for kind in {r["kind"] for r in res.rows}:
        if kind in KINDS:
            names.update(dict.fromkeys(p for p in KINDS[kind].parameters if p in res.columns))
    return list(names)


def _thresholds(res: Results, cols: dict) -> list:
    """Per kind, replicate and parameters other than the step: the divergence bracket."""
    others = [p for p in _params(res) if p != "step"]
    groups = defaultdict(list)
    bounds = {}
    for i, row in enumerate(res.rows):
        key = (row["kind"], row["replicate"], *(row[p] for p in others))
        groups[key].append((cols["step"][i], cols["status"][i] == Status.DIVERGED))
        if "step_bound" in cols:
            bounds[key] = cols["step_bound"][i]
    out = []
    for key, runs in groups.items():
        runs.sort()
        diverged = [s for s, d in runs if d]
        first = diverged[0] if diverged else np.nan
        stable = [s for s, d in runs if not d and not s > first]
        row = dict(zip(("kind", "replicate", *others), key))
        row |= {"largest_stable_step": max(stable, default=np.nan), "first_divergent_step": first}
        if "step_bound" in cols:  # the same problem for every step of a group
            row["step_bound"] = bounds[key]
        out.append(row)
    return out


def summarize(results) -> str:
    """A short plain-text summary of a results table.

    Parameters
    ----------
    results : Results or path-like
        A table from :func:`read_results`, or the path of a results file to read.

    Returns
    -------
    str
        Counts by status, the commonest failure messages, the probability of reaching
        the global minimum by kind and depth, and divergence thresholds by kind and depth
        (when the table has those columns).
    """
    res = results if isinstance(results, Results) else read_results(results)
    cols = _table(res)
    n = len(res.rows)
    kinds = sorted(set(cols["kind"]))
    versions = sorted({r["riemlin_version"] for r in res.rows})
    lines = [
        f"{res.path}: {n} runs of sweep {', '.join(sorted({r['sweep'] for r in res.rows}))} "
        f"(kinds {', '.join(kinds)}; riemlin {', '.join(versions)})"
    ]
    if n == 0:
        return lines[0]
    status = Counter(int(s) for s in cols["status"])
    lines.append(
        "status: " + ", ".join(f"{_status_name(s)} {c}" for s, c in sorted(status.items()))
    )
    runtime = cols["runtime"]
    lines.append(
        f"runtime: median {np.median(runtime):.3g} s, total {np.sum(runtime):.1f} s of compute"
    )
    failed = [
        re.sub(r"[-+]?\d[\d.e+-]*", "#", r["message"]) for r in res.rows if r["status"] != "0"
    ]
    for msg, count in Counter(failed).most_common(3):
        lines.append(f"  {count} x {msg[:100]}")
    if "reached_global" in cols and "depth" in cols:
        lines.append("P(reached the global minimum on M_k) by depth (all runs):")
        for kind in kinds:
            sel = cols["kind"] == kind
            parts = []
            for d in np.unique(cols["depth"][sel]):
                hit = sel & (cols["depth"] == d)
                k = int(np.nansum(cols["reached_global"][hit]))
                parts.append(f"N={int(d)}: {k}/{int(hit.sum())}")
            lines.append(f"  {kind}: " + ", ".join(parts))
    if "step" in cols and len(np.unique(cols["step"])) > 1:
        lines.append(
            "divergence threshold (median over replicates of the first divergent step; "
            "[bound]: median linear-stability bound at the minimizer on M_k, "
            "riemlin.theory.descent_step_bounds):"
        )
        rows = _thresholds(res, cols)
        for kind in kinds:
            parts = []
            by_depth = defaultdict(list)
            bound_by_depth = defaultdict(list)
            for r in rows:
                if r["kind"] == kind:
                    by_depth[r.get("depth", "-")].append(r["first_divergent_step"])
                    bound_by_depth[r.get("depth", "-")].append(r.get("step_bound", np.nan))
            for d, steps in sorted(by_depth.items(), key=lambda x: float(x[0])):
                steps = np.array(steps)
                shown = (
                    f"{np.median(steps[np.isfinite(steps)]):.3g}"
                    if np.any(np.isfinite(steps))
                    else "none"
                )
                bnd = np.array(bound_by_depth[d], dtype=float)
                if np.any(np.isfinite(bnd)):
                    shown += f" [bound {np.median(bnd[np.isfinite(bnd)]):.3g}]"
                parts.append(f"N={d}: {shown} ({int(np.isfinite(steps).sum())}/{steps.size})")
            lines.append(f"  {kind}: " + ", ".join(parts))
    return "\n".join(lines)


@contextmanager
def _panels(n: int, path, *, tight_layout: bool = True):
    """A figure with one row of ``n`` axes, saved to ``path`` and closed after the block."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(5 * n, 4), squeeze=False)
    try:
        yield fig, axes[0]
        if tight_layout:
            fig.tight_layout()
            fig.savefig(path, dpi=110)
        else:  # room for a colorbar spanning the axes
            fig.savefig(path, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


def _reach_plot(cols, kinds, path):
    with _panels(len(kinds), path) as (_, axes):
        scales = np.unique(cols["scale"]) if "scale" in cols else [None]
        for ax, kind in zip(axes, kinds):
            sel = cols["kind"] == kind
            for j, sc in enumerate(scales):
                s = sel if sc is None else sel & (cols["scale"] == sc)
                depths = np.unique(cols["depth"][s])
                hits = np.array(
                    [np.nansum(cols["reached_global"][s & (cols["depth"] == d)]) for d in depths]
                )
                totals = np.array([np.sum(s & (cols["depth"] == d)) for d in depths], dtype=float)
                p, lo, hi = _wilson(hits, totals)
                label = "all" if sc is None else f"scale {sc:g}"
                ax.errorbar(
                    depths,
                    p,
                    yerr=[p - lo, hi - p],
                    marker="o",
                    capsize=3,
                    label=label,
                    color=f"C{j}",
                )
            ax.set(
                xlabel="depth N",
                ylabel="P(reached global minimum on M_k)",
                title=kind,
                ylim=(-0.05, 1.05),
            )
            ax.legend()


def _gap_plot(cols, kinds, path):
    with _panels(len(kinds), path) as (_, axes):
        ok = cols["status"] == 0
        for ax, kind in zip(axes, kinds):
            sel = ok & (cols["kind"] == kind)
            groups = np.unique(cols["depth"][sel]) if "depth" in cols else [None]
            for j, d in enumerate(groups):
                s = sel if d is None else sel & (cols["depth"] == d)
                gaps = np.log10(np.maximum(np.abs(cols["relative_gap"][s]), 1e-17))
                ax.hist(
                    gaps,
                    bins=30,
                    histtype="step",
                    color=f"C{j}",
                    label="all" if d is None else f"N={int(d)}",
                )
            ax.set(xlabel="log10 relative gap to the optimum on M_k", ylabel="runs", title=kind)
            ax.legend()


def _phase_plot(cols, kinds, path):
    with _panels(len(kinds), path, tight_layout=False) as (fig, axes):
        steps = np.unique(cols["step"])
        depths = np.unique(cols["depth"]) if "depth" in cols else np.array([np.nan])
        for ax, kind in zip(axes, kinds):
            frac = np.full((depths.size, steps.size), np.nan)
            for a, d in enumerate(depths):
                for b, st in enumerate(steps):
                    s = (cols["kind"] == kind) & (cols["step"] == st)
                    s &= (cols["depth"] == d) if "depth" in cols else True
                    if s.any():
                        frac[a, b] = np.mean(cols["status"][s] == Status.DIVERGED)
            im = ax.imshow(frac, origin="lower", aspect="auto", vmin=0, vmax=1, cmap="viridis")
            ax.set_xticks(range(steps.size), [f"{s:.3g}" for s in steps], rotation=60)
            ax.set_yticks(range(depths.size), [f"{d:g}" for d in depths])
            ax.set(xlabel="step size", ylabel="depth N", title=f"{kind}: fraction diverged")
        fig.colorbar(im, ax=axes.tolist())


def report(results, out=None) -> dict:
    """Plots and a text summary of a results table.

    Parameters
    ----------
    results : path-like or Results
        A results file written by :func:`riemlin.experiments.run_sweep`.
    out : path-like, optional
        Directory for the files (created); default ``<results stem>-report`` beside it.

    Returns
    -------
    dict
        ``{"summary": text, "files": [paths written], "skipped": [reasons]}``; the text
        is also written to ``summary.txt``.

    Raises
    ------
    ResultsError
        If the file is corrupted or truncated (see :func:`read_results`).
    """
    import matplotlib

    matplotlib.use("Agg")
    res = results if isinstance(results, Results) else read_results(results)
    out = Path(out) if out is not None else res.path.with_name(res.path.stem + "-report")
    out.mkdir(parents=True, exist_ok=True)
    cols = _table(res)
    kinds = sorted(set(cols["kind"]))
    files, skipped = [], []
    if not res.rows:
        skipped.append("no records: no plots")
    elif {"reached_global", "depth"} <= set(cols):
        _reach_plot(cols, kinds, out / "reach_probability.png")
        files.append(out / "reach_probability.png")
    else:
        skipped.append("reach_probability.png: needs the columns depth and reached_global")
    if res.rows and "relative_gap" in cols and np.any(cols["status"] == 0):
        _gap_plot(cols, kinds, out / "gap_distribution.png")
        files.append(out / "gap_distribution.png")
    elif res.rows:
        skipped.append("gap_distribution.png: needs relative_gap and completed runs")
    if res.rows and "step" in cols and len(np.unique(cols["step"])) > 1:
        _phase_plot(cols, kinds, out / "step_phase.png")
        rows = _thresholds(res, cols)
        with open(out / "thresholds.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        files += [out / "step_phase.png", out / "thresholds.csv"]
    elif res.rows:
        skipped.append("step_phase.png: needs a step column with at least two values")
    if res.rows:
        files += claim_figures(cols, out)
    text = summarize(res)
    if skipped:
        text += "\n" + "\n".join(f"not drawn: {s}" for s in skipped)
    (out / "summary.txt").write_text(text + "\n")
    files.append(out / "summary.txt")
    return {"summary": text, "files": files, "skipped": skipped}
