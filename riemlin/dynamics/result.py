"""The result of every flow and descent run, and the status codes shared with the sweeps."""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from riemlin.geometry.manifold import FixedRankPoint

__all__ = ["Status", "FlowResult"]


class Status(IntEnum):
    """How a run ended (an ``int``, so ``status == 0`` and ``status == -2`` still work).

    ``SUCCESS`` (0): the run reached its end. ``INTEGRATOR_FAILED`` (-1): the step size
    collapsed, or the steps were so small that the run would not end. ``DIVERGED`` (-2):
    the loss, the gradient or the state became non-finite, or the loss exploded.
    ``RANK_LOST`` (-3): the trajectory is leaving the manifold of rank-``k`` matrices.
    ``EXCEPTION`` (-4): a run of a sweep raised (recorded by the sweep runner, never
    returned by a flow).
    """

    SUCCESS = 0
    INTEGRATOR_FAILED = -1
    DIVERGED = -2
    RANK_LOST = -3
    EXCEPTION = -4

    @property
    def description(self) -> str:
        """A few words for tables and reports."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Status.SUCCESS: "ok",
    Status.INTEGRATOR_FAILED: "integrator failed",
    Status.DIVERGED: "diverged",
    Status.RANK_LOST: "rank lost",
    Status.EXCEPTION: "exception",
}


class FlowResult:
    """Output of a flow or a descent run (fields in the spirit of ``scipy.integrate``).

    Every attribute has one type: ``W`` is always the array of end-to-end matrices and
    ``points`` always the list of points ``(u, s, vt)``; a run stores whichever form it
    computed (``output="point"`` stores points, so that no ``m x n`` array is formed) and
    the other is computed on first access.

    The flows and descents build it; users read its attributes.

    Parameters
    ----------
    t : array_like, shape (T,)
        Output times.
    loss : array_like, shape (T,)
        Loss at the output times.
    status : Status or int
        How the run ended (one of the :class:`Status` codes).
    message : str
        Reason for the status.
    nfev : int
        Number of loss-gradient evaluations.
    singular_values : array_like, shape (T, k)
        Singular values of the end-to-end matrix at the output times.
    matrices : array_like, shape (T, m, n), optional
        The end-to-end matrices; give either these or ``points``.
    points : sequence of tuple (u, s, vt), optional
        The end-to-end matrices as points of :math:`\\mathcal M_k`; give either these or
        ``matrices``.
    imbalance : ndarray, optional
        Relative imbalance over time (layer runs).
    imbalance_drift : ndarray, optional
        Drift of the imbalance matrices over time (layer runs).
    factors : list of ndarray, optional
        Final layers (layer runs).

    Attributes
    ----------
    t : ndarray, shape (T,)
        Output times (for descent: ``step * iteration``). Shorter than requested when
        the run stopped early.
    loss : ndarray, shape (T,)
        :math:`L(W(t))`.
    W : ndarray, shape (T, m, n)
        End-to-end matrices at the output times (formed from ``points`` on first access
        when the run stored points).
    points : list of FixedRankPoint
        The matrices as points ``(u, s, vt)`` of :math:`\\mathcal M_k` (thin SVDs of ``W``,
        cut at ``k = singular_values.shape[1]``, when the run stored matrices).
    status : Status
        How the run ended.
    message : str
        Human-readable reason for the status.
    nfev : int
        Number of loss-gradient evaluations.
    singular_values : ndarray, shape (T, k)
        Singular values of ``W`` at the output times.
    imbalance : ndarray or None
        Relative imbalance of the layers over time (layer runs,
        :func:`riemlin.networks.imbalance_norm`); ``None`` for Riemannian runs.
    imbalance_drift : ndarray or None
        ``max_j ||D_j(t) - D_j(0)||_F / max_j ||W_j(0)||_2^2``, how far the imbalance
        matrices moved (zero for the exact layer flow); ``None`` for Riemannian runs.
    factors : list of ndarray or None
        Final layers (layer runs); ``None`` for Riemannian runs.

    Raises
    ------
    ValueError
        If both or neither of ``matrices`` and ``points`` are given, or ``status`` is
        not a :class:`Status` code.
    """

    def __init__(
        self,
        *,
        t,
        loss,
        status,
        message: str,
        nfev: int,
        singular_values,
        matrices=None,
        points=None,
        imbalance=None,
        imbalance_drift=None,
        factors=None,
    ):
        if (matrices is None) == (points is None):
            raise ValueError("FlowResult stores either matrices or points")
        self.t = np.asarray(t, dtype=float)
        self.loss = np.asarray(loss, dtype=float)
        self.status = Status(status)
        self.message = str(message)
        self.nfev = int(nfev)
        self.singular_values = np.asarray(singular_values, dtype=float)
        self.imbalance = imbalance
        self.imbalance_drift = imbalance_drift
        self.factors = factors
        self._matrices = None if matrices is None else np.asarray(matrices, dtype=float)
        self._points = None if points is None else [FixedRankPoint(*p) for p in points]

    @property
    def success(self) -> bool:
        """Whether the run ended with ``Status.SUCCESS``."""
        return self.status == Status.SUCCESS

    @property
    def W(self) -> np.ndarray:
        """The end-to-end matrices, ``(T, m, n)``."""
        if self._matrices is None:
            u, _, vt = self._points[0]
            shape = (len(self._points), u.shape[0], vt.shape[1])
            self._matrices = np.array([(u * s) @ vt for u, s, vt in self._points]).reshape(shape)
        return self._matrices

    @property
    def points(self) -> list:
        """The end-to-end matrices as points ``(u, s, vt)``."""
        if self._points is None:
            if not np.all(np.isfinite(self._matrices)):
                raise ValueError(
                    "this run's matrices are not all finite (it diverged): they have no "
                    "points; use W"
                )
            k = self.singular_values.shape[1]
            out = []
            for W in self._matrices:
                u, s, vt = np.linalg.svd(W, full_matrices=False)
                out.append(FixedRankPoint(u[:, :k], s[:k], vt[:k]))
            self._points = out
        return self._points

    @property
    def stored(self) -> str:
        """Which form the run stored: ``"matrix"`` or ``"point"``."""
        return "matrix" if self._matrices is not None else "point"

    def __repr__(self) -> str:
        return (
            f"FlowResult(status={self.status.name}, message={self.message!r}, "
            f"T={self.t.size}, nfev={self.nfev}, stored={self.stored!r})"
        )
