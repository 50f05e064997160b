r"""Step sizes at which gradient descent stops converging to the minimizer on :math:`\mathcal M_k`.

*Derived* (linear stability; not a theorem quoted from a paper; written out in the user
guide, section "Step bounds for descent"). Let :math:`W^*` be the
minimizer of :math:`L` on :math:`\mathcal M_k`.

* **Riemannian descent** :math:`W_{t+1} = R_{W_t}(-\eta \operatorname{grad}^g L(W_t))`: at a
  critical point the differential of the iteration map is
  :math:`I - \eta \operatorname{Hess}^g L(W^*)` (a retraction has :math:`DR_W(0) = I`, and
  the gradient vanishes there), so :math:`W^*` attracts nearby iterates iff
  :math:`\eta < 2 / \lambda_{\max}(\operatorname{Hess}^g L(W^*))`, computed with the exact
  Hessian of :mod:`riemlin.geometry.hessian`.
* **Layer descent** :math:`W_j \leftarrow W_j - \eta \nabla_{W_j} L^N`: the same argument on
  the layers gives :math:`\eta < 2 / \lambda_{\max}(\nabla^2 L^N)` at balanced factors over
  :math:`W^*` (the eigenvalues do not depend on which balanced factors: they differ by
  orthogonal changes of basis between layers). Horizontal directions carry the
  eigenvalues of :math:`\operatorname{Hess}^g L(W^*)`; the others add the curvature of the
  product map against the normal part of :math:`\nabla L(W^*)`.

For whitened data and ``N = 1`` both are :math:`2` (Hessian :math:`I`); for balanced
whitened data and the top singular value :math:`s_1` of the target the Riemannian bound
is :math:`2 / (N s_1^{2(N-1)/N})` when ``k`` covers ``s_1``'s pair. Beyond the bounds
descent may still stay bounded (cycles around the minimizer) before it diverges, so a
measured divergence threshold lies at or above them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from riemlin._validation import check_int
from riemlin.losses import RegressionLoss
from riemlin.networks.balance import balanced_factors
from riemlin.networks.chain import chain_adjoint, chain_product
from riemlin.theory.critical import critical_point_index

__all__ = ["StepBounds", "descent_step_bounds"]


class StepBounds(NamedTuple):
    """Linear-stability step bounds of :func:`descent_step_bounds`.

    Attributes
    ----------
    riemannian : float
        :math:`2 / \\lambda_{\\max}(\\operatorname{Hess}^g L(W^*))`.
    factor : float
        :math:`2 / \\lambda_{\\max}(\\nabla^2 L^N)` at balanced layers over :math:`W^*`
        (``nan`` when ``widths`` is not given).
    hessian_max : float
        :math:`\\lambda_{\\max}(\\operatorname{Hess}^g L(W^*))`.
    layer_hessian_max : float
        :math:`\\lambda_{\\max}(\\nabla^2 L^N)` (``nan`` without ``widths``).
    """

    riemannian: float
    factor: float
    hessian_max: float
    layer_hessian_max: float


def descent_step_bounds(
    loss: RegressionLoss, k: int, depth: int, widths=None, *, rng=0
) -> StepBounds:
    r"""Largest steps for which the minimizer on :math:`\mathcal M_k` is linearly stable.

    Parameters
    ----------
    loss : RegressionLoss
        :math:`L(W) = \tfrac12\|WX - Y\|_F^2`.
    k : int
        Rank of the manifold; the minimizer is :meth:`RegressionLoss.optimum` ``(k)``,
        which must have rank exactly ``k``.
    depth : int
        Depth ``N`` (the metric of the Riemannian descent).
    widths : sequence of int, optional
        Layer widths ``(d_0, ..., d_N)`` for the layer bound, with bottleneck
        ``min(widths) == k``: only then is the minimizer on :math:`\mathcal M_k` a
        minimizer of :math:`L^N` (with a wider bottleneck the layers can raise the rank
        and :math:`W^*` is a saddle of :math:`L^N`).
    rng : None, int or Generator, default 0
        Frames of the balanced layers (the bound does not depend on them).

    Returns
    -------
    StepBounds
        The Riemannian and layer step bounds :math:`2/\lambda_{\max}` and the two
        largest Hessian eigenvalues (the layer entries ``nan`` without ``widths``).

    Raises
    ------
    TypeError
        If ``loss`` is not a RegressionLoss, or ``k``, ``depth`` or a width is not an int.
    ValueError
        If ``k`` or ``depth`` is below 1, the minimizer does not have rank ``k``,
        ``widths`` does not have ``depth + 1`` entries, or its bottleneck is not ``k``.

    Notes
    -----
    The layer Hessian is formed column by column from central differences of the exact
    layer gradient, with relative step :math:`10^{-5}`: its error is
    :math:`O(10^{-10})` relative, far below what matters for a step bound. Cost:
    ``2 P`` layer gradients for ``P`` layer parameters, so keep the layers small.

    Examples
    --------
    >>> import numpy as np
    >>> from riemlin import RegressionLoss
    >>> loss = RegressionLoss(np.eye(2), np.diag([2.0, 1.0]))
    >>> b = descent_step_bounds(loss, 2, 2, widths=(2, 2, 2))
    >>> round(b.factor, 6)
    0.5
    >>> round(b.riemannian, 12)  # 2 / (N s_1^{2(N-1)/N}) = 2 / (2 * 2)
    0.5
    """
    if not isinstance(loss, RegressionLoss):
        raise TypeError(f"loss must be a RegressionLoss; got {type(loss).__name__}")
    k = check_int(k, "k")
    depth = check_int(depth, "depth")
    W_star, _ = loss.optimum(k)
    eig = critical_point_index(W_star, loss, depth, k).eigenvalues
    lam = float(np.max(eig))
    if widths is None:
        return StepBounds(2.0 / lam, float("nan"), lam, float("nan"))
    widths = tuple(check_int(w, "widths[j]") for w in widths)
    if len(widths) != depth + 1:
        raise ValueError(f"widths must have depth + 1 = {depth + 1} entries; got {len(widths)}")
    if min(widths) != k:
        raise ValueError(
            f"widths must have bottleneck min(widths) = k = {k} for the layer bound (else the "
            f"minimizer on M_k is a saddle of the layer loss); got {widths}"
        )
    layers = balanced_factors(W_star, widths, rng=rng)
    lam_layers = _largest_layer_hessian_eigenvalue(layers, loss)
    return StepBounds(2.0 / lam, 2.0 / lam_layers, lam, lam_layers)


def _largest_layer_hessian_eigenvalue(layers, loss) -> float:
    shapes = [w.shape for w in layers]
    sizes = [int(np.prod(s)) for s in shapes]
    theta = np.concatenate([w.ravel() for w in layers])

    def grad(t):
        ws, start = [], 0
        for shape, size in zip(shapes, sizes):
            ws.append(t[start : start + size].reshape(shape))
            start += size
        G = loss.gradient(chain_product(ws))
        return np.concatenate([g.ravel() for g in chain_adjoint(ws, G)])

    h = 1e-5 * max(np.abs(theta).max(), 1.0)
    H = np.empty((theta.size, theta.size))
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        H[:, i] = (grad(theta + e) - grad(theta - e)) / (2 * h)
    return float(np.linalg.eigvalsh(0.5 * (H + H.T)).max())
