r"""The aligned, whitened flow: one scalar ODE per singular value.

With whitened data (:math:`XX^\top = I`), target
:math:`\Phi = YX^\top = \sum_a s_a u_a v_a^\top` and a start
:math:`W(0) = \sum_a \sigma_a(0) u_a v_a^\top` with the same singular vectors, the
Riemannian gradient flow :math:`\dot W = -\mathcal A_W(W - \Phi)` keeps the singular
vectors fixed and moves each singular value by

.. math::

    \dot\sigma = -N\, \sigma^{2(N-1)/N} (\sigma - s),

because :math:`\mathcal A_W` acts on the diagonal block by :math:`K_{aa} = N p_a^{N-1}`,
:math:`p_a = \sigma_a^{2/N}` (Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505,
for the flow; Saxe, McClelland, Ganguli, arXiv:1312.6120, for the depth-2 closed form;
derived in the user guide, section "The aligned flow and its closed forms").
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import Radau

from riemlin._validation import check_array, check_int
from riemlin.dynamics.stepping import guarded, march

__all__ = ["aligned_singular_values"]


def _closed_n1(s, sigma0, t):
    return s + (sigma0 - s) * np.exp(-t)


def _closed_n2(s, sigma0, t):
    # sigma = s sigma0 e^{2st} / (s - sigma0 + sigma0 e^{2st}), divided by e^{2st} so that
    # nothing overflows for large s t; the s = 0 limit is sigma0 / (1 + 2 sigma0 t).
    out = np.empty(np.broadcast_shapes(t.shape, s.shape))
    pos = s > 0
    decay = np.exp(-2.0 * t * s[pos])
    out[..., pos] = s[pos] * sigma0[pos] / ((s[pos] - sigma0[pos]) * decay + sigma0[pos])
    out[..., ~pos] = sigma0[~pos] / (1.0 + 2.0 * sigma0[~pos] * t)
    return out


def _zero_target(sigma0, depth, t):
    # d sigma/dt = -N sigma^{p+1}, p = 2(N-1)/N:  sigma^{-p} grows like p N t = 2(N-1) t.
    p = 2.0 * (depth - 1) / depth
    return (sigma0 ** (-p) + 2.0 * (depth - 1) * t) ** (-1.0 / p)


def _ode(s, sigma0, depth, t, rtol):
    # y = log(sigma): dy/dt = -N sigma^{(N-2)/N} (sigma - s); absolute error in y is relative
    # error in sigma. The components are independent; one solve carries them all.
    q = (depth - 2.0) / depth

    def rhs(_t, y):
        sig = np.exp(y)
        return -depth * sig**q * (sig - s)

    def jac(_t, y):
        sig = np.exp(y)
        return np.diag(-depth * sig**q * (q * (sig - s) + sig))

    tt = t.ravel()
    if not np.any(tt > 0):  # every time is the start: solve_ivp needs a span of positive length
        return np.broadcast_to(sigma0, t.shape + s.shape).copy()
    order = np.argsort(tt)
    end = float(tt[order[-1]])
    y0 = np.log(sigma0)
    if end == 0:
        return np.broadcast_to(sigma0, t.shape + s.shape).copy()
    ys = []

    def make_solver():
        return Radau(guarded(rhs), 0.0, y0, end, rtol=rtol, atol=rtol * 1e-2, jac=guarded(jac))

    status, message = march(
        make_solver, np.concatenate(([0.0], tt[order])), lambda _t, y: ys.append(np.array(y))
    )
    if status != 0:
        raise ValueError(
            f"s, sigma0 and t: the flow of log(sigma) could not be followed to t={end:.6g} "
            f"({message})"
        )
    out = np.empty((tt.size, s.size))
    out[order] = np.exp(np.array(ys))
    return out.reshape(t.shape + s.shape)


def aligned_singular_values(s, sigma0, depth: int, t, *, rtol: float = 1e-13) -> np.ndarray:
    r"""Singular values of the aligned, whitened Riemannian gradient flow at times ``t``.

    Solves :math:`\dot\sigma_a = -N\sigma_a^{2(N-1)/N}(\sigma_a - s_a)`,
    :math:`\sigma_a(0) = \sigma_{0,a}`, for each ``a``:

    * :math:`N = 1`: :math:`\sigma = s + (\sigma_0 - s)e^{-t}`.
    * :math:`N = 2`: :math:`\sigma = s\sigma_0 e^{2st} / (s - \sigma_0 + \sigma_0 e^{2st})`
      (the logistic solution of Saxe et al. 2014, in this notation).
    * :math:`s = 0`, :math:`N \ge 2` (derived in the user guide, section "The aligned
      flow and its closed forms"):
      :math:`\sigma = (\sigma_0^{-2(N-1)/N} + 2(N-1)t)^{-N/(2(N-1))}`; the rank is lost
      only in the limit.
    * otherwise: an implicit Runge–Kutta solve (Radau IIA, order 5) of the equation for
      :math:`\log\sigma` at tolerance ``rtol``, which bounds the *relative* error of
      :math:`\sigma`.

    Parameters
    ----------
    s : array_like, shape (k,)
        Target singular values :math:`s_a \ge 0` on the shared singular pairs.
    sigma0 : array_like, shape (k,)
        Initial singular values, :math:`\sigma_{0,a} > 0`.
    depth : int
        Depth :math:`N \ge 1`.
    t : array_like
        Times :math:`\ge 0`, any shape.
    rtol : float, default 1e-13
        Relative tolerance of the ODE solve (unused by the closed forms).

    Returns
    -------
    ndarray, shape ``t.shape + (k,)``
        :math:`\sigma_a(t)`.

    Raises
    ------
    ValueError
        For negative ``s``, non-positive ``sigma0``, mismatched lengths, negative or
        non-finite ``t``, or ``rtol`` outside ``(0, 1)``.

    References
    ----------
    Bah et al., arXiv:1910.05505 (the flow on :math:`\mathcal M_k`); Saxe,
    McClelland, Ganguli, arXiv:1312.6120 (depth 2).

    Examples
    --------
    >>> import numpy as np
    >>> sv = aligned_singular_values([2.0], [0.1], 1, [0.0, np.log(2.0)])
    >>> np.round(sv[:, 0], 12)
    array([0.1 , 1.05])
    """
    s = check_array(s, "s", ndim=1)
    sigma0 = check_array(sigma0, "sigma0", ndim=1)
    depth = check_int(depth, "depth")
    t = check_array(t, "t", allow_empty=True)
    if s.size != sigma0.size:
        raise ValueError(f"s and sigma0 must have the same length; got {s.size} and {sigma0.size}")
    if np.any(s < 0):
        raise ValueError(f"s must be non-negative singular values; got {s}")
    if np.any(sigma0 <= 0):
        raise ValueError(f"sigma0 must be positive (a point of M_k); got {sigma0}")
    if np.any(t < 0):
        raise ValueError("t must be non-negative (the flow starts at t = 0)")
    if not (isinstance(rtol, float) and 0 < rtol < 1):
        raise ValueError(f"rtol must be a float in (0, 1); got {rtol!r}")
    tb = t[..., None]
    if depth == 1:
        return _closed_n1(s, sigma0, tb)
    if depth == 2:
        return _closed_n2(s, sigma0, tb)
    out = np.empty(t.shape + s.shape)
    zero = s == 0
    out[..., zero] = _zero_target(sigma0[zero], depth, tb)
    if np.any(~zero) and t.size:
        out[..., ~zero] = _ode(s[~zero], sigma0[~zero], depth, t, rtol)
    return out
