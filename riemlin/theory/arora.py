r"""Arora, Cohen, Golowich, Hu: linear convergence of gradient descent (arXiv:1810.02281).

Setting: whitened data, so up to an additive constant the loss is
:math:`L(W) = \tfrac12\|W - \Phi\|_F^2`; hidden widths :math:`\ge \min(d_0, d_N)`.

* Definition 1: layers are :math:`\delta`-balanced if
  :math:`\|W_{j+1}^\top W_{j+1} - W_j W_j^\top\|_F \le \delta` for all ``j``.
* Definition 2: ``W`` has deficiency margin :math:`c > 0` with respect to :math:`\Phi` if
  :math:`\|W - \Phi\|_F \le \sigma_{\min}(\Phi) - c`.
* Theorem 1: a margin :math:`c > 0`, :math:`\delta`-balanced start and a small step give
  :math:`\ell(T) \le \epsilon` after :math:`T \ge \ln(\ell(0)/\epsilon) /
  (\eta c^{2(N-1)/N})` steps. Through Lemma 1 every step satisfies
  :math:`\ell(t+1) \le (1 - \eta\,\sigma_{\min}(W(t))^{2(N-1)/N})\,\ell(t)`, and (in the
  proof of Theorem 1) the iterates stay :math:`2\delta`-balanced.

Confirmed against the paper's text (ICLR 2019 version): the two definitions, Theorem 1
with its constants (256 in :math:`\delta`, 6144 in the step bound, the factors
:math:`N^3`, the Frobenius norm :math:`\|\Phi\|_F` with the exponents
:math:`2(N-1)/N` and :math:`(6N-4)/N`, the power :math:`(4N-2)/N` of :math:`c`) and its
iteration count, Lemma 1, Procedure 1 and Theorem 2.

Their counterexample (a margin is needed; Claim 5): :func:`arora_counterexample`.

Procedure 1 (balanced initialization) is :func:`riemlin.networks.balanced_initialization`;
for its end-to-end matrix :math:`A` (iid :math:`\mathcal N(0, s^2)` entries) the
probability of a margin :math:`\ge c` is a noncentral chi-square cdf (*derived* in the
user guide, section "The margin probability of balanced initialization"; see
:func:`margin_probability`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.stats import ncx2

from riemlin._validation import (
    as_generator,
    check_array,
    check_factors,
    check_int,
    check_nonnegative,
    check_positive,
)
from riemlin.losses import RegressionLoss
from riemlin.networks.balance import balanced_initialization, imbalance

__all__ = [
    "AroraBounds",
    "AroraCounterexample",
    "arora_counterexample",
    "arora_iterations",
    "arora_step_ratios",
    "arora_theorem1",
    "balancedness",
    "deficiency_margin",
    "margin_probability",
    "margin_probability_mc",
]

#: Constants of Theorem 1 (confirmed against the ICLR 2019 version of the paper).
DELTA_CONSTANT = 256.0
STEP_CONSTANT = 6144.0


class AroraBounds(NamedTuple):
    """Quantities of Arora et al.'s Theorem 1 for a target, a margin and a depth.

    Attributes
    ----------
    delta : float
        Required balancedness :math:`c^2 / (256 N^3 \\|\\Phi\\|_F^{2(N-1)/N})`.
    step : float
        Step bound :math:`c^{(4N-2)/N} / (6144 N^3 \\|\\Phi\\|_F^{(6N-4)/N})`.
    rate : float
        :math:`c^{2(N-1)/N}`; the excess loss contracts by at least
        :math:`1 - \\eta \\cdot` ``rate`` per step.
    """

    delta: float
    step: float
    rate: float


def _target(target, name="target"):
    return check_array(target, name, ndim=2)


def deficiency_margin(W, target) -> float:
    r"""The largest :math:`c` with :math:`\|W - \Phi\|_F \le \sigma_{\min}(\Phi) - c`.

    ``W`` has a deficiency margin (Arora et al., Definition 2) iff the value is positive;
    then every matrix at least as close to :math:`\Phi` has
    :math:`\sigma_{\min} \ge c` (Weyl's inequality).

    Parameters
    ----------
    W, target : array_like, shape (m, n)
        End-to-end matrix and target :math:`\Phi`.

    Returns
    -------
    float
        :math:`\sigma_{\min}(\Phi) - \|W - \Phi\|_F` (:math:`\sigma_{\min}` over the
        ``min(m, n)`` singular values).

    Raises
    ------
    ValueError
        If the shapes differ or entries are not finite.

    References
    ----------
    Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Definition 2.
    """
    W = check_array(W, "W", ndim=2)
    Phi = _target(target)
    if W.shape != Phi.shape:
        raise ValueError(f"W has shape {W.shape} but target has shape {Phi.shape}")
    smin = np.linalg.svd(Phi, compute_uv=False)[-1]
    return float(smin - np.linalg.norm(W - Phi))


def balancedness(factors) -> float:
    r"""The least :math:`\delta` for which the layers are :math:`\delta`-balanced.

    :math:`\max_j \|W_{j+1}^\top W_{j+1} - W_j W_j^\top\|_F` (Arora et al., Definition 1);
    ``0.0`` for a single layer. Unlike :func:`riemlin.networks.imbalance_norm` it is not
    relative to the size of the layers.

    Parameters
    ----------
    factors : list of ndarray
        The layers ``[W_1, ..., W_N]``, ``W_j`` of shape ``(d_j, d_{j-1})``.

    Returns
    -------
    float
        :math:`\max_j \|W_{j+1}^\top W_{j+1} - W_j W_j^\top\|_F \ge 0`.

    Raises
    ------
    TypeError
        If ``factors`` is not a list of arrays of real numbers.
    ValueError
        If ``factors`` is empty, an entry is not 2-D or not finite, or the shapes do not
        chain.

    References
    ----------
    Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Definition 1.
    """
    D = imbalance(check_factors(factors))
    return float(max((np.linalg.norm(d) for d in D), default=0.0))


def arora_theorem1(target, margin: float, depth: int) -> AroraBounds:
    r"""Balancedness, step bound and rate of Arora et al.'s Theorem 1.

    .. math::

        \delta = \frac{c^2}{256\, N^3 \|\Phi\|_F^{2(N-1)/N}}, \qquad
        \eta \le \frac{c^{(4N-2)/N}}{6144\, N^3 \|\Phi\|_F^{(6N-4)/N}}, \qquad
        \text{rate} = c^{2(N-1)/N}.

    The constants 256 and 6144, the powers and the rate :math:`c^{2(N-1)/N}` are those of
    the paper's Theorem 1 (confirmed against its ICLR 2019 version).

    Parameters
    ----------
    target : array_like, shape (m, n)
        :math:`\Phi`.
    margin : float
        Deficiency margin :math:`c > 0`, at most :math:`\sigma_{\min}(\Phi)`.
    depth : int
        :math:`N \ge 1`.

    Returns
    -------
    AroraBounds
        ``delta`` (the balancedness required), ``step`` (the largest step allowed) and
        ``rate`` (the per-step contraction factor :math:`c^{2(N-1)/N}`).

    Raises
    ------
    TypeError
        If ``target`` is not an array of real numbers, ``margin`` not a real number or
        ``depth`` not an int.
    ValueError
        If ``margin`` is not in :math:`(0, \sigma_{\min}(\Phi)]`, ``depth < 1``, or
        ``target`` is not 2-D or not finite.

    References
    ----------
    Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Theorem 1 and Lemma 1.
    """
    Phi = _target(target)
    N = check_int(depth, "depth")
    smin = np.linalg.svd(Phi, compute_uv=False)[-1]
    c = check_positive(margin, "margin")
    if not c <= smin:
        raise ValueError(f"margin must be in (0, sigma_min(target) = {smin:.6g}]; got {margin!r}")
    # In logarithms: ||Phi||_F and the powers overflow for entries near 1e300 although
    # the bounds themselves are representable (or underflow to 0, which is their value).
    scale = float(np.max(np.abs(Phi)))
    log_fro = np.log(scale) + np.log(np.linalg.norm(Phi / scale))
    log_c, log_n3 = np.log(c), 3.0 * np.log(N)
    with np.errstate(over="ignore", under="ignore"):
        delta = np.exp(2 * log_c - np.log(DELTA_CONSTANT) - log_n3 - 2 * (N - 1) / N * log_fro)
        step = np.exp(
            (4 * N - 2) / N * log_c - np.log(STEP_CONSTANT) - log_n3 - (6 * N - 4) / N * log_fro
        )
        rate = np.exp(2 * (N - 1) / N * log_c)
    return AroraBounds(float(delta), float(step), float(rate))


def arora_iterations(excess0: float, eps: float, step: float, margin: float, depth: int) -> int:
    r"""Iterations after which Theorem 1 guarantees :math:`\ell(T) \le \epsilon`.

    :math:`T = \lceil \ln(\ell(0)/\epsilon) / (\eta\, c^{2(N-1)/N}) \rceil` (``0`` if
    :math:`\ell(0) \le \epsilon`), from :math:`\ell(T) \le (1 - \eta c^{2(N-1)/N})^T
    \ell(0) \le e^{-\eta c^{2(N-1)/N} T}\ell(0)` (the last step of the proof of Theorem 1).

    Parameters
    ----------
    excess0 : float
        :math:`\ell(0) = \tfrac12\|W(0) - \Phi\|_F^2`, the loss above its minimum.
    eps : float
        Target accuracy :math:`\epsilon > 0`.
    step, margin : float
        :math:`\eta > 0` and :math:`c > 0`.
    depth : int
        :math:`N`.

    Returns
    -------
    int
        The guaranteed iteration count :math:`T` (``0`` if :math:`\ell(0) \le \epsilon`,
        at least ``1`` otherwise).

    Raises
    ------
    TypeError, ValueError
        If an argument is not a positive finite number (``depth`` a positive int), or
        the bound exceeds :math:`2^{53}` iterations.

    References
    ----------
    Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Theorem 1.
    """
    N = check_int(depth, "depth")
    excess0, eps, step, margin = (
        check_positive(x, name)
        for name, x in (("excess0", excess0), ("eps", eps), ("step", step), ("margin", margin))
    )
    if excess0 <= eps:
        return 0
    # T = ln(l0/eps) / (eta c^p); checked in logarithms first, because eta c^p underflows
    # and l0 / eps overflows for extreme (but valid) arguments.
    power = 2 * (N - 1) / N
    log_ratio = math.log(excess0) - math.log(eps)
    log_T = math.log(log_ratio) - math.log(step) - power * math.log(margin)
    if log_T >= math.log(2.0**53):
        raise ValueError(
            f"step={step:g} and margin={margin:g} give a bound of about "
            f"10^{log_T / math.log(10):.4g} iterations, beyond the integers a float holds "
            "exactly (2^53): the theorem guarantees nothing useful for them"
        )
    if log_T < 0:  # T < 1
        return 1
    try:
        rate = step * margin**power
    except OverflowError:
        rate = math.inf
    if 0 < rate < math.inf and math.isfinite(excess0 / eps):
        return math.ceil(math.log(excess0 / eps) / rate)
    return math.ceil(math.exp(log_T))


def arora_step_ratios(Ws, target, step: float, depth: int) -> np.ndarray:
    r"""Per-step ratios of Lemma 1: each must be :math:`\le 1` under Theorem 1.

    .. math::

        r_t = \frac{\ell(t+1)}{(1 - \eta\,\sigma_{\min}(W(t))^{2(N-1)/N})\,\ell(t)},
        \qquad \ell(t) = \tfrac12\|W(t) - \Phi\|_F^2 .

    Parameters
    ----------
    Ws : ndarray, shape (T, m, n)
        Consecutive end-to-end matrices of a descent run (``record_every=1``).
    target : array_like, shape (m, n)
        :math:`\Phi`.
    step : float
        The step :math:`\eta` of the run.
    depth : int
        :math:`N`.

    Returns
    -------
    ndarray, shape (T - 1,)
        :math:`r_0, \dots, r_{T-2}`; a ratio above 1 is a step that Lemma 1's bound does
        not cover.

    Raises
    ------
    TypeError
        If ``Ws`` or ``target`` is not an array of real numbers or ``depth`` not an int.
    ValueError
        If ``Ws`` is not 3-D, holds matrices of another shape than ``target``, or has
        non-finite entries, or ``depth < 1``.

    References
    ----------
    Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Lemma 1 (with
    :math:`\|\nabla L\|_F^2 = 2\ell` for the whitened loss).
    """
    Phi = _target(target)
    Ws = check_array(Ws, "Ws", ndim=3)
    if Ws.shape[1:] != Phi.shape:
        raise ValueError(f"Ws holds {Ws.shape[1:]} matrices but target is {Phi.shape}")
    N = check_int(depth, "depth")
    ell = 0.5 * np.sum((Ws - Phi) ** 2, axis=(1, 2))
    smin = np.linalg.svd(Ws, compute_uv=False)[:, -1]
    factor = 1.0 - step * smin ** (2 * (N - 1) / N)
    return ell[1:] / (factor[:-1] * ell[:-1])


def margin_probability(target, scale: float, margin: float = 0.0) -> float:
    r"""Probability that an iid :math:`\mathcal N(0, s^2)` matrix has margin :math:`\ge c`.

    *Derived* (user guide, section "The margin probability of balanced
    initialization"; the paper bounds this probability differently):
    :math:`\|A - \Phi\|_F^2 / s^2` is noncentral
    chi-square with :math:`d_0 d_N` degrees of freedom and noncentrality
    :math:`\|\Phi\|_F^2 / s^2`, so

    .. math::

        P(\text{margin} \ge c) = F_{\chi'^2}\big((\sigma_{\min}(\Phi) - c)^2 / s^2;\
        d_0 d_N,\ \|\Phi\|_F^2 / s^2\big)

    (zero if :math:`c \ge \sigma_{\min}(\Phi)`). For :math:`d_N = 1` it tends to 1/2 as
    :math:`s \to 0` (Arora et al.'s Theorem 2 guarantees any probability below 1/2); for
    :math:`\operatorname{rank}\Phi \ge 2` it tends to 0. Balanced initialization
    (Procedure 1) has exactly this end-to-end matrix.

    Parameters
    ----------
    target : array_like, shape (d_N, d_0)
        :math:`\Phi`.
    scale : float
        :math:`s > 0`.
    margin : float, default 0
        :math:`c \ge 0`.

    Returns
    -------
    float
        :math:`P(\text{margin} \ge c)` in :math:`[0, 1]`.

    Raises
    ------
    TypeError
        If ``target`` is not an array of real numbers or ``scale``, ``margin`` not real
        numbers.
    ValueError
        If ``scale`` is not positive and finite, ``margin`` negative or not finite,
        ``target`` not 2-D or not finite, or the chi-square arguments overflow.

    References
    ----------
    Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1 and Theorem 2.
    """
    Phi = _target(target)
    scale = check_positive(scale, "scale")
    margin = check_nonnegative(margin, "margin")
    smin = np.linalg.svd(Phi, compute_uv=False)[-1]
    if margin >= smin:
        return 0.0
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        nc = np.float64(np.linalg.norm(Phi)) ** 2 / np.float64(scale) ** 2
        x = (np.float64(smin) - margin) ** 2 / np.float64(scale) ** 2
    if not (np.isfinite(nc) and np.isfinite(x)):
        raise ValueError(
            f"scale={scale:g}: (sigma_min - margin)^2 / scale^2 or ||target||^2 / scale^2 "
            "overflows; the noncentral chi-square cannot be evaluated there"
        )
    return float(ncx2.cdf(x, Phi.size, nc))


def margin_probability_mc(
    target, widths, scale: float, n_samples: int, rng=None, margin: float = 0.0
) -> float:
    r"""Monte Carlo estimate of :func:`margin_probability` through Procedure 1.

    Draws ``n_samples`` balanced initializations
    (:func:`riemlin.networks.balanced_initialization` with ``frames="canonical"``, exactly
    Procedure 1) and returns the fraction whose end-to-end matrix has margin
    ``>= margin``.

    Parameters
    ----------
    target : array_like, shape (d_N, d_0)
        :math:`\Phi`.
    widths : sequence of int
        ``(d_0, ..., d_N)``.
    scale : float
        Standard deviation :math:`s` of the entries of :math:`A`.
    n_samples : int
        Number of initializations drawn; the standard error of the estimate is
        :math:`\sqrt{p(1-p)/n}`.
    rng : None, int, SeedSequence or Generator
        Source of the initializations.
    margin : float, default 0
        The margin :math:`c` an initialization must reach.

    Returns
    -------
    float
        The fraction of draws whose deficiency margin is at least ``margin``.

    Raises
    ------
    TypeError
        If ``target`` is not an array of real numbers, ``n_samples`` not an int, or
        ``widths``, ``scale`` or ``rng`` of the wrong type.
    ValueError
        If ``widths`` does not start with ``d_0`` and end with ``d_N`` of ``target``,
        ``n_samples < 1``, or :func:`riemlin.networks.balanced_initialization` refuses
        ``widths`` or ``scale``.

    References
    ----------
    Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1.
    """
    Phi = _target(target)
    n_samples = check_int(n_samples, "n_samples")
    if tuple(widths)[0] != Phi.shape[1] or tuple(widths)[-1] != Phi.shape[0]:
        raise ValueError(f"widths {tuple(widths)} do not match the target shape {Phi.shape}")
    gen = as_generator(rng)
    hits = 0
    for _ in range(n_samples):
        layers = balanced_initialization(widths, rng=gen, scale=scale, frames="canonical")
        W = layers[0]
        for L in layers[1:]:
            W = L @ W
        hits += deficiency_margin(W, Phi) >= margin
    return hits / n_samples


class AroraCounterexample(NamedTuple):
    r"""The start of Arora et al.'s counterexample, from :func:`arora_counterexample`.

    Attributes
    ----------
    factors : list of ndarray
        ``depth`` identity layers :math:`W_j(0) = I_d`.
    loss : RegressionLoss
        :math:`\tfrac12\|W - \Phi\|_F^2` (identity data).
    bound : float
        :math:`\tfrac12\sum_{\lambda_i < 0}\lambda_i^2`, the least loss over symmetric
        positive semidefinite ``W`` (at least :math:`\lambda^2/2` for each negative
        eigenvalue :math:`\lambda`).
    """

    factors: list
    loss: object
    bound: float


def arora_counterexample(target, depth: int) -> AroraCounterexample:
    r"""Identity layers, even depth and a symmetric target with a negative eigenvalue.

    Arora et al., Claim 5 (Appendix C): with :math:`N` even,
    :math:`\Phi = \Phi^\top` having an eigenvalue :math:`\lambda < 0` and
    :math:`W_j(0) = I`, gradient descent never reaches a loss below :math:`\lambda^2/2`,
    for any step. Reason (derived in the user guide, section "Why Arora et al.'s
    counterexample stays above lambda^2/2", and checked in ``tests/test_theorems.py``):
    by induction every layer equals one and the same
    polynomial :math:`p_t(\Phi)` (all gradients :math:`W_{>j}^\top (W - \Phi) W_{<j}^\top
    = p^{N-1}(p^N - \Phi)` coincide), so :math:`W = p_t(\Phi)^N` is symmetric positive
    semidefinite for even :math:`N`, and :math:`\tfrac12\|W - \Phi\|_F^2 \ge
    \tfrac12\sum_{\lambda_i<0}\lambda_i^2`. In floating point that invariant set is
    unstable for :math:`N \ge 4` at moderate steps: rounding breaks the symmetry, the
    asymmetry grows geometrically, and after enough steps descent leaves the set and goes
    below the bound (measured: depth 4, step 0.1, after about 1000 steps).

    Parameters
    ----------
    target : array_like, shape (d, d)
        Symmetric :math:`\Phi` with a negative eigenvalue.
    depth : int
        Even :math:`N \ge 2`.

    Returns
    -------
    AroraCounterexample
        The identity layers, the loss :math:`\tfrac12\|W - \Phi\|_F^2` and the bound
        :math:`\tfrac12\sum_{\lambda_i<0}\lambda_i^2` that exact descent never goes
        below.

    Raises
    ------
    TypeError
        If ``target`` is not an array of real numbers or ``depth`` not an int.
    ValueError
        If ``target`` is not square and symmetric, has no negative eigenvalue, or
        ``depth`` is odd or below 1.

    References
    ----------
    Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Claim 5 (Appendix C; the
    counterexample showing that a deficiency margin is needed).
    """
    Phi = check_array(target, "target", ndim=2)
    depth = check_int(depth, "depth")
    if Phi.shape[0] != Phi.shape[1] or not np.allclose(Phi, Phi.T, rtol=0, atol=1e-14):
        raise ValueError(f"target must be a symmetric square matrix; got shape {Phi.shape}")
    if depth % 2:
        raise ValueError(f"depth must be even (W = p(Phi)^N is then PSD); got {depth}")
    lam = np.linalg.eigvalsh(Phi)
    if not lam[0] < 0:
        raise ValueError(f"target must have a negative eigenvalue; eigenvalues {lam}")
    d = Phi.shape[0]
    factors = [np.eye(d) for _ in range(depth)]
    loss = RegressionLoss(np.eye(d), Phi)
    return AroraCounterexample(factors, loss, float(0.5 * np.sum(lam[lam < 0] ** 2)))
