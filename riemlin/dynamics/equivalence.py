r"""Side-by-side runs of the layer flow and the Riemannian flow: the equivalence theorem.

Bah, Rauhut, Terstiege and Westdickenberg (arXiv:1910.05505, the equivalence theorem): if the layers
start balanced and follow the gradient flow of :math:`L^N`, their product follows the
Riemannian gradient flow :math:`\dot W = -\mathcal A_W(\nabla L(W))` on
:math:`\mathcal M_k`. :func:`compare_flows` integrates both and reports how far apart the
two curves are (the *mismatch*), together with the imbalance of the layers and the
distance to the optimum on :math:`\mathcal M_k`. :func:`compare_descent` does the same
for the two gradient-descent discretizations over a range of step sizes and fits the
order in the step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from riemlin._validation import check_array, check_factors, check_positive, numerical_rank
from riemlin.diagnostics.derivatives import loglog_slope
from riemlin.dynamics.layers import factor_gradient_descent, factor_gradient_flow
from riemlin.dynamics.result import FlowResult
from riemlin.dynamics.riemannian import riemannian_gradient_descent, riemannian_gradient_flow
from riemlin.networks.balance import balanced_factors
from riemlin.networks.chain import chain_product

__all__ = ["Comparison", "DescentComparison", "compare_flows", "compare_descent"]

#: Most steps :func:`compare_descent` lets one run make (``t_end / step``).
MAX_DESCENT_STEPS = 10**7


def _numerical_rank(W: np.ndarray) -> int:
    return numerical_rank(np.linalg.svd(W, compute_uv=False), W.shape)


def _layers(factors, W0, widths, rng, what):
    """The start: ``(layers, their product, its numerical rank)``, refusing a zero product."""
    if factors is not None:
        if W0 is not None or widths is not None:
            raise ValueError("give either factors, or W0 and widths (to build balanced layers)")
        layers = check_factors(factors)
    elif W0 is None or widths is None:
        raise ValueError("give factors, or W0 and widths (balanced layers are built from them)")
    else:
        layers = balanced_factors(W0, widths, rng=rng)
    W_start = chain_product(layers)
    k = _numerical_rank(W_start)
    if k == 0:
        raise ValueError(
            "the product of the layers (factors, or balanced factors of W0) is zero; the "
            f"{what} need rank >= 1"
        )
    return layers, W_start, k


def _relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``||a_t - b_t||_F / ||a_t||_F`` for stacks of matrices."""
    num = np.linalg.norm((a - b).reshape(len(a), -1), axis=1)
    den = np.linalg.norm(a.reshape(len(a), -1), axis=1)
    return num / np.where(den > 0, den, 1.0)


