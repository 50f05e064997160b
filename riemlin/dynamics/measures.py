r"""Measurements along runs: Riemannian sharpness, convergence rates, traces of descent.

* :func:`riemannian_sharpness`: the largest eigenvalue of the exact Riemannian Hessian
  :math:`\operatorname{Hess}^g L(W)` under the deep-linear metric, by Lanczos in
  ``g``-orthonormal coordinates of :math:`T_W\mathcal M_k` (the operator is
  ``g``-self-adjoint, so it is a symmetric matrix there).
* :func:`linear_rate`: the exponential rate of a run's excess loss.
* :func:`descent_trace`: gradient descent on the layers with the sharpness
  (:func:`riemlin.networks.sharpness.layer_sharpness`), the norm and the imbalance
  matrices recorded along the way.

The claims these serve (Beneventano and Woodworth, arXiv:2501.09137; Xu, Min, Tarmoun,
Mallada, Vidal, AISTATS 2023; Tarmoun et al., ICML 2021) are discussed in the user
guide, chapter "Claims beyond the theorem".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import LinearOperator

from riemlin._validation import as_generator, check_int, check_point, check_positive
from riemlin.dynamics.layers import factor_gradient_descent
from riemlin.geometry.manifold import FixedRankDeepLinear, FixedRankTangentVector
from riemlin.geometry.metric import metric_weights
from riemlin.geometry.tangent import tangent_matrix
from riemlin.networks.balance import imbalance
from riemlin.networks.chain import chain_product
from riemlin.networks.sharpness import (
    layer_norms,
    layer_sharpness,
    loss_hessian_vector,
    top_eigenvalue,
)

__all__ = [
    "riemannian_hessian_operator",
    "riemannian_sharpness",
    "linear_rate",
    "steps_to_tolerance",
    "LayerTrace",
    "descent_trace",
]


def _complement(Q: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the orthogonal complement of the columns of ``Q``."""
    full = np.linalg.qr(Q, mode="complete")[0]
    return full[:, Q.shape[1] :]


def riemannian_hessian_operator(manifold: FixedRankDeepLinear, point, loss) -> LinearOperator:
    r""":math:`\operatorname{Hess}^g L(W)` as a symmetric operator in ``g``-orthonormal coordinates.

    With :math:`U_\perp`, :math:`V_\perp` orthonormal complements of ``u``, ``v`` and the
    weights ``K``, ``c`` of :math:`\mathcal A_W`, the coordinates
    :math:`z = (a, b, e)` (shapes ``(m-k, k)``, ``(k, k)``, ``(n-k, k)``) give the tangent
    vector

    .. math::

        \xi(z) = \bigl(U_\perp a \operatorname{diag}(\sqrt c),\; \sqrt K \odot b,\;
        V_\perp e \operatorname{diag}(\sqrt c)\bigr), \qquad g_W(\xi(z), \xi(w)) = z\cdot w,

    so the matrix of the ``g``-self-adjoint Hessian in these coordinates is symmetric and
    has the same eigenvalues. Each product calls
    :meth:`FixedRankDeepLinear.riemannian_hessian_from_matrix` with the exact
    Hessian-vector product of the loss
    (:func:`riemlin.networks.sharpness.loss_hessian_vector`). The complements cost one
    complete QR factorization of ``u`` and of ``v`` (:math:`O(m^2 k + n^2 k)`, once).

    Parameters
    ----------
    manifold : FixedRankDeepLinear
        Gives the depth of the metric.
    point : FixedRankPoint
        The point ``(u, s, vt)``.
    loss : RegressionLoss or object with ``gradient`` and ``hessian_vector``
        The loss (Hessian-vector products: :mod:`riemlin.networks.sharpness`).

    Returns
    -------
    scipy.sparse.linalg.LinearOperator
        Of dimension ``k (m + n - k)``.

    Raises
    ------
    ValueError, TypeError
        If ``point`` is not a valid point.
    """
    u, s, vt = check_point(point, "point")
    point = (u, s, vt)
    m, k, n = u.shape[0], s.size, vt.shape[1]
    K, c = metric_weights(s, manifold.depth)
    rK, rc = np.sqrt(K), np.sqrt(c)
    Uperp, Vperp = _complement(u), _complement(vt.T)
    W = (u * s) @ vt
    G = np.asarray(loss.gradient(W), dtype=float)
    sizes = np.cumsum([0, (m - k) * k, k * k, (n - k) * k])

    def matvec(z):
        z = np.ravel(z)
        a = z[sizes[0] : sizes[1]].reshape(m - k, k)
        b = z[sizes[1] : sizes[2]].reshape(k, k)
        e = z[sizes[2] : sizes[3]].reshape(n - k, k)
        xi = FixedRankTangentVector((Uperp @ a) * rc, rK * b, (Vperp @ e) * rc)
        H_xi = loss_hessian_vector(loss, W, tangent_matrix(point, xi))
        Up, M, Vp = manifold.riemannian_hessian_from_matrix(point, G, H_xi, xi)
        return np.concatenate(
            [((Uperp.T @ Up) / rc).ravel(), (M / rK).ravel(), ((Vperp.T @ Vp) / rc).ravel()]
        )

    dim = int(sizes[-1])
    return LinearOperator((dim, dim), matvec=matvec, dtype=float)


