r"""What one run of a sweep does: the registry of run kinds.

A *run kind* is a function ``f(params, seed) -> dict`` together with the parameters it
takes (name, type, default, bounds), the quantities it records and the parameters that
decide its random draws. :func:`register_kind` adds one; :data:`KINDS` holds them by name.
The built-in kinds share one seeded problem (:func:`draw_problem`):

* ``"factor_descent"``: gradient descent on balanced layers,
  :func:`riemlin.factor_gradient_descent`;
* ``"riemannian_descent"``: retraction-based descent on :math:`\mathcal M_k`,
  :func:`riemlin.riemannian_gradient_descent`, from the same end-to-end start;
* ``"compare_flows"``: the layer flow against the Riemannian flow,
  :func:`riemlin.compare_flows` (the equivalence theorem of Bah et al., arXiv:1910.05505).

A kind may raise; the runner turns the exception into a failure row. Failures that the
run itself reports (divergence, rank loss) come back as ``status`` and ``message``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from riemlin._validation import check_positive
from riemlin.dynamics.result import Status

__all__ = ["Param", "RunKind", "KINDS", "register_kind", "draw_problem"]

#: Status of a run that raised an exception (the flows end with the other statuses).
EXCEPTION = Status.EXCEPTION


@dataclass(frozen=True)
class Param:
    """One parameter of a run kind.

    Attributes
    ----------
    type : {int, float, str, bool}
        Python type of the value (an ``int`` is accepted where a ``float`` is asked).
    default : object
        Value when the sweep does not set it.
    minimum : float, optional
        Smallest allowed value (numbers only).
    choices : tuple, optional
        Allowed values (strings only).
    doc : str
        One line for the documentation.
    """

    type: type
    default: object
    minimum: float | None = None
    choices: tuple | None = None
    doc: str = ""

    def check(self, value, where: str):
        """Return ``value`` converted to :attr:`type`; raise naming ``where`` otherwise.

        Parameters
        ----------
        value : object
            The value a sweep gives the parameter.
        where : str
            How the messages name it, e.g. ``"grid.step"``.

        Returns
        -------
        object
            ``value`` as :attr:`type` (an int given for a float becomes a float).

        Raises
        ------
        TypeError
            If ``value`` is not of :attr:`type` (bools are not numbers here).
        ValueError
            If a float is not finite, a number is below :attr:`minimum`, or a value is
            not among :attr:`choices`.
        """
        kind = self.type.__name__
        if self.type is float:
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            value = float(value) if ok else value
            if ok and not math.isfinite(value):
                raise ValueError(f"{where} must be a finite number; got {value!r}")
        elif self.type is int:
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            value = int(value) if ok else value
        else:
            ok = isinstance(value, self.type)
        if not ok:
            raise TypeError(f"{where} must be {kind}; got {value!r} ({type(value).__name__})")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{where} must be >= {self.minimum:g}; got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{where} must be one of {list(self.choices)}; got {value!r}")
        return value


@dataclass(frozen=True)
class RunKind:
    """A kind of run: the function, its parameters, its records and its random draws.

    Attributes
    ----------
    name : str
        Name used in sweep files (``kind = "..."``).
    function : callable
        ``function(params: dict, seed: numpy.random.SeedSequence) -> dict`` returning
        every name of :attr:`records` plus ``status`` (int, ``0`` for success) and
        ``message`` (str). Must be importable at module level (workers import it).
    parameters : mapping of str to Param
        The parameters it takes.
    records : tuple of str
        What it measures (numbers), in column order.
    draws : tuple of str
        Parameters that decide the random draws: two runs that agree on these and on the
        replicate get the same seed (common random numbers across the other parameters).
    check : callable, optional
        ``check(params)`` raising ``ValueError`` for combinations that cannot run.
    doc : str
        One line for the documentation.
    """

    name: str
    function: Callable
    parameters: Mapping[str, Param]
    records: tuple
    draws: tuple
    check: Callable | None = None
    doc: str = ""


#: The registered run kinds, by name.
KINDS: dict[str, RunKind] = {}


def register_kind(kind: RunKind) -> RunKind:
    """Add ``kind`` to :data:`KINDS` (a later theorem-check kind registers the same way).

    Parameters
    ----------
    kind : RunKind
        The kind to register under ``kind.name``.

    Returns
    -------
    RunKind
        ``kind`` itself.

    Raises
    ------
    TypeError
        If ``kind`` is not a RunKind.
    ValueError
        If the name is taken, a draw is not a parameter, or a record is a reserved column.
    """
    if not isinstance(kind, RunKind):
        raise TypeError(f"kind must be a RunKind; got {type(kind).__name__}")
    if kind.name in KINDS:
        raise ValueError(f"kind: a run kind named {kind.name!r} is already registered")
    missing = [d for d in kind.draws if d not in kind.parameters]
    if missing:
        raise ValueError(f"kind {kind.name!r}: draws {missing} are not parameters")
    reserved = {"status", "message", "runtime"} & (set(kind.records) | set(kind.parameters))
    if reserved:
        raise ValueError(f"kind {kind.name!r}: {sorted(reserved)} are reserved column names")
    KINDS[kind.name] = kind
    return kind


# ---------------------------------------------------------------------- the shared problem
_PROBLEM = {
    "m": Param(int, 6, 1, doc="output dimension d_N"),
    "n": Param(int, 5, 1, doc="input dimension d_0"),
    "k": Param(int, 2, 1, doc="rank of the start (the manifold M_k)"),
    "depth": Param(int, 3, 1, doc="number of layers N"),
    "hidden": Param(int, 6, 1, doc="width of the hidden layers d_1 = ... = d_{N-1}"),
    "samples": Param(int, 20, 1, doc="number of samples (columns of X and Y)"),
    "scale": Param(float, 1.0, 0.0, doc="standard deviation of the entries of the start W0"),
    "rank_tol": Param(float, 1e-6, 0.0, doc="relative threshold of the rank reached"),
    "gap_tol": Param(float, 1e-6, 0.0, doc="|relative gap| below which the optimum is reached"),
}
_DRAWS = ("m", "n", "k", "samples")
_MEASURES = (
    "final_loss",
    "optimum",
    "gap",
    "relative_gap",
    "reached_global",
    "rank_reached",
    "limit_gap",
    "gradient_norm",
)


def _check_problem(p) -> None:
    if p["k"] > min(p["m"], p["n"]):
        raise ValueError(f"k = {p['k']} exceeds min(m, n) = {min(p['m'], p['n'])}")
    if p["depth"] > 1 and p["hidden"] < p["k"]:
        raise ValueError(f"hidden = {p['hidden']} is below k = {p['k']}")
    if p["samples"] < p["n"]:
        raise ValueError(f"samples = {p['samples']} is below n = {p['n']} (X X^T singular)")
    check_positive(p["scale"], "scale")
    if not 0 < p["rank_tol"] < 1:
        raise ValueError(f"rank_tol must be in (0, 1); got {p['rank_tol']}")


def draw_problem(p: Mapping, seed: np.random.SeedSequence):
    r"""The seeded problem and start of the built-in kinds.

    With :math:`s` = ``samples``, draw :math:`X \in \mathbb R^{n\times s}`,
    :math:`Y \in \mathbb R^{m \times s}` with iid :math:`\mathcal N(0, 1/s)` entries
    (so :math:`X X^\top \approx I`), the start
    :math:`W_0 = \text{scale}\, G H / \sqrt k` with :math:`G \in \mathbb R^{m\times k}`,
    :math:`H \in \mathbb R^{k \times n}` standard Gaussian (entries of variance
    :math:`\text{scale}^2`, rank ``k``), then balanced layers over :math:`W_0` of widths
    ``(n, hidden, ..., hidden, m)`` (:func:`riemlin.balanced_factors`). The draws are
    made in this order from one generator, so ``X``, ``Y`` and the direction of ``W0``
    depend only on the parameters of :attr:`RunKind.draws` and the seed.

    Parameters
    ----------
    p : mapping
        Parameters ``m, n, k, depth, hidden, samples, scale``.
    seed : numpy.random.SeedSequence
        The run's seed, from the parameters of :attr:`RunKind.draws` and the replicate.

    Returns
    -------
    loss : RegressionLoss
        :math:`\tfrac12\|W X - Y\|_F^2` with the drawn data.
    W0 : ndarray, shape (m, n)
        The rank-``k`` start.
    layers : list of ndarray
        Balanced layers ``[W_1, ..., W_N]`` whose product is ``W0``.
    """
    from riemlin.losses import random_regression
    from riemlin.networks.balance import balanced_factors

    rng = np.random.default_rng(seed)
    m, n = p["m"], p["n"]
    loss, W0 = random_regression(m, n, p["k"], p["samples"], rng, scale=p["scale"])
    widths = (n,) + (p["hidden"],) * (p["depth"] - 1) + (m,)
    layers = balanced_factors(W0, widths, rng=rng)
    return loss, W0, layers


def _measure(W, factors, loss, p, loss0) -> dict:
    """The records of :data:`_MEASURES` at the final ``W``."""
    from riemlin.theory import descent_limit

    _, optimum = loss.optimum(p["k"])
    lim = descent_limit(SimpleNamespace(W=W, factors=factors), loss, rank_tol=p["rank_tol"])
    gap = lim.loss - optimum
    rel = gap / max(loss0 - optimum, np.finfo(float).tiny)
    return {
        "final_loss": lim.loss,
        "optimum": optimum,
        "gap": gap,
        "relative_gap": rel,
        "reached_global": int(abs(rel) <= p["gap_tol"]),
        "rank_reached": lim.rank,
        "limit_gap": lim.gap,
        "gradient_norm": lim.gradient_norm,
    }


def _failed(records, status, message, loss, p) -> dict:
    """A failed run: its measures are nan except the optimum, which does not need the run."""
    out = dict.fromkeys(records, float("nan"))
    out.update(optimum=loss.optimum(p["k"])[1], status=int(status), message=message)
    return out


# ---------------------------------------------------------------------- built-in kinds
_DESCENT = dict(
    _PROBLEM,
    step=Param(float, 0.05, 0.0, doc="step size eta"),
    n_steps=Param(int, 1000, 0, doc="number of steps"),
)


def _check_descent(p) -> None:
    _check_problem(p)
    check_positive(p["step"], "step")


def _step_bound(loss, p, layers: bool) -> float:
    """Linear-stability step bound at the minimizer on ``M_k``
    (:func:`riemlin.theory.descent_step_bounds`); ``nan`` for layers whose bottleneck is
    not ``k`` (the minimizer on ``M_k`` is then not a minimizer of the layer loss)."""
    from riemlin.theory import descent_step_bounds

    if layers:
        widths = (p["n"],) + (p["hidden"],) * (p["depth"] - 1) + (p["m"],)
        if min(widths) != p["k"]:
            return float("nan")
        return descent_step_bounds(loss, p["k"], p["depth"], widths).factor
    return descent_step_bounds(loss, p["k"], p["depth"]).riemannian


def run_factor_descent(p: Mapping, seed: np.random.SeedSequence) -> dict:
    """Gradient descent on balanced layers (kind ``"factor_descent"``)."""
    from riemlin.dynamics.layers import factor_gradient_descent

    loss, _, layers = draw_problem(p, seed)
    n = p["n_steps"]
    bound = _step_bound(loss, p, layers=True)
    res = factor_gradient_descent(layers, loss, p["step"], n, record_every=max(n, 1))
    if res.status != 0:
        out = _failed(_FACTOR_RECORDS, res.status, res.message, loss, p)
        out.update(step_bound=bound)
        return out
    out = _measure(res.W[-1], res.factors, loss, p, float(res.loss[0]))
    out.update(
        imbalance_drift=float(res.imbalance_drift[-1]),
        step_bound=bound,
        status=0,
        message=res.message,
    )
    return out


def run_riemannian_descent(p: Mapping, seed: np.random.SeedSequence) -> dict:
    """Riemannian gradient descent on ``M_k`` (kind ``"riemannian_descent"``)."""
    from riemlin.dynamics.riemannian import riemannian_gradient_descent

    loss, W0, _ = draw_problem(p, seed)
    bound = _step_bound(loss, p, layers=False)
    res = riemannian_gradient_descent(
        W0, loss, p["depth"], p["step"], p["n_steps"], k=p["k"], output="point"
    )
    if res.status != 0:
        out = _failed(_RIEMANNIAN_RECORDS, res.status, res.message, loss, p)
        out.update(step_bound=bound)
        return out
    u, s, vt = res.points[-1]
    out = _measure((u * s) @ vt, None, loss, p, float(res.loss[0]))
    out.update(step_bound=bound, status=0, message=res.message)
    return out


_FACTOR_RECORDS = _MEASURES + ("imbalance_drift", "step_bound")
_RIEMANNIAN_RECORDS = _MEASURES + ("step_bound",)


_FLOWS = dict(
    _PROBLEM,
    t_end=Param(float, 5.0, 0.0, doc="end time of both flows"),
    n_times=Param(int, 21, 2, doc="number of output times in [0, t_end]"),
    rtol=Param(float, 1e-9, 0.0, doc="tolerance of both integrators"),
    formulation=Param(
        str, "manifold", choices=("manifold", "dense"), doc="coordinates of the Riemannian flow"
    ),
)


def _check_flows(p) -> None:
    _check_problem(p)
    if not p["t_end"] > 0 or not 0 < p["rtol"] < 1:
        raise ValueError(f"t_end must be > 0 and rtol in (0, 1); got {p['t_end']}, {p['rtol']}")


def run_compare_flows(p: Mapping, seed: np.random.SeedSequence) -> dict:
    """Layer flow against Riemannian flow (kind ``"compare_flows"``)."""
    from riemlin.dynamics.equivalence import compare_flows

    loss, _, layers = draw_problem(p, seed)
    cmp = compare_flows(
        layers,
        loss,
        np.linspace(0.0, p["t_end"], p["n_times"]),
        formulation=p["formulation"],
        rtol=p["rtol"],
        atol=p["rtol"] * 1e-3,
    )
    records = _MEASURES + ("mismatch", "imbalance_drift", "final_loss_riemannian")
    fac, riem = cmp.factor_result, cmp.riemannian_result
    if fac.status != 0 or riem.status != 0:
        bad = fac if fac.status != 0 else riem
        which = "layer flow" if bad is fac else "Riemannian flow"
        return _failed(records, bad.status, f"{which}: {bad.message}", loss, p)
    out = _measure(fac.W[-1], fac.factors, loss, p, float(fac.loss[0]))
    out.update(
        mismatch=cmp.max_relative_mismatch,
        imbalance_drift=float(np.max(cmp.imbalance_drift)),
        final_loss_riemannian=float(cmp.loss_riemannian[-1]),
        status=0,
        message=fac.message,
    )
    return out


register_kind(
    RunKind(
        "factor_descent",
        run_factor_descent,
        _DESCENT,
        _FACTOR_RECORDS,
        _DRAWS,
        _check_descent,
        "gradient descent on balanced layers (riemlin.factor_gradient_descent)",
    )
)
register_kind(
    RunKind(
        "riemannian_descent",
        run_riemannian_descent,
        _DESCENT,
        _RIEMANNIAN_RECORDS,
        _DRAWS,
        _check_descent,
        "Riemannian gradient descent on M_k (riemlin.riemannian_gradient_descent)",
    )
)
register_kind(
    RunKind(
        "compare_flows",
        run_compare_flows,
        _FLOWS,
        _MEASURES + ("mismatch", "imbalance_drift", "final_loss_riemannian"),
        _DRAWS,
        _check_flows,
        "layer flow vs Riemannian flow from one balanced start (riemlin.compare_flows)",
    )
)
