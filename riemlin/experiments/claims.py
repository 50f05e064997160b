r"""Run kinds for claims beyond the equivalence theorem (registered on import).

* ``"flatness"``: gradient descent on the layers against their gradient flow from the
  same start, with the step given as a multiple of ``2 / sharpness`` of the flow's limit
  (Beneventano and Woodworth, arXiv:2501.09137: descent converges linearly even near that
  step, reduces the imbalance the flow conserves, and ends at a flatter minimizer of lower
  norm; larger steps regularize more but converge more slowly).
* ``"imbalance_rate"``: two layers of hidden width ``k = min(m, n)`` with imbalance
  :math:`\lambda I`; the linear rate of their flow and of descent against
  :math:`\lambda` (Xu, Min, Tarmoun, Mallada, Vidal, AISTATS 2023; Tarmoun et al., ICML
  2021).
* ``"imbalance_departure"``: balanced layers moved along the fibre of the product map
  (:func:`riemlin.networks.imbalanced.fibre_move`); how far the layer flow's product
  leaves the balanced Riemannian flow as the imbalance grows.
* ``"balancedness"``: descent from :math:`\delta`-balanced layers; the largest imbalance
  along the run in units of :math:`\delta` (Arora, Cohen, Golowich, Hu, arXiv:1810.02281:
  iterates stay :math:`2\delta`-balanced under their step bound).

Each kind returns ``status`` and ``message`` as the built-in ones; the user guide chapter
"Claims beyond the theorem" shows the shipped sweeps and their figures.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from riemlin.experiments.kinds import Param, RunKind, register_kind

__all__ = [
    "draw_layers",
    "run_flatness",
    "run_imbalance_rate",
    "run_imbalance_departure",
    "run_balancedness",
]

_LAYERS = {
    "m": Param(int, 1, 1, doc="output dimension d_N"),
    "n": Param(int, 1, 1, doc="input dimension d_0"),
    "depth": Param(int, 2, 1, doc="number of layers N"),
    "width": Param(int, 8, 1, doc="hidden width d_1 = ... = d_{N-1}"),
    "phi": Param(float, 1.0, 0.0, doc="spectral norm of the target Phi (X = I)"),
    "scale": Param(float, 1.0, 0.0, doc="entries of W_j ~ N(0, scale^2 / d_{j-1})"),
    "tilt": Param(float, 0.0, doc="imbalance: W_N *= e^tilt, W_1 *= e^-tilt"),
}
_LAYER_DRAWS = ("m", "n", "depth", "width")


def draw_layers(p: Mapping, seed) -> tuple:
    r"""The seeded whitened problem and Gaussian layers of the kinds here.

    Draws, in this order, the target :math:`\Phi \in \mathbb R^{m\times n}` (standard
    Gaussian, scaled to spectral norm ``phi``) and layers with entries
    :math:`\mathcal N(0, \text{scale}^2 / d_{j-1})`; then :math:`W_N \to e^{t} W_N`,
    :math:`W_1 \to e^{-t} W_1` with ``t = tilt`` (``N >= 2``), which keeps the product and
    tilts the imbalance. The loss is :math:`\tfrac12\|W - \Phi\|_F^2` (``X = I``).

    Parameters
    ----------
    p : mapping
        ``m, n, depth, width, phi, scale, tilt``.
    seed : numpy.random.SeedSequence
        Seed of the draws.

    Returns
    -------
    loss : RegressionLoss
        :math:`\tfrac12\|W - \Phi\|_F^2`.
    layers : list of ndarray
        ``[W_1, ..., W_N]``.
    """
    from riemlin.losses import RegressionLoss

    rng = np.random.default_rng(seed)
    m, n, N = p["m"], p["n"], p["depth"]
    Phi = rng.standard_normal((m, n))
    Phi *= p["phi"] / np.linalg.norm(Phi, 2)
    widths = (n,) + (p["width"],) * (N - 1) + (m,)
    F = [
        rng.standard_normal((widths[j + 1], widths[j])) * (p["scale"] / np.sqrt(widths[j]))
        for j in range(N)
    ]
    if N >= 2:
        F[0] *= np.exp(-p["tilt"])
        F[-1] *= np.exp(p["tilt"])
    return RegressionLoss(np.eye(n), Phi), F


def _imbalance_size(F) -> float:
    from riemlin.networks.balance import imbalance

    return max((float(np.linalg.norm(D)) for D in imbalance(F)), default=0.0)


def _norm(F) -> float:
    return float(np.sqrt(sum(np.sum(W * W) for W in F)))


def _fail(records, status, message, **known) -> dict:
    out = dict.fromkeys(records, float("nan"))
    out.update(known, status=int(status), message=message)
    return out


# ---------------------------------------------------------------------- flatness
_FLATNESS = dict(
    _LAYERS,
    step_ratio=Param(
        float, 0.5, 0.0, doc="step = step_ratio * 2 / (sharpness of the flow's limit)"
    ),
    n_steps=Param(int, 1500, 1, doc="number of descent steps"),
    t_end=Param(float, 100.0, 0.0, doc="end time of the gradient flow"),
    tol=Param(float, 1e-10, 0.0, doc="relative excess loss that counts as converged"),
)
_FLATNESS_RECORDS = (
    "step_size",
    "sharpness_start",
    "gf_sharpness",
    "gf_norm",
    "imbalance_start",
    "limit_sharpness",
    "limit_norm",
    "limit_imbalance",
    "sharpness_ratio",
    "norm_ratio",
    "imbalance_ratio",
    "edge_ratio",
    "rate",
    "steps_to_tol",
    "final_excess",
)


def run_flatness(p: Mapping, seed) -> dict:
    """Descent against flow from one start (kind ``"flatness"``).

    Parameters
    ----------
    p : mapping
        The run's parameters (the kind's :class:`~riemlin.experiments.Param` names).
    seed : numpy.random.SeedSequence
        Seed of the run's draws.

    Returns
    -------
    dict
        Every record of the kind, ``status`` and ``message``.
    """
    from riemlin.dynamics.layers import factor_gradient_descent, factor_gradient_flow
    from riemlin.dynamics.measures import linear_rate, steps_to_tolerance
    from riemlin.networks.sharpness import layer_sharpness

    loss, F = draw_layers(p, seed)
    rng = np.random.default_rng(0)
    _, optimum = loss.optimum(min(p["m"], p["n"], p["width"]))
    known = dict(sharpness_start=layer_sharpness(F, loss, rng), imbalance_start=_imbalance_size(F))
    flow = factor_gradient_flow(F, loss, [0.0, p["t_end"]])
    if flow.status != 0:
        return _fail(_FLATNESS_RECORDS, flow.status, f"gradient flow: {flow.message}", **known)
    gf_sharp = layer_sharpness(flow.factors, loss, rng)
    known.update(gf_sharpness=gf_sharp, gf_norm=_norm(flow.factors))
    step = p["step_ratio"] * 2.0 / gf_sharp
    known["step_size"] = step
    res = factor_gradient_descent(F, loss, step, p["n_steps"])
    if res.status != 0:
        return _fail(_FLATNESS_RECORDS, res.status, res.message, **known)
    excess = np.maximum(res.loss - optimum, 0.0)
    sharp = layer_sharpness(res.factors, loss, rng)
    floor = 1e3 * np.finfo(float).eps * max(res.loss[0], 1.0)
    return dict(
        known,
        limit_sharpness=sharp,
        limit_norm=_norm(res.factors),
        limit_imbalance=_imbalance_size(res.factors),
        sharpness_ratio=sharp / gf_sharp,
        norm_ratio=_norm(res.factors) / known["gf_norm"],
        imbalance_ratio=_imbalance_size(res.factors) / known["imbalance_start"],
        edge_ratio=step * sharp / 2.0,
        rate=linear_rate(np.arange(excess.size), excess, floor),
        steps_to_tol=steps_to_tolerance(excess, p["tol"]),
        final_excess=float(excess[-1]),
        status=0,
        message=res.message,
    )


# ---------------------------------------------------------------------- imbalance rate
_RATE = {
    "m": Param(int, 3, 1, doc="output dimension"),
    "n": Param(int, 5, 1, doc="input dimension"),
    "samples": Param(int, 20, 1, doc="number of samples"),
    "scale": Param(float, 0.3, 0.0, doc="size of the start W0 (riemlin.losses.random_regression)"),
    "lam": Param(float, 0.0, doc="imbalance W_2^T W_2 - W_1 W_1^T = lam I (hidden width k)"),
    "t_end": Param(float, 30.0, 0.0, doc="end time of the flow"),
    "n_times": Param(int, 301, 3, doc="output times of the flow"),
    "step": Param(float, 0.02, 0.0, doc="step size of descent"),
    "n_steps": Param(int, 1500, 1, doc="number of descent steps"),
}
_RATE_RECORDS = ("rate_flow", "rate_descent", "metric_floor", "imbalance", "final_excess")


def run_imbalance_rate(p: Mapping, seed) -> dict:
    """Linear rates of two imbalanced layers (kind ``"imbalance_rate"``).

    Parameters
    ----------
    p : mapping
        The run's parameters (the kind's :class:`~riemlin.experiments.Param` names).
    seed : numpy.random.SeedSequence
        Seed of the run's draws.

    Returns
    -------
    dict
        Every record of the kind, ``status`` and ``message``.
    """
    from riemlin.dynamics.layers import factor_gradient_descent, factor_gradient_flow
    from riemlin.dynamics.measures import linear_rate
    from riemlin.geometry.imbalanced import imbalanced_weights
    from riemlin.losses import random_regression
    from riemlin.networks.imbalanced import imbalanced_factors

    rng = np.random.default_rng(seed)
    m, n = p["m"], p["n"]
    k = min(m, n)
    loss, W0 = random_regression(m, n, k, p["samples"], rng, scale=p["scale"])
    F = imbalanced_factors(W0, p["lam"], rng)
    W_star, optimum = loss.optimum(k)
    mu, nu = imbalanced_weights(np.linalg.svd(W_star, compute_uv=False)[:k], p["lam"])
    # smallest weight of A^lam at the optimum on the blocks that exist (Up if m > k,
    # Vp if n > k, the core always)
    floors = [np.min(nu[:, None] + mu[None, :])]
    floors += [np.min(mu)] if m > k else []
    floors += [np.min(nu)] if n > k else []
    known = dict(metric_floor=float(min(floors)), imbalance=float(abs(p["lam"]) * np.sqrt(k)))
    flow = factor_gradient_flow(F, loss, np.linspace(0.0, p["t_end"], p["n_times"]))
    desc = factor_gradient_descent(F, loss, p["step"], p["n_steps"])
    bad = flow if flow.status != 0 else desc
    if bad.status != 0:
        return _fail(_RATE_RECORDS, bad.status, bad.message, **known)
    floor = 1e3 * np.finfo(float).eps * max(flow.loss[0], 1.0)
    return dict(
        known,
        rate_flow=linear_rate(flow.t, flow.loss - optimum, floor),
        rate_descent=linear_rate(desc.t, desc.loss - optimum, floor),
        final_excess=float(desc.loss[-1] - optimum),
        status=0,
        message=desc.message,
    )


# ---------------------------------------------------------------------- departure
_DEPARTURE = {
    "m": Param(int, 3, 1, doc="output dimension"),
    "n": Param(int, 4, 1, doc="input dimension"),
    "k": Param(int, 2, 1, doc="rank of the start and hidden width"),
    "depth": Param(int, 2, 2, doc="number of layers"),
    "samples": Param(int, 10, 1, doc="number of samples"),
    "scale": Param(float, 1.0, 0.0, doc="size of the start W0"),
    "strength": Param(float, 0.1, 0.0, doc="fibre move exp(strength S) away from balance"),
    "t_end": Param(float, 3.0, 0.0, doc="end time of both flows"),
    "n_times": Param(int, 16, 2, doc="output times"),
}
_DEPARTURE_RECORDS = ("imbalance_norm", "relative_imbalance", "mismatch", "final_mismatch")


def run_imbalance_departure(p: Mapping, seed) -> dict:
    """Layer flow from fibre-moved layers against the balanced flow (``"imbalance_departure"``).

    Parameters
    ----------
    p : mapping
        The run's parameters (the kind's :class:`~riemlin.experiments.Param` names).
    seed : numpy.random.SeedSequence
        Seed of the run's draws.

    Returns
    -------
    dict
        Every record of the kind, ``status`` and ``message``.
    """
    from riemlin.dynamics.equivalence import compare_flows
    from riemlin.losses import random_regression
    from riemlin.networks.balance import balanced_factors, imbalance_norm
    from riemlin.networks.imbalanced import fibre_move

    rng = np.random.default_rng(seed)
    m, n, k = p["m"], p["n"], p["k"]
    loss, W0 = random_regression(m, n, k, p["samples"], rng, scale=p["scale"])
    F = balanced_factors(W0, (n,) + (k,) * (p["depth"] - 1) + (m,), rng=rng)
    F = fibre_move(F, p["strength"], rng)
    known = dict(imbalance_norm=_imbalance_size(F), relative_imbalance=imbalance_norm(F))
    cmp = compare_flows(factors=F, loss=loss, t_eval=np.linspace(0.0, p["t_end"], p["n_times"]))
    for res, which in ((cmp.factor_result, "layer flow"), (cmp.riemannian_result, "Riemannian")):
        if res.status != 0:
            return _fail(_DEPARTURE_RECORDS, res.status, f"{which}: {res.message}", **known)
    return dict(
        known,
        mismatch=cmp.max_relative_mismatch,
        final_mismatch=float(cmp.mismatch[-1]),
        status=0,
        message=cmp.factor_result.message,
    )


# ---------------------------------------------------------------------- balancedness
_BALANCE = {
    "m": Param(int, 3, 1, doc="output dimension"),
    "n": Param(int, 3, 1, doc="input dimension"),
    "depth": Param(int, 3, 2, doc="number of layers"),
    "width": Param(int, 3, 1, doc="hidden width"),
    "phi": Param(float, 1.0, 0.0, doc="largest singular value of the target (X = I)"),
    "strength": Param(float, 0.01, 0.0, doc="fibre move that sets the start's imbalance delta"),
    "step": Param(float, 0.01, 0.0, doc="step size"),
    "n_steps": Param(int, 300, 1, doc="number of steps"),
}
_BALANCE_RECORDS = (
    "delta",
    "max_imbalance",
    "balance_ratio",
    "margin",
    "arora_step",
    "arora_delta",
    "final_excess",
)


def run_balancedness(p: Mapping, seed) -> dict:
    """Imbalance along descent from delta-balanced layers (kind ``"balancedness"``).

    The target has singular values evenly spaced from ``phi`` down to ``phi / 2`` on
    random frames, and the start ``W0`` lies at distance ``phi / 4`` from it (deficiency
    margin ``phi / 4``, Arora et al.'s Definition 2); the layers are balanced over ``W0``
    and then moved along the fibre by ``strength``.

    Parameters
    ----------
    p : mapping
        The run's parameters (the kind's :class:`~riemlin.experiments.Param` names).
    seed : numpy.random.SeedSequence
        Seed of the run's draws.

    Returns
    -------
    dict
        Every record of the kind, ``status`` and ``message``.
    """
    from riemlin.dynamics.measures import descent_trace
    from riemlin.losses import RegressionLoss
    from riemlin.networks.balance import balanced_factors
    from riemlin.networks.imbalanced import fibre_move
    from riemlin.theory.arora import arora_theorem1, deficiency_margin

    rng = np.random.default_rng(seed)
    m, n = p["m"], p["n"]
    r = min(m, n)
    frames = (
        np.linalg.qr(rng.standard_normal((m, r)))[0],
        np.linalg.qr(rng.standard_normal((n, r)))[0],
    )
    smin = p["phi"] / 2
    Phi = (frames[0] * np.linspace(p["phi"], smin, r)) @ frames[1].T
    E = rng.standard_normal((m, n))
    W0 = Phi + 0.5 * smin * E / np.linalg.norm(E)  # deficiency margin smin / 2
    widths = (n,) + (p["width"],) * (p["depth"] - 1) + (m,)
    F = fibre_move(balanced_factors(W0, widths, rng=rng), p["strength"], rng)
    c = deficiency_margin(W0, Phi)
    bounds = arora_theorem1(Phi, c, p["depth"]) if c > 0 else None
    loss = RegressionLoss(np.eye(n), Phi)
    delta = _imbalance_size(F)
    known = dict(
        delta=delta,
        margin=c,
        arora_step=np.nan if bounds is None else bounds.step,
        arora_delta=np.nan if bounds is None else bounds.delta,
    )
    trace = descent_trace(F, loss, p["step"], p["n_steps"], sharpness=False)
    if trace.status != 0:
        return _fail(_BALANCE_RECORDS, trace.status, "descent diverged", **known)
    worst = float(np.max(trace.imbalance))
    return dict(
        known,
        max_imbalance=worst,
        balance_ratio=worst / delta if delta > 0 else np.inf,
        final_excess=float(trace.loss[-1]),
        status=0,
        message=f"{p['n_steps']} steps done.",
    )


# ---------------------------------------------------------------------- registration
register_kind(
    RunKind(
        "flatness",
        run_flatness,
        _FLATNESS,
        _FLATNESS_RECORDS,
        _LAYER_DRAWS,
        None,
        "descent vs flow from one start: limit sharpness, norm, imbalance, rate",
    )
)
register_kind(
    RunKind(
        "imbalance_rate",
        run_imbalance_rate,
        _RATE,
        _RATE_RECORDS,
        ("m", "n", "samples"),
        None,
        "linear rate of two layers with imbalance lam I (flow and descent)",
    )
)
register_kind(
    RunKind(
        "imbalance_departure",
        run_imbalance_departure,
        _DEPARTURE,
        _DEPARTURE_RECORDS,
        ("m", "n", "k", "samples", "depth"),
        None,
        "how far the layer flow from imbalanced layers leaves the balanced Riemannian flow",
    )
)
register_kind(
    RunKind(
        "balancedness",
        run_balancedness,
        _BALANCE,
        _BALANCE_RECORDS,
        ("m", "n", "depth", "width"),
        None,
        "largest imbalance along descent from delta-balanced layers, in units of delta",
    )
)
