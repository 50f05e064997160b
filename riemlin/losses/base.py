r"""The loss protocol every flow accepts, and the helpers that read a loss's argument.

The loss protocol
-----------------
A *loss* is any object with these four methods, where ``W`` is either a dense
``(m, n)`` array or a point ``(u, s, vt)`` of :math:`\mathcal M_k` (thin SVD,
``W = u diag(s) vt``):

``value(W) -> float``
    :math:`L(W)`.
``gradient(W)``
    The Euclidean gradient :math:`\nabla L(W)` as an *ambient matrix*: a dense
    ``(m, n)`` array, a ``scipy.sparse`` matrix or a low-rank triple ``(U, S, V)``
    with :math:`\nabla L = U S V^\top` (see :mod:`riemlin.geometry.ambient`).
``gradient_matmul(W, B) -> ndarray``
    :math:`\nabla L(W)\, B` for a thin ``(n, r)`` array ``B``.
``gradient_rmatmul(W, A) -> ndarray``
    :math:`\nabla L(W)^\top A` for a thin ``(m, r)`` array ``A``.

Optionally also

``gradient_products(W, B, A) -> (ndarray, ndarray)``
    Both products :math:`(\nabla L(W) B, \nabla L(W)^\top A)` at once, for losses
    that can share work between them (the residual of :class:`RegressionLoss`, the one
    gradient evaluation of :class:`MatrixLoss`). The flows call it when it exists and
    fall back to the two single products otherwise (:func:`gradient_products`).

The Riemannian gradient on :math:`\mathcal M_k` needs only the two products with the
singular vectors of ``W`` (user guide, chapter "SVD coordinates"), so a loss whose products are
cheap at a point never makes the flows form an ``m x n`` array. Losses may also expose
``shape`` (``(m, n)`` or ``None``). :class:`RegressionLoss` and :class:`MatrixLoss`
implement the protocol; :func:`low_rank_target_loss` builds the large-scale example
:math:`\tfrac12\|W - T\|_F^2` with a low-rank ``T``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from riemlin.geometry.ambient import ambient_shape, is_triple

__all__ = [
    "Loss",
    "gradient_products",
    "is_point",
    "point_matrix",
    "check_loss",
    "check_loss_shape",
    "check_gradient_shape",
]


@runtime_checkable
class Loss(Protocol):
    """The loss protocol (see the module docstring)."""

    def value(self, W) -> float: ...

    def gradient(self, W): ...

    def gradient_matmul(self, W, B: np.ndarray) -> np.ndarray: ...

    def gradient_rmatmul(self, W, A: np.ndarray) -> np.ndarray: ...


def gradient_products(loss, W, B: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Both products :math:`(\nabla L(W)\, B, \nabla L(W)^\top A)` of a protocol loss.

    Calls ``loss.gradient_products`` when the loss has it (one shared evaluation),
    otherwise ``loss.gradient_matmul`` and ``loss.gradient_rmatmul``.

    Parameters
    ----------
    loss : loss protocol object
        See the module docstring.
    W : ndarray or FixedRankPoint
        The point, dense ``(m, n)`` or ``(u, s, vt)``.
    B : ndarray, shape (n, r)
        Right factor.
    A : ndarray, shape (m, q)
        Left factor.

    Returns
    -------
    GB : ndarray, shape (m, r)
    GtA : ndarray, shape (n, q)
    """
    both = getattr(loss, "gradient_products", None)
    if both is not None:
        return both(W, B, A)
    return loss.gradient_matmul(W, B), loss.gradient_rmatmul(W, A)


def is_point(W) -> bool:
    """Whether ``W`` is a point ``(u, s, vt)`` (a triple whose middle entry is 1-D).

    A list of three 1-D rows is a nested-list ``3 x n`` matrix, not a point
    (:func:`riemlin.geometry.ambient.is_triple`).
    """
    if not is_triple(W):
        return False
    try:
        return np.ndim(W[1]) == 1
    except ValueError:  # a ragged middle entry: meant as s, refused by the point checks
        return True


def point_matrix(W) -> np.ndarray:
    """The dense matrix of ``W`` (an array, or a point ``(u, s, vt)``)."""
    if is_point(W):
        u, s, vt = W
        return (u * s) @ vt
    return np.asarray(W, dtype=float)


def check_loss(loss, name: str = "loss") -> None:
    """An object of riemlin's loss protocol (``value``, ``gradient_matmul``, ...)."""
    for method in ("value", "gradient", "gradient_matmul", "gradient_rmatmul"):
        if not callable(getattr(loss, method, None)):
            raise TypeError(
                f"{name} must follow riemlin's loss protocol (value, gradient, gradient_matmul, "
                f"gradient_rmatmul; see riemlin.losses); {type(loss).__name__} has no {method}"
            )


def check_loss_shape(loss, shape: tuple, what: str, name: str = "loss") -> None:
    """Refuse a loss whose declared ``shape`` differs from the ``(m, n)`` of a start."""
    declared = getattr(loss, "shape", None)
    if declared is not None and tuple(declared) != tuple(shape):
        raise ValueError(
            f"{what} has shape {tuple(shape)} but the {name} expects {tuple(declared)} "
            f"({name}.shape); they must match"
        )


def check_gradient_shape(G, shape: tuple, name: str = "loss") -> None:
    """The gradient a loss returned at the start has the shape ``(m, n)`` of the start."""
    try:
        got = tuple(ambient_shape(G, f"the gradient returned by {name}.gradient", finite=False))
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: {exc}") from None
    if got != tuple(shape):
        raise ValueError(
            f"{name}.gradient returned a {got[0]}x{got[1]} matrix at a {shape[0]}x{shape[1]} "
            "start; the loss and the start do not match"
        )