@dataclass
class Comparison:
    """Two flows from the same start, side by side.

    Attributes
    ----------
    t : ndarray
        Output times common to both runs.
    loss_factor, loss_riemannian : ndarray
        :math:`L(W(t))` along the layer flow and along the Riemannian flow.
    mismatch : ndarray
        :math:`\\|W_{fac}(t) - W_{riem}(t)\\|_F / \\|W_{fac}(t)\\|_F`.
    imbalance : ndarray
        Relative imbalance of the layers (:func:`riemlin.networks.imbalance_norm`).
    imbalance_drift : ndarray
        Change of the imbalance matrices since ``t[0]`` (zero for the exact flow).
    distance_to_optimum : ndarray or None
        :math:`\\|W_{fac}(t) - W^*\\|_F / \\|W^*\\|_F` with :math:`W^*` the minimizer on
        rank ``<= k`` (losses with an ``optimum`` method only).
    optimum_value : float or None
        :math:`\\min_{\\operatorname{rank} W \\le k} L(W)`.
    depth, k : int
        Depth of the network and rank of the start.
    widths : tuple of int
        ``(d_0, ..., d_N)``.
    seconds_factor, seconds_riemannian : float
        Wall-clock time of each run.
    factor_result, riemannian_result : FlowResult
        The two runs.
    """

    t: np.ndarray
    loss_factor: np.ndarray
    loss_riemannian: np.ndarray
    mismatch: np.ndarray
    imbalance: np.ndarray
    imbalance_drift: np.ndarray
    distance_to_optimum: np.ndarray | None
    optimum_value: float | None
    depth: int
    k: int
    widths: tuple
    seconds_factor: float
    seconds_riemannian: float
    factor_result: FlowResult = field(repr=False)
    riemannian_result: FlowResult = field(repr=False)

    @classmethod
    def from_runs(
        cls, layers, loss, fac, riem, k: int, seconds_factor: float, seconds_riemannian: float
    ) -> Comparison:
        """Side by side: a layer run and a Riemannian run from the same start.

        Parameters
        ----------
        layers : list of ndarray
            The start of the layer run.
        loss : loss protocol object
            Its ``optimum(k)``, when present, gives ``distance_to_optimum``.
        fac, riem : FlowResult
            The layer run and the Riemannian run (compared up to the shorter one).
        k : int
            Rank of the start.
        seconds_factor, seconds_riemannian : float
            Wall-clock times of the runs.

        Returns
        -------
        Comparison
            The two runs side by side, up to the shorter one.
        """
        T = min(len(fac.t), len(riem.t))
        Wf, Wr = fac.W[:T], riem.W[:T]
        optimum, distance = None, None
        if callable(getattr(loss, "optimum", None)):
            W_star, optimum = loss.optimum(k)
            distance = np.linalg.norm((Wf - W_star).reshape(T, -1), axis=1)
            distance /= np.linalg.norm(W_star)
        return cls(
            t=fac.t[:T],
            loss_factor=fac.loss[:T],
            loss_riemannian=riem.loss[:T],
            mismatch=_relative(Wf, Wr),
            imbalance=fac.imbalance[:T],
            imbalance_drift=fac.imbalance_drift[:T],
            distance_to_optimum=distance,
            optimum_value=None if optimum is None else float(optimum),
            depth=len(layers),
            k=k,
            widths=tuple([layers[0].shape[1]] + [W.shape[0] for W in layers]),
            seconds_factor=seconds_factor,
            seconds_riemannian=seconds_riemannian,
            factor_result=fac,
            riemannian_result=riem,
        )

    @property
    def max_relative_mismatch(self) -> float:
        """Largest mismatch over the output times."""
        return float(np.max(self.mismatch))

    def summary(self) -> dict:
        """The headline figures as a JSON-ready dict (the keys of ``riemlin verify --json``).

        Returns
        -------
        dict
            ``max_relative_mismatch``, the final losses of both flows, ``optimum_value``,
            ``max_imbalance_drift``, ``final_distance_to_optimum``, the run times,
            ``depth``, ``k``, ``widths`` and the two statuses; values are plain floats,
            ints, lists, :class:`~riemlin.Status` codes or ``None``.
        """
        return {
            "max_relative_mismatch": self.max_relative_mismatch,
            "final_loss_factor": float(self.loss_factor[-1]),
            "final_loss_riemannian": float(self.loss_riemannian[-1]),
            "optimum_value": self.optimum_value,
            "max_imbalance_drift": float(np.max(self.imbalance_drift)),
            "final_distance_to_optimum": (
                None if self.distance_to_optimum is None else float(self.distance_to_optimum[-1])
            ),
            "seconds_factor": self.seconds_factor,
            "seconds_riemannian": self.seconds_riemannian,
            "depth": self.depth,
            "k": self.k,
            "widths": list(self.widths),
            "status_factor": self.factor_result.status,
            "status_riemannian": self.riemannian_result.status,
        }

    def table(self, rows: int = 8) -> str:
        """A plain-text table at about ``rows`` evenly spaced output times.

        Parameters
        ----------
        rows : int, default 8
            Number of output times shown (all of them if there are fewer).

        Returns
        -------
        str
            A header line (depth, rank, widths, run times), one line per time with both
            losses, the mismatch, the imbalance drift (and the distance to the optimum),
            then the optimum value and the largest mismatch.
        """
        idx = np.unique(np.linspace(0, len(self.t) - 1, min(rows, len(self.t))).astype(int))
        head = f"{'t':>9} {'L factor':>14} {'L riemannian':>14} {'mismatch':>10} {'drift':>10}"
        if self.distance_to_optimum is not None:
            head += f" {'dist to W*':>11}"
        lines = [
            f"depth N={self.depth}, rank k={self.k}, widths {tuple(self.widths)}; "
            f"factor flow {self.seconds_factor:.2f} s, Riemannian flow "
            f"{self.seconds_riemannian:.2f} s",
            head,
        ]
        for i in idx:
            line = (
                f"{self.t[i]:9.4g} {self.loss_factor[i]:14.8g} {self.loss_riemannian[i]:14.8g} "
                f"{self.mismatch[i]:10.2e} {self.imbalance_drift[i]:10.2e}"
            )
            if self.distance_to_optimum is not None:
                line += f" {self.distance_to_optimum[i]:11.3e}"
            lines.append(line)
        if self.optimum_value is not None:
            lines.append(f"optimum on rank <= {self.k}: L* = {self.optimum_value:.10g}")
        lines.append(f"max relative mismatch {self.max_relative_mismatch:.3e}")
        return "\n".join(lines)

    def plot(self, path=None):
        """Losses, mismatch, imbalance drift and singular values over time.

        Parameters
        ----------
        path : str or path-like, optional
            Where to save the figure (PNG by extension); not saved when ``None``.

        Returns
        -------
        matplotlib.figure.Figure
            A 2 x 2 figure: the losses (minus the optimum when known), the mismatch, the
            imbalance drift and imbalance, and the singular values of both runs.
        """
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, 2, figsize=(10, 7), constrained_layout=True)
        ax = axes[0, 0]
        shift = self.optimum_value if self.optimum_value is not None else 0.0
        floor = 1e-16 * max(1.0, abs(self.loss_factor[0]))
        ax.semilogy(self.t, np.maximum(self.loss_factor - shift, floor), label="layer flow")
        ax.semilogy(
            self.t, np.maximum(self.loss_riemannian - shift, floor), "--", label="Riemannian flow"
        )
        ax.set_title("L(W(t)) - L*" if self.optimum_value is not None else "L(W(t))")
        ax.legend()
        ax = axes[0, 1]
        ax.semilogy(self.t, np.maximum(self.mismatch, 1e-18))
        ax.set_title("relative mismatch ||W_fac - W_riem|| / ||W_fac||")
        ax = axes[1, 0]
        ax.semilogy(self.t, np.maximum(self.imbalance_drift, 1e-18), label="drift")
        ax.semilogy(self.t, np.maximum(self.imbalance, 1e-18), ":", label="imbalance")
        ax.set_title("imbalance of the layers")
        ax.legend()
        ax = axes[1, 1]
        sf = self.factor_result.singular_values[: len(self.t), : self.k]
        sr = self.riemannian_result.singular_values[: len(self.t), : self.k]
        for a in range(self.k):
            ax.plot(self.t, sf[:, a], color=f"C{a}", label=f"s_{a + 1}" if a < 6 else None)
            ax.plot(self.t, sr[:, a], "--", color=f"C{a}")
        ax.set_title("singular values (solid: layers, dashed: Riemannian)")
        ax.legend()
        for ax in axes.flat:
            ax.set_xlabel("t")
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig


