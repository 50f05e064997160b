r"""One-neuron-wide layers: the trajectory in closed form and its stages (derived).

Whitened data, :math:`L(W) = \tfrac12\|W - \Phi\|_F^2 + \text{const}`, balanced layers one of
which has width 1, so :math:`W(t) = \sigma(t)\, u(t) v(t)^\top \in \mathcal M_1`. On
:math:`\mathcal M_1` the deep-linear metric acts by
:math:`\mathcal A_W(Z) = \sigma^{2(N-1)/N}\,(Z vv^\top + uu^\top Z + (N-2)(u^\top Z v)\, uv^\top)`,
and the Riemannian gradient flow :math:`\dot W = -\mathcal A_W(W - \Phi)` splits into
(*derived* in the user guide, section "One-neuron-wide layers: the trajectory and the
limit rule"; :math:`\rho = u^\top \Phi v`)

.. math::

    \dot\sigma = -N\sigma^{2(N-1)/N}(\sigma - \rho), \qquad
    \dot u = \sigma^{(N-2)/N}(\Phi v - \rho u), \qquad
    \dot v = \sigma^{(N-2)/N}(\Phi^\top u - \rho v).

In the time :math:`\tau`, :math:`d\tau/dt = \sigma^{(N-2)/N}`, the direction is the
normalized linear flow :math:`(x; y) = \exp(\tau [[0, \Phi], [\Phi^\top, 0]])(u_0; v_0)`,
:math:`u = x/\|x\|`, :math:`v = y/\|y\|` (:math:`\|x\| = \|y\|` for all :math:`\tau`, and
:math:`d\ln\|x\|/d\tau = \rho`), and :math:`1/\sigma` solves a linear equation whose
integrating factor is :math:`\|x\|^N`:

.. math::

    \sigma(\tau) = \frac{\|x(\tau)\|^N}{1/\sigma_0 + N\int_0^\tau \|x\|^N\, d\tau'} .

The formula is checked against riemlin's flows (``tests/test_theorems.py``); the
stages are derived in the user guide, section "One-neuron-wide layers: the stages of a
run". With the singular pairs :math:`(s_i, u_i, v_i)` of
:math:`\Phi`, :math:`\alpha_i = u_i^\top u_0`, :math:`\beta_i = v_i^\top v_0`,
:math:`a_i = (\alpha_i + \beta_i)/2`, :math:`b_i = (\alpha_i - \beta_i)/2`:
:math:`u_i^\top x = a_i e^{s_i\tau} + b_i e^{-s_i\tau}`,
:math:`v_i^\top y = a_i e^{s_i\tau} - b_i e^{-s_i\tau}`, and the parts of :math:`u_0`,
:math:`v_0` outside the singular subspaces stay put.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.integrate import DOP853, quad
from scipy.optimize import brentq

from riemlin._validation import check_array, check_factors, check_int, numerical_rank
from riemlin.dynamics.stepping import guarded, march
from riemlin.losses import RegressionLoss
from riemlin.networks.balance import is_balanced
from riemlin.networks.chain import chain_product

__all__ = [
    "OneNeuronStages",
    "OneNeuronTrajectory",
    "one_neuron_stages",
    "one_neuron_trajectory",
]


class OneNeuronTrajectory(NamedTuple):
    """The closed-form trajectory of :func:`one_neuron_trajectory`.

    Attributes
    ----------
    t : ndarray, shape (T,)
        Times.
    tau : ndarray, shape (T,)
        The time :math:`\\tau(t)` of the linear direction flow.
    sigma : ndarray, shape (T,)
        :math:`\\sigma(t)`, the singular value of :math:`W(t)`.
    u, v : ndarray, shapes (T, m), (T, n)
        Singular vectors, with the sign of the start.
    W : ndarray, shape (T, m, n)
        :math:`\\sigma u v^\\top`.
    loss : ndarray, shape (T,)
        :math:`\\tfrac12\\|W - \\Phi\\|_F^2` (without the constant of the whitened loss).
    """

    t: np.ndarray
    tau: np.ndarray
    sigma: np.ndarray
    u: np.ndarray
    v: np.ndarray
    W: np.ndarray
    loss: np.ndarray


class _Direction:
    """The normalized linear flow, scaled by :math:`e^{-c\\tau}` so that nothing overflows."""

    def __init__(self, Phi, u0, v0):
        U, s, Vt = np.linalg.svd(Phi, full_matrices=False)
        alpha, beta = U.T @ u0, Vt @ v0
        self.U, self.s, self.V = U, s, Vt.T
        self.a, self.b = 0.5 * (alpha + beta), 0.5 * (alpha - beta)
        self.xp, self.yp = u0 - U @ alpha, v0 - self.V @ beta
        grows = self.a != 0
        # c: the fastest rate present; a_i = 0 exactly for every faster pair
        self.c = float(self.s[grows].max()) if np.any(grows) else 0.0

    def scaled(self, tau):
        """:math:`(e^{-c\\tau}x, e^{-c\\tau}y)` at a scalar ``tau``."""
        s, c = self.s, self.c
        up = np.where(self.a != 0, self.a * np.exp(np.minimum(s - c, 0.0) * tau), 0.0)
        down = self.b * np.exp(-(s + c) * tau)
        rest = np.exp(-c * tau)
        return self.U @ (up + down) + rest * self.xp, self.V @ (up - down) + rest * self.yp

    def log_norm(self, tau):
        """:math:`\\ln\\|x(\\tau)\\|`."""
        return self.c * tau + np.log(np.linalg.norm(self.scaled(tau)[0]))

    def rho(self, tau):
        """:math:`\\rho = u^\\top\\Phi v` along the direction flow."""
        x, y = self.scaled(tau)
        return float((self.U.T @ x) @ (self.s * (self.V.T @ y)) / (x @ x))


def _start(start, depth):
    if isinstance(start, np.ndarray) or not isinstance(start, (list, tuple)):
        W0 = check_array(start, "start", ndim=2)
        if depth is None:
            raise ValueError("depth is required when start is a matrix W0 (not a list of layers)")
        depth = check_int(depth, "depth")
    else:
        F = check_factors(start, "start")
        if depth is not None and check_int(depth, "depth") != len(F):
            raise ValueError(f"depth={depth} but start has {len(F)} layers")
        if not is_balanced(F, rtol=1e-8):
            raise ValueError("start: the layers must be balanced (relative imbalance <= 1e-8)")
        W0, depth = chain_product(F), len(F)
    U, sv, Vt = np.linalg.svd(W0, full_matrices=False)
    if not sv[0] > 0 or (sv.size > 1 and sv[1] > 1e-10 * sv[0]):
        raise ValueError(f"start: the product must have rank one; singular values {sv}")
    return U[:, 0], float(sv[0]), Vt[0], depth


def _target(target, shape):
    if isinstance(target, RegressionLoss):
        if not target.is_whitened:
            raise ValueError("target: the loss must have whitened data (X X^T = I)")
        Phi = target.target
    else:
        Phi = check_array(target, "target", ndim=2)
    if Phi.shape != shape:
        raise ValueError(f"target has shape {Phi.shape} but the start has shape {shape}")
    return Phi


def one_neuron_trajectory(
    start, target, t, depth: int | None = None, *, rtol: float = 1e-13
) -> OneNeuronTrajectory:
    r"""The balanced flow from a rank-one start, by the closed-form direction (derived).

    The direction :math:`(u, v)` is the normalized
    :math:`\exp(\tau[[0, \Phi], [\Phi^\top, 0]])(u_0; v_0)` in closed form; :math:`\tau(t)`
    and :math:`\sigma` come from the two scalar equations

    .. math::

        \frac{d\tau}{dt} = \sigma^{(N-2)/N}, \qquad
        \frac{d \ln K}{dt} = N(\sigma - c)\,\sigma^{(N-2)/N}, \qquad
        \sigma = \frac{\|e^{-c\tau}x(\tau)\|^N}{K},

    :math:`K(\tau) = e^{-Nc\tau}(1/\sigma_0 + N\int_0^\tau\|x\|^N)` (the formula of the
    module docstring, scaled by the largest growth rate :math:`c` present so that it does
    not overflow), solved by DOP853 at ``rtol``. For :math:`N = 2`, :math:`\tau = t`.

    Parameters
    ----------
    start : list of ndarray or ndarray
        Balanced layers whose product has rank one, or the rank-one matrix
        :math:`W_0 = \sigma_0 u_0 v_0^\top` itself (then ``depth`` is required).
    target : RegressionLoss or ndarray, shape (m, n)
        A whitened loss, or :math:`\Phi = YX^\top` itself.
    t : array_like, shape (T,)
        Non-decreasing times :math:`\ge 0`.
    depth : int, optional
        :math:`N \ge 1`; defaults to the number of layers.
    rtol : float, default 1e-13
        Tolerance of the scalar solve.

    Returns
    -------
    OneNeuronTrajectory
        The times ``t``, the internal times ``tau``, the singular value ``sigma``, the
        unit directions ``u`` and ``v``, the matrices ``W`` and the loss along the flow.

    Raises
    ------
    ValueError, TypeError
        For unbalanced layers, a start not of rank one, a target of another shape, a
        loss that is not whitened, or bad times.

    References
    ----------
    The user guide, section "One-neuron-wide layers: the trajectory and the limit rule"
    (derived); Chen, Lin, Zhang, arXiv:2201.02761; Eftekhari, arXiv:2002.09852; Bah et
    al., arXiv:1910.05505 (the flow on :math:`\mathcal M_k`).

    Examples
    --------
    >>> import numpy as np
    >>> W0 = 0.1 * np.outer([1.0, 0.0], [1.0, 0.0])
    >>> tr = one_neuron_trajectory(W0, np.diag([2.0, 1.0]), [0.0, 1.0], depth=2)
    >>> bool(round(float(tr.sigma[-1]), 10) == round(0.2 * np.exp(4) / (1.9 + 0.1 * np.exp(4)), 10))
    True
    """
    u0, sigma0, v0, N = _start(start, depth)
    Phi = _target(target, (u0.size, v0.size))
    t = check_array(t, "t", ndim=1)
    if np.any(t < 0) or np.any(np.diff(t) < 0):
        raise ValueError("t must be non-negative and non-decreasing")
    if not (isinstance(rtol, float) and 0 < rtol < 1):
        raise ValueError(f"rtol must be a float in (0, 1); got {rtol!r}")
    d = _Direction(Phi, u0, v0)
    q = (N - 2.0) / N

    def sigma_of(tau, logK):
        return np.exp(N * (d.log_norm(tau) - d.c * tau) - logK)

    def rhs(_t, y):
        sig = sigma_of(y[0], y[1])
        rate = sig**q
        return np.array([rate, N * (sig - d.c) * rate])

    y0 = [0.0, -np.log(sigma0)]
    if t.size == 0 or t[-1] == 0:
        taus, logKs = np.zeros_like(t), np.full_like(t, y0[1])
    else:
        times = np.concatenate(([0.0], t))
        ys = []

        def make_solver():
            return DOP853(guarded(rhs), 0.0, np.array(y0), t[-1], rtol=rtol, atol=rtol * 1e-2)

        status, message = march(make_solver, times, lambda _tt, y: ys.append(np.array(y)))
        if status != 0:
            raise ValueError(
                f"start, target and t: the flow could not be followed to t={t[-1]:.6g} ({message})"
            )
        taus, logKs = np.array(ys).T
    sigma = np.array([sigma_of(a, b) for a, b in zip(taus, logKs)])
    xy = [d.scaled(a) for a in taus]
    u = np.array([x / np.linalg.norm(x) for x, _ in xy]).reshape(t.size, u0.size)
    v = np.array([y / np.linalg.norm(y) for _, y in xy]).reshape(t.size, v0.size)
    W = sigma[:, None, None] * u[:, :, None] * v[:, None, :]
    loss = 0.5 * np.sum((W - Phi) ** 2, axis=(1, 2))
    return OneNeuronTrajectory(t, taus, sigma, u, v, W, loss)


class OneNeuronStages(NamedTuple):
    """The stages of a one-neuron-wide run, as predicted by :func:`one_neuron_stages`.

    Attributes
    ----------
    kind : str
        ``"global"``, ``"saddle"`` or ``"origin"`` (the :math:`i^*` rule).
    pair : int or None
        :math:`i^*` (1-based), ``None`` for the origin.
    a : float
        :math:`s_{i^*}`, the target singular value the run escapes along (nan: origin).
    weight : float
        :math:`A = |u_{i^*}^\\top u_0 + v_{i^*}^\\top v_0| / 2`, the share of the start
        in the growing mode.
    turn_tau : float
        :math:`\\tau_0`, where :math:`\\rho = u^\\top\\Phi v` changes sign (0 if
        :math:`\\rho(0) \\ge 0`, inf if never).
    turn_time : float
        :math:`t(\\tau_0)`, the end of the decay stage, to leading order in
        :math:`\\sigma_0`.
    escape_time : float
        Time at which :math:`\\sigma = a/2`, to leading order (inf for the origin).
    plateau : float
        ``escape_time - turn_time``.
    plateau_aligned : float
        The plateau formula for the aligned start, exact to leading order for
        :math:`(u_0, v_0) = (u_{i^*}, v_{i^*})`.
    rate : float
        Rate :math:`\\lambda` of the final linear convergence of the loss,
        :math:`L - L_\\infty \\sim e^{-\\lambda t}` (:math:`\\|W - W_\\infty\\|` decays at
        :math:`\\lambda/2`); nan for the origin.
    rate_sigma : float
        :math:`2N a^{2(N-1)/N}`, the rate of the singular value.
    rate_direction : float
        :math:`2 g a^{(N-2)/N}`, the rate of the direction, :math:`g = a - s_j` for the
        next pair :math:`j > i^*` present in the start (inf if none).
    """

    kind: str
    pair: int | None
    a: float
    weight: float
    turn_tau: float
    turn_time: float
    escape_time: float
    plateau: float
    plateau_aligned: float
    rate: float
    rate_sigma: float
    rate_direction: float


def _turn(d, r):
    """:math:`\\tau_0 \\ge 0` with :math:`\\rho(\\tau_0) = 0`; :math:`\\rho` changes sign once."""
    if d.rho(0.0) >= 0:
        return 0.0
    hi = 1.0 / d.s[0]
    while d.rho(hi) < 0:
        hi *= 2.0
        if hi > 1e3 / d.s[r - 1]:
            return np.inf
    return brentq(d.rho, 0.0, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps)


def _integral(f, lo, hi):
    val, _ = quad(f, lo, hi, epsabs=0.0, epsrel=1e-12, limit=200)
    return val


def one_neuron_stages(start, target, depth: int | None = None, *, tol: float = 1e-10):
    r"""Predict the stages of the balanced flow from a small rank-one start (derived).

    With :math:`i^*` as in :func:`~riemlin.theory.predict_limit`, :math:`a = s_{i^*}`,
    :math:`A = |u_{i^*}^\top u_0 + v_{i^*}^\top v_0|/2`, :math:`q = (N-2)/N`:

    1. *Decay* while :math:`\rho = u^\top\Phi v < 0`: :math:`\sigma` falls (for
       :math:`N \ge 3` sublinearly, :math:`\dot\sigma \approx N\rho\,\sigma^{2(N-1)/N}`)
       until :math:`\tau_0`, the single sign change of :math:`\rho(\tau)`.
    2. *Plateau* while :math:`\sigma \ll a`: :math:`\sigma \approx \sigma_0\|x(\tau)\|^N`,
       so :math:`t(\tau) \approx \sigma_0^{-q}\int_0^\tau \|x\|^{-(N-2)}` for :math:`N \ge 3`.
       The escape time (:math:`\sigma = a/2`) is, to leading order as
       :math:`\sigma_0 \to 0`,

       .. math::

           t_{\rm esc} \approx \sigma_0^{-q}\int_0^\infty \|x(\tau)\|^{-(N-2)} d\tau
           \quad (N \ge 3), \qquad
           t_{\rm esc} \approx \frac{\ln(a / (\sigma_0 A^2))}{2a} \quad (N = 2),

       with relative error :math:`O(\sigma_0^{q})` for :math:`N \ge 3` and absolute error
       :math:`o(1)` for :math:`N = 2`. For the aligned start
       :math:`(u_0, v_0) = (u_{i^*}, v_{i^*})` these are
       :math:`\sigma_0^{-q}/((N-2)a)` and :math:`\ln(a/\sigma_0)/(2a)`
       (``plateau_aligned``).
    3. *Linear convergence* to :math:`W_\infty = a\,u_{i^*}v_{i^*}^\top`: with
       :math:`L - L(W_\infty) = (\sigma-\rho)^2/2 + (a^2 - \rho^2)/2`, the loss gap decays at
       :math:`\lambda = \min(2Na^{2(N-1)/N},\ 2 g\, a^{q})`, where :math:`g` is the gap from
       :math:`a` to the next growth rate present in the start (``rate_direction``).

    Parameters
    ----------
    start : list of ndarray or ndarray
        As for :func:`one_neuron_trajectory`.
    target : RegressionLoss or ndarray
        Whitened loss or :math:`\Phi`; distinct nonzero singular values.
    depth : int, optional
        :math:`N \ge 2`; defaults to the number of layers.
    tol : float, default 1e-10
        :math:`|a_i| \le` ``tol`` counts as zero (as in ``predict_limit``).

    Returns
    -------
    OneNeuronStages
        The predicted limit (``kind``, ``pair``, its singular value ``a``), the turn and
        plateau times with the escape time, and the rates of the final linear phase.

    Raises
    ------
    ValueError
        For depth 1, repeated singular values of the target, or the errors of
        :func:`one_neuron_trajectory`.

    References
    ----------
    The user guide, section "One-neuron-wide layers: the stages of a run" (derived);
    Chen, Lin, Zhang, arXiv:2201.02761; Eftekhari, arXiv:2002.09852 (the saddle-to-saddle
    picture for one-neuron layers).
    """
    u0, sigma0, v0, N = _start(start, depth)
    if N < 2:
        raise ValueError(f"depth must be >= 2 for the stages (no plateau at N = 1); got {N}")
    Phi = _target(target, (u0.size, v0.size))
    d = _Direction(Phi, u0, v0)
    s = d.s
    r = numerical_rank(s, Phi.shape)
    if r == 0:
        raise ValueError("target: Phi is zero; every start is then attracted to 0")
    if np.any(-np.diff(s[:r]) <= 1e-10 * s[0]):
        raise ValueError(f"target: the singular values must be distinct; got {s[:r]}")
    q = (N - 2.0) / N
    big = np.flatnonzero(np.abs(d.a[:r]) > tol / 2)
    if big.size == 0:
        tau0 = _turn(d, r)
        turn = (
            tau0
            if N == 2
            else sigma0**-q * _integral(lambda x: np.exp(-(N - 2) * d.log_norm(x)), 0.0, tau0)
        )
        return OneNeuronStages(
            "origin", None, np.nan, 0.0, tau0, turn, np.inf, np.inf, np.inf, np.nan, np.nan, np.nan
        )
    i = int(big[0])
    a, A = float(s[i]), float(abs(d.a[i]))
    d.a[:i] = 0.0  # below tol: treated as exact zeros, as predict_limit does
    d.c = a
    tau0 = _turn(d, r)
    if N == 2:
        turn, escape, aligned = (
            tau0,
            np.log(a / (sigma0 * A**2)) / (2 * a),
            np.log(a / sigma0) / (2 * a),
        )
    else:

        def f(x):
            return np.exp(-(N - 2) * d.log_norm(x))

        turn = sigma0**-q * _integral(f, 0.0, tau0)
        escape = turn + sigma0**-q * _integral(f, tau0, np.inf)
        aligned = sigma0**-q / ((N - 2) * a)
    # the slowest decay of the direction error: the next a_j present, the b_j and the rest
    rates = [a - s[j] for j in range(i + 1, s.size) if abs(d.a[j]) > tol / 2]
    if np.linalg.norm(d.xp) + np.linalg.norm(d.yp) > tol or np.any(np.abs(d.a[r:]) > tol / 2):
        rates.append(a)
    rates += [a + s[j] for j in range(s.size) if abs(d.b[j]) > tol / 2]
    g = min(rates) if rates else np.inf
    rate_sigma = 2 * N * a ** (2 * (N - 1) / N)
    rate_dir = 2 * g * a**q
    return OneNeuronStages(
        "global" if i == 0 else "saddle",
        i + 1,
        a,
        A,
        tau0,
        turn,
        escape,
        escape - turn,
        aligned,
        min(rate_sigma, rate_dir),
        rate_sigma,
        rate_dir,
    )