def riemannian_sharpness(manifold: FixedRankDeepLinear, point, loss, rng=None) -> float:
    r"""The largest eigenvalue of :math:`\operatorname{Hess}^g L(W)` on :math:`T_W\mathcal M_k`.

    Lanczos (:func:`riemlin.networks.sharpness.top_eigenvalue`) on
    :func:`riemannian_hessian_operator`. At a minimizer on :math:`\mathcal M_k` it is the
    curvature that bounds the stable step of Riemannian gradient descent,
    :math:`\eta < 2 / \lambda_{\max}`.

    Parameters
    ----------
    manifold : FixedRankDeepLinear
        Gives the depth of the metric.
    point : FixedRankPoint
        The point ``(u, s, vt)``.
    loss : RegressionLoss or object with ``gradient`` and ``hessian_vector``
        The loss (Hessian-vector products: :mod:`riemlin.networks.sharpness`).
    rng : None, int, SeedSequence or Generator, optional
        Start vector of Lanczos.

    Returns
    -------
    float
        The largest eigenvalue of the Riemannian Hessian.
    """
    return top_eigenvalue(riemannian_hessian_operator(manifold, point, loss), rng)


def linear_rate(t, excess, floor: float = 0.0) -> float:
    r"""The exponential rate :math:`\rho` of :math:`L(W_t) - L^* \approx C e^{-\rho t}`.

    The least-squares slope of :math:`\log(L_t - L^*)` against ``t`` over the points
    after the excess first falls to a tenth of its start (so an initial transient does
    not count) and above ``floor`` (the rounding level), with the sign flipped.

    Parameters
    ----------
    t : array_like
        Times (or iteration counts: the rate is then per step).
    excess : array_like
        :math:`L(W_t) - L^*`.
    floor : float, default 0
        Points with ``excess <= floor`` are dropped.

    Returns
    -------
    float
        The rate, ``nan`` when fewer than three points qualify.
    """
    t = np.asarray(t, dtype=float)
    e = np.asarray(excess, dtype=float)
    if e.size == 0 or not np.isfinite(e[0]):
        return float("nan")
    below = np.nonzero(e <= 0.1 * e[0])[0]
    if below.size == 0:
        return float("nan")
    sel = np.arange(e.size) >= below[0]
    sel &= np.isfinite(e) & (e > floor)
    if np.count_nonzero(sel) < 3:
        return float("nan")
    return float(-np.polyfit(t[sel], np.log(e[sel]), 1)[0])