def compare_flows(
    factors=None,
    loss=None,
    t_eval=None,
    *,
    W0=None,
    widths=None,
    rng=None,
    formulation: str = "manifold",
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> Comparison:
    r"""Run the layer flow and the Riemannian flow from the same start and compare them.

    Parameters
    ----------
    factors : list of ndarray, optional
        Initial layers ``[W_1, ..., W_N]``. Balanced layers make the two flows coincide;
        unbalanced ones show how the theorem fails without its hypothesis.
    loss : loss protocol object
        See :mod:`riemlin.losses`.
    t_eval : array_like
        Output times.
    W0 : ndarray or tuple (u, s, vt), optional
        Instead of ``factors``: the start, a matrix or a point; balanced layers over it
        are drawn with :func:`riemlin.networks.balanced_factors`.
    widths : sequence of int, optional
        With ``W0``: the widths ``(d_0, ..., d_N)`` of the balanced layers.
    rng : None, int, SeedSequence or Generator, optional
        With ``W0``: source of the hidden frames of the balanced layers.
    formulation : {"manifold", "dense"}
        Integrator of the Riemannian flow (see :func:`riemlin.riemannian_gradient_flow`).
    rtol, atol : float
        Tolerances of both integrators.

    Returns
    -------
    Comparison
        Both runs on their common output times, the mismatch, the imbalance of the
        layers and, for losses with an ``optimum`` method, the distance to the optimum.

    Raises
    ------
    TypeError
        If ``loss`` or ``t_eval`` is missing, or an argument has the wrong type (see the
        two flows).
    ValueError
        If both or neither of ``factors`` and ``W0``/``widths`` are given, the layers'
        product is zero, or the flows refuse an argument (see
        :func:`riemlin.factor_gradient_flow`, :func:`riemlin.riemannian_gradient_flow`).

    References
    ----------
    Bah et al., arXiv:1910.05505 (the equivalence theorem, cited by statement: the theorem
    numbers differ between the arXiv versions); the user guide, chapter "The equivalence
    theorem".

    Examples
    --------
    >>> import numpy as np
    >>> from riemlin import RegressionLoss
    >>> rng = np.random.default_rng(0)
    >>> loss = RegressionLoss(rng.standard_normal((4, 10)), rng.standard_normal((3, 10)))
    >>> W0 = 0.3 * rng.standard_normal((3, 2)) @ rng.standard_normal((2, 4))
    >>> cmp = compare_flows(loss=loss, t_eval=np.linspace(0, 2, 5), W0=W0,
    ...                     widths=(4, 3, 2, 3), rng=1)
    >>> cmp.max_relative_mismatch < 1e-7
    True
    """
    if loss is None or t_eval is None:
        raise TypeError("compare_flows needs a loss and t_eval")
    layers, W_start, k = _layers(factors, W0, widths, rng, "flows")
    depth = len(layers)
    start = time.perf_counter()
    fac = factor_gradient_flow(layers, loss, t_eval, rtol=rtol, atol=atol)
    seconds_factor = time.perf_counter() - start
    start = time.perf_counter()
    riem = riemannian_gradient_flow(
        W_start,
        loss,
        depth,
        t_eval,
        formulation=formulation,
        rtol=rtol,
        atol=atol,
        k=k,
        output="matrix",
    )
    seconds_riemannian = time.perf_counter() - start
    return Comparison.from_runs(layers, loss, fac, riem, k, seconds_factor, seconds_riemannian)


@dataclass
class DescentComparison:
    """Layer descent against Riemannian descent over a range of step sizes.

    Attributes
    ----------
    steps : ndarray
        The step sizes the runs used, ``t_end / round(t_end / eta)`` for each requested
        :math:`\\eta` (so that a whole number of steps ends at ``t_end``).
    t_end : float
        Common end time; each run makes ``round(t_end / eta)`` steps.
    mismatch : ndarray
        :math:`\\|W_{fac} - W_{riem}\\|_F / \\|W_{fac}\\|_F` at ``t_end`` (``nan`` when
        either run stopped early, e.g. diverged).
    imbalance_drift : ndarray
        Change of the imbalance matrices of the layers at ``t_end`` (``nan`` likewise).
    mismatch_order, drift_order : float
        Fitted slopes of ``log mismatch`` and ``log drift`` against ``log`` of the steps
        used, over the completed runs only (both are :math:`O(\\eta)` at a fixed time:
        the per-step drift is :math:`O(\\eta^2)` and there are :math:`t/\\eta` steps);
        ``nan`` with fewer than two distinct completed steps.
    status_factor, status_riemannian : ndarray of int
        Status of each run (``0`` when it completed).
    requested_steps : ndarray
        The step sizes as requested.
    """

    steps: np.ndarray
    t_end: float
    mismatch: np.ndarray
    imbalance_drift: np.ndarray
    mismatch_order: float
    drift_order: float
    status_factor: np.ndarray
    status_riemannian: np.ndarray
    requested_steps: np.ndarray | None = None

    def table(self) -> str:
        """A plain-text table, one row per step size, and the fitted orders.

        Returns
        -------
        str
            One line per step (step used, mismatch, drift, the two statuses) and a last
            line with the fitted orders in the step.
        """
        lines = [f"{'step':>10} {'mismatch':>11} {'drift':>11} status"]
        for i, eta in enumerate(self.steps):
            lines.append(
                f"{eta:10.3g} {self.mismatch[i]:11.3e} {self.imbalance_drift[i]:11.3e} "
                f"{self.status_factor[i]}/{self.status_riemannian[i]}"
            )
        lines.append(
            f"fitted order in the step: mismatch {self.mismatch_order:.2f}, "
            f"imbalance drift {self.drift_order:.2f}"
        )
        return "\n".join(lines)


def compare_descent(
    factors=None,
    loss=None,
    steps=None,
    t_end: float = 1.0,
    *,
    W0=None,
    widths=None,
    rng=None,
) -> DescentComparison:
    r"""Layer descent vs Riemannian descent at equal time ``t_end`` for several steps.

    Both are first-order discretizations of the same flow (at balanced starts), so their
    difference at a fixed time is :math:`O(\eta)`; the fitted slope is reported.

    Parameters
    ----------
    factors : list of ndarray, optional
        Initial layers ``[W_1, ..., W_N]``, as in :func:`compare_flows`.
    loss : loss protocol object
        See :mod:`riemlin.losses`.
    steps : array_like
        At least two positive step sizes, none above ``t_end``; each run makes
        ``round(t_end / step)`` steps of ``t_end / round(t_end / step)``.
    t_end : float
        Common end time.
    W0 : ndarray or tuple (u, s, vt), optional
        Instead of ``factors``: the start, with ``widths``, as in :func:`compare_flows`.
    widths : sequence of int, optional
        With ``W0``: the widths ``(d_0, ..., d_N)`` of the balanced layers.
    rng : None, int, SeedSequence or Generator, optional
        With ``W0``: source of the hidden frames of the balanced layers.

    Returns
    -------
    DescentComparison
        Mismatch and imbalance drift at ``t_end`` per step size, the statuses of the
        runs and the fitted orders in the step.

    Raises
    ------
    TypeError
        If ``loss`` or ``steps`` is missing.
    ValueError
        For fewer than two steps, a step that is not positive or exceeds ``t_end``,
        more than ``1e7`` steps in a run, or layers whose product is zero.

    References
    ----------
    Nguegnang, Rauhut, Terstiege, arXiv:2108.02040; Bah et al., arXiv:1910.05505.
    """
    if loss is None or steps is None:
        raise TypeError("compare_descent needs a loss and steps")
    steps = check_array(steps, "steps", ndim=1)
    if steps.size < 2 or np.any(steps <= 0):
        raise ValueError(f"steps must be at least two positive finite numbers; got {steps}")
    t_end = check_positive(t_end, "t_end")
    if np.any(steps > t_end):
        raise ValueError(
            f"steps must not exceed t_end = {t_end:g} (each run makes round(t_end / step) >= 1 "
            f"steps of t_end / round(t_end / step)); got {steps[steps > t_end]}"
        )
    layers, W_start, k = _layers(factors, W0, widths, rng, "runs")
    if t_end / steps.min() > MAX_DESCENT_STEPS:
        raise ValueError(
            f"steps and t_end: t_end / step = {t_end / steps.min():.3g} steps for the smallest "
            f"step; at most {MAX_DESCENT_STEPS:.0e} per run"
        )
    counts = np.maximum(1, np.round(t_end / steps)).astype(int)
    used = t_end / counts
    mismatch, drift, sf, sr = [], [], [], []
    for n in counts:
        fac = factor_gradient_descent(layers, loss, t_end / n, int(n), record_every=int(n))
        riem = riemannian_gradient_descent(W_start, loss, len(layers), t_end / n, int(n), k=k)
        if fac.status == 0 and riem.status == 0:
            mismatch.append(float(_relative(fac.W[-1:], riem.W[-1:])[0]))
            drift.append(float(fac.imbalance_drift[-1]))
        else:  # a run that stopped early has no value at t_end
            mismatch.append(float("nan"))
            drift.append(float("nan"))
        sf.append(fac.status)
        sr.append(riem.status)
    mismatch, drift = np.array(mismatch), np.array(drift)

    def order(values):
        ok = np.isfinite(values) & (values > 0)
        if len(np.unique(used[ok])) < 2:
            return float("nan")
        return loglog_slope(used[ok], values[ok])[0]

    return DescentComparison(
        steps=used,
        requested_steps=steps,
        t_end=float(t_end),
        mismatch=mismatch,
        imbalance_drift=drift,
        mismatch_order=order(mismatch),
        drift_order=order(drift),
        status_factor=np.array(sf),
        status_riemannian=np.array(sr),
    )
