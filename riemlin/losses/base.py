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
    r"""The loss protocol (see the module docstring).

    Any object with these four methods is a loss; ``isinstance(obj, Loss)`` tests for
    them (the protocol is runtime-checkable). ``W`` is a dense ``(m, n)`` array or a
    point ``(u, s, vt)`` of :math:`\mathcal M_k`, and an implementation must accept
    both.
    """

    def value(self, W) -> float:
        """The loss :math:`L(W)`.

        Parameters
        ----------
        W : ndarray or FixedRankPoint
            The matrix, dense ``(m, n)`` or a point ``(u, s, vt)``.

        Returns
        -------
        float
            :math:`L(W)`.
        """

    def gradient(self, W):
        r"""The Euclidean gradient :math:`\nabla L(W)` as an ambient matrix.

        Parameters
        ----------
        W : ndarray or FixedRankPoint
            The matrix, dense ``(m, n)`` or a point ``(u, s, vt)``.

        Returns
        -------
        ndarray, sparse matrix or tuple (U, S, V)
            :math:`\nabla L(W)`, ``m x n``: dense, ``scipy.sparse`` or a low-rank triple
            with :math:`\nabla L = U S V^\top`.
        """

    def gradient_matmul(self, W, B: np.ndarray) -> np.ndarray:
        r"""The product :math:`\nabla L(W)\, B` with a thin matrix.

        Parameters
        ----------
        W : ndarray or FixedRankPoint
            The matrix, dense ``(m, n)`` or a point ``(u, s, vt)``.
        B : ndarray, shape (n, r)
            Thin right factor (the flows pass the right singular vectors).

        Returns
        -------
        ndarray, shape (m, r)
            :math:`\nabla L(W)\, B`.
        """

    def gradient_rmatmul(self, W, A: np.ndarray) -> np.ndarray:
        r"""The product :math:`\nabla L(W)^\top A` with a thin matrix.

        Parameters
        ----------
        W : ndarray or FixedRankPoint
            The matrix, dense ``(m, n)`` or a point ``(u, s, vt)``.
        A : ndarray, shape (m, r)
            Thin left factor (the flows pass the left singular vectors).

        Returns
        -------
        ndarray, shape (n, r)
            :math:`\nabla L(W)^\top A`.
        """


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
        :math:`\nabla L(W)\, B`.
    GtA : ndarray, shape (n, q)
        :math:`\nabla L(W)^\top A`.
    """
    both = getattr(loss, "gradient_products", None)
    if both is not None:
        return both(W, B, A)
    return loss.gradient_matmul(W, B), loss.gradient_rmatmul(W, A)


def is_point(W) -> bool:
    """Whether ``W`` is a point ``(u, s, vt)`` (a triple whose middle entry is 1-D).

    A list of three 1-D rows is a nested-list ``3 x n`` matrix, not a point
    (:func:`riemlin.geometry.ambient.is_triple`).

    Parameters
    ----------
    W : object
        The argument of a loss method: a matrix or a point.

    Returns
    -------
    bool
        ``True`` if the losses read ``W`` as ``(u, s, vt)``, ``False`` for a matrix.
    """
    if not is_triple(W):
        return False
    try:
        return np.ndim(W[1]) == 1
    except ValueError:  # a ragged middle entry: meant as s, refused by the point checks
        return True


def point_matrix(W) -> np.ndarray:
    """The dense matrix of ``W`` (an array, or a point ``(u, s, vt)``).

    Parameters
    ----------
    W : ndarray or FixedRankPoint
        A dense ``(m, n)`` array (or nested list), or a point ``(u, s, vt)``.

    Returns
    -------
    ndarray, shape (m, n)
        ``W`` as a ``float64`` array, ``u diag(s) vt`` for a point.
    """
    if is_point(W):
        u, s, vt = W
        return (u * s) @ vt
    return np.asarray(W, dtype=float)


def check_loss(loss, name: str = "loss") -> None:
    """An object of riemlin's loss protocol (``value``, ``gradient_matmul``, ...).

    Parameters
    ----------
    loss : object
        The object to check.
    name : str, default "loss"
        Name of the argument in error messages.

    Raises
    ------
    TypeError
        If ``loss`` lacks one of the callables ``value``, ``gradient``,
        ``gradient_matmul``, ``gradient_rmatmul``.
    """
    for method in ("value", "gradient", "gradient_matmul", "gradient_rmatmul"):
        if not callable(getattr(loss, method, None)):
            raise TypeError(
                f"{name} must follow riemlin's loss protocol (value, gradient, gradient_matmul, "
                f"gradient_rmatmul; see riemlin.losses); {type(loss).__name__} has no {method}"
            )


def check_loss_shape(loss, shape: tuple, what: str, name: str = "loss") -> None:
    """Refuse a loss whose declared ``shape`` differs from the ``(m, n)`` of a start.

    Parameters
    ----------
    loss : object
        A loss; its optional ``shape`` attribute (``None`` or absent: anything goes) is
        compared.
    shape : tuple of int
        ``(m, n)`` of the start.
    what : str
        What the start is called in the message (e.g. ``"W0"``).
    name : str, default "loss"
        Name of the loss argument in error messages.

    Raises
    ------
    ValueError
        If ``loss.shape`` is set and differs from ``shape``.
    """
    declared = getattr(loss, "shape", None)
    if declared is not None and tuple(declared) != tuple(shape):
        raise ValueError(
            f"{what} has shape {tuple(shape)} but the {name} expects {tuple(declared)} "
            f"({name}.shape); they must match"
        )


def check_gradient_shape(G, shape: tuple, name: str = "loss") -> None:
    """The gradient a loss returned at the start has the shape ``(m, n)`` of the start.

    Parameters
    ----------
    G : ndarray, sparse matrix or tuple (U, S, V)
        The ambient gradient the loss returned (non-finite entries are allowed here).
    shape : tuple of int
        ``(m, n)`` of the start.
    name : str, default "loss"
        Name of the loss argument in error messages.

    Raises
    ------
    TypeError
        If ``G`` is none of the ambient forms or holds non-real data.
    ValueError
        If ``G`` is malformed or its shape is not ``shape``.
    """
    try:
        got = tuple(ambient_shape(G, f"the gradient returned by {name}.gradient", finite=False))
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: {exc}") from None
    if got != tuple(shape):
        raise ValueError(
            f"{name}.gradient returned a {got[0]}x{got[1]} matrix at a {shape[0]}x{shape[1]} "
            "start; the loss and the start do not match"
        )
