r"""Figures of ``riemlin report`` for the kinds of :mod:`riemlin.experiments.claims`.

* ``flatness.png`` (kind ``"flatness"``): against the step in units of
  ``2 / sharpness`` of the flow's limit, the descent limit's sharpness, norm and
  imbalance relative to the flow's limit from the same start (the flow conserves the
  imbalance, so its limit has the start's), step x limit sharpness / 2, the steps to
  converge and the fraction of runs that diverged; medians over seeds with the quartiles
  shaded, one line per value of the other parameters that vary.
* ``imbalance_rate.png`` (kind ``"imbalance_rate"``): the linear rates of the flow and
  of descent against the imbalance :math:`\lambda`, one line per shape ``m x n``.
* ``imbalance_departure.png`` (kind ``"imbalance_departure"``): the largest relative
  distance between the layer flow's product and the balanced Riemannian flow against the
  imbalance :math:`\max_j \|D_j\|_F`, log-log, one colour per depth.
* ``balancedness.png`` (kind ``"balancedness"``): the largest imbalance along descent in
  units of the start's :math:`\delta` against the step, with Arora et al.'s bound
  :math:`2\delta`.
"""

from __future__ import annotations

import numpy as np

from riemlin.dynamics.result import Status
from riemlin.experiments.kinds import KINDS

__all__ = ["claim_figures"]


def _groups(cols, sel, kind, exclude):
    """The combinations of the kind's varying parameters other than ``exclude``."""
    names = [
        p
        for p in KINDS[kind].parameters
        if p in cols and p not in exclude and len(np.unique(cols[p][sel])) > 1
    ]
    if not names:
        return [("all", sel)]
    keys = sorted({tuple(cols[p][i] for p in names) for i in np.nonzero(sel)[0]})
    out = []
    for key in keys:
        s = sel.copy()
        for p, v in zip(names, key):
            s &= cols[p] == v
        out.append((", ".join(f"{p}={v:g}" for p, v in zip(names, key)), s))
    return out


def _save(fig, out):
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def _median_line(ax, cols, sel, x, y, label, color, *, transform=None):
    xs = np.unique(cols[x][sel])
    stats = []
    for v in xs:
        vals = cols[y][sel & (cols[x] == v)]
        vals = vals[np.isfinite(vals)]
        if transform is not None:
            vals = transform(vals)
        stats.append(np.percentile(vals, [25, 50, 75]) if vals.size else [np.nan] * 3)
    lo, mid, hi = np.array(stats).T
    ax.plot(xs, mid, marker="o", color=color, label=label)
    ax.fill_between(xs, lo, hi, color=color, alpha=0.2)


def _flatness(cols, out):
    import matplotlib.pyplot as plt

    sel = cols["kind"] == "flatness"
    fig, grid = plt.subplots(2, 3, figsize=(16, 8))
    axes = grid.ravel()
    ok = sel & (cols["status"] == 0)
    names = ("sharpness_ratio", "norm_ratio", "imbalance_ratio", "edge_ratio", "steps_to_tol")
    for j, (label, s) in enumerate(_groups(cols, sel, "flatness", ("step_ratio",))):
        for ax, y in zip(axes, names):
            _median_line(ax, cols, s & ok, "step_ratio", y, label, f"C{j}")
        xs = np.unique(cols["step_ratio"][s])
        frac = [
            np.mean(cols["status"][s & (cols["step_ratio"] == v)] == Status.DIVERGED) for v in xs
        ]
        axes[5].plot(xs, frac, marker="o", color=f"C{j}", label=label)
    axes[0].set(ylabel="limit sharpness / flow's limit sharpness")
    axes[1].set(ylabel="limit norm / flow's limit norm")
    axes[2].set(ylabel="limit imbalance / start imbalance (the flow's)")
    axes[3].set(ylabel="step x limit sharpness / 2 (stable if < 1)")
    axes[4].set(ylabel="steps to converge", yscale="log")
    axes[5].set(ylabel="fraction diverged", ylim=(-0.05, 1.05))
    for ax in axes:
        ax.axvline(1.0, color="gray", lw=0.8, ls="--")
        ax.set(xlabel="step x sharpness of the flow's limit / 2")
        ax.legend(fontsize=7)
    fig.suptitle("descent vs flow from the same start (kind flatness)")
    _save(fig, out)


def _rate(cols, out):
    import matplotlib.pyplot as plt

    sel = (cols["kind"] == "imbalance_rate") & (cols["status"] == 0)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for j, (label, s) in enumerate(_groups(cols, sel, "imbalance_rate", ("lam",))):
        _median_line(axes[0], cols, s, "lam", "rate_flow", label, f"C{j}")
        _median_line(axes[1], cols, s, "lam", "rate_descent", label, f"C{j}")
    axes[0].set(title="gradient flow", ylabel="linear rate (per unit time)")
    axes[1].set(title="gradient descent", ylabel="linear rate (per unit time)")
    for ax in axes:
        ax.set(xlabel="imbalance lambda (W2^T W2 - W1 W1^T = lambda I)")
        ax.legend(fontsize=7)
    _save(fig, out)


def _departure(cols, out):
    import matplotlib.pyplot as plt

    sel = (cols["kind"] == "imbalance_departure") & (cols["status"] == 0)
    fig, ax = plt.subplots(figsize=(6, 4))
    for j, (label, s) in enumerate(_groups(cols, sel, "imbalance_departure", ("strength",))):
        x, y = cols["imbalance_norm"][s], cols["mismatch"][s]
        keep = (x > 0) & (y > 0)
        ax.loglog(x[keep], y[keep], "o", color=f"C{j}", label=label, alpha=0.7)
    ax.set(
        xlabel="imbalance max_j ||D_j||_F at the start",
        ylabel="max_t ||W_layers - W_riem|| / ||W_layers||",
    )
    ax.legend(fontsize=7)
    _save(fig, out)


def _balancedness(cols, out):
    import matplotlib.pyplot as plt

    sel = (cols["kind"] == "balancedness") & (cols["status"] == 0)
    fig, ax = plt.subplots(figsize=(6, 4))
    for j, (label, s) in enumerate(_groups(cols, sel, "balancedness", ("step",))):
        _median_line(ax, cols, s, "step", "balance_ratio", label, f"C{j}")
    ax.axhline(2.0, color="gray", ls="--", label="2 delta (Arora et al.)")
    ax.set(xscale="log", yscale="log", xlabel="step size", ylabel="max_t max_j ||D_j|| / delta")
    ax.legend(fontsize=7)
    _save(fig, out)


_FIGURES = {
    "flatness": ("flatness.png", _flatness),
    "imbalance_rate": ("imbalance_rate.png", _rate),
    "imbalance_departure": ("imbalance_departure.png", _departure),
    "balancedness": ("balancedness.png", _balancedness),
}


def claim_figures(cols: dict, out) -> list:
    """Draw the figure of each claim kind present in a results table.

    Parameters
    ----------
    cols : dict
        Columns of the table by name (numeric arrays; ``kind`` an object array).
    out : pathlib.Path
        Directory for the files.

    Returns
    -------
    list of pathlib.Path
        The files written (one per claim kind with at least one completed run).
    """
    files = []
    for kind, (name, draw) in _FIGURES.items():
        sel = cols["kind"] == kind
        if np.any(sel & (cols["status"] == 0)) or (kind == "flatness" and np.any(sel)):
            draw(cols, out / name)
            files.append(out / name)
    return files