def steps_to_tolerance(excess, tol: float) -> float:
    """The first index at which ``excess <= tol * excess[0]`` (``nan`` if never).

    Parameters
    ----------
    excess : array_like
        The excess loss over iterations.
    tol : float
        Relative tolerance.

    Returns
    -------
    float
        The index, as a float (``nan`` if never).
    """
    e = np.asarray(excess, dtype=float)
    hit = np.nonzero(e <= tol * e[0])[0] if e.size else np.array([], dtype=int)
    return float(hit[0]) if hit.size else float("nan")


@dataclass
class LayerTrace:
    """Gradient descent on layers with second-order measurements along the way.

    Attributes
    ----------
    steps : ndarray, shape (T,)
        Iteration counts of the records.
    loss : ndarray
        :math:`L(W)` at the records.
    sharpness : ndarray
        :func:`riemlin.networks.sharpness.layer_sharpness` at the records.
    norm : ndarray
        :math:`\\sqrt{\\sum_j \\|W_j\\|_F^2}`.
    imbalance : ndarray, shape (T, N - 1)
        :math:`\\|W_{j+1}^\\top W_{j+1} - W_j W_j^\\top\\|_F` per hidden layer.
    imbalance_matrices : list of list of ndarray
        The imbalance matrices themselves at the records.
    status : Status
        Of the descent (the trace stops at the first failure).
    factors : list of ndarray
        The last layers.
    """

    steps: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    norm: np.ndarray
    imbalance: np.ndarray
    imbalance_matrices: list
    status: int
    factors: list


def descent_trace(
    factors, loss, step: float, n_steps: int, every: int = 1, rng=None, *, sharpness: bool = True
):
    r"""Gradient descent on the layers, measuring sharpness, norm and imbalance on the way.

    Runs :func:`riemlin.factor_gradient_descent` in chunks of ``every`` steps and measures
    the layers between chunks.

    Parameters
    ----------
    factors : list of ndarray
        Layers ``[W_1, ..., W_N]``, ``W_j`` of shape ``d_j x d_{j-1}``.
    loss : RegressionLoss or object with ``gradient`` and ``hessian_vector``
        The loss (Hessian-vector products: :mod:`riemlin.networks.sharpness`).
    step : float
        The step size :math:`\eta`.
    n_steps : int
        Number of steps.
    every : int, default 1
        Steps between two records.
    rng : None, int, SeedSequence or Generator, optional
        Start vectors of Lanczos.
    sharpness : bool, default True
        Measure the sharpness (``nan`` otherwise: the other records are cheap).

    Returns
    -------
    LayerTrace
        The records at steps ``0, every, 2 every, ...`` up to ``n_steps`` or the first
        failure.

    Raises
    ------
    ValueError, TypeError
        If ``step`` is not positive, ``n_steps`` or ``every`` not an integer of the
        allowed range, or the layers or the loss are invalid.
    """
    step = check_positive(step, "step")
    n_steps = check_int(n_steps, "n_steps", minimum=0)
    every = check_int(every, "every")
    gen = as_generator(rng)
    F = [np.asarray(W, dtype=float) for W in factors]
    rows, mats, status, done = [], [], 0, 0

    def measure(F_, count):
        D = imbalance(F_)
        rows.append(
            (
                count,
                loss.value(chain_product(F_)),
                layer_sharpness(F_, loss, gen) if sharpness else float("nan"),
                float(np.linalg.norm(layer_norms(F_))),
                [float(np.linalg.norm(d)) for d in D],
            )
        )
        mats.append(D)

    measure(F, 0)
    while done < n_steps:
        chunk = min(every, n_steps - done)
        res = factor_gradient_descent(F, loss, step, chunk, record_every=chunk)
        status = res.status
        if status != 0:
            break
        F = res.factors
        done += chunk
        measure(F, done)
    return LayerTrace(
        steps=np.array([r[0] for r in rows]),
        loss=np.array([r[1] for r in rows]),
        sharpness=np.array([r[2] for r in rows]),
        norm=np.array([r[3] for r in rows]),
        imbalance=np.array([r[4] for r in rows]).reshape(len(rows), len(F) - 1),
        imbalance_matrices=mats,
        status=status,
        factors=F,
    )
