r"""Losses on the end-to-end matrix :math:`W`: regression, a general matrix loss, and a
low-rank target.

They implement the loss protocol of :mod:`riemlin.losses.base`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from riemlin._validation import (
    as_generator,
    check_array,
    check_int,
    check_positive,
    numerical_rank,
)
from riemlin.geometry.ambient import ambient_matmul, ambient_rmatmul, ambient_shape, is_triple
from riemlin.losses.base import is_point, point_matrix

__all__ = ["MatrixLoss", "RegressionLoss", "low_rank_target_loss", "random_regression"]


class RegressionLoss:
    r"""Linear least squares :math:`L(W) = \tfrac12 \|W X - Y\|_F^2` (samples are columns).

    .. math::

        \nabla L(W) = (W X - Y) X^\top, \qquad
        \nabla L(W)\, B = R\,(X^\top B), \quad \nabla L(W)^\top A = X (R^\top A),
        \quad R = W X - Y.

    At a point ``W = u diag(s) vt`` the residual is formed as ``u (s (vt X)) - Y``,
    so the products cost :math:`O((m + n) s k)` and never build ``m x n`` arrays.

    :meth:`gradient_products` returns both products at a point from the Gram matrices
    :math:`C = X X^\top` and :math:`D = Y X^\top` (formed once, on first use):

    .. math::

        \nabla L(W)\, B = u\,\mathrm{diag}(s)\,(v^\top C B) - D B, \qquad
        \nabla L(W)^\top A = C v\,\mathrm{diag}(s)\,(u^\top A) - D^\top A,

    which costs :math:`O((m + n)\, n\, r)` per call instead of :math:`O((m + n) s r)`,
    used when there are at least as many samples as inputs (``s >= n``, so ``C`` and
    ``D`` are no larger than ``X`` and ``Y``); otherwise one residual serves both products.

    Parameters
    ----------
    X : array_like, shape (n, s)
        Inputs, one sample per column. ``X X^T`` must be invertible unless ``pinv``.
    Y : array_like, shape (m, s)
        Outputs, one sample per column.
    pinv : bool, default False
        If ``X X^T`` is singular, use the Moore–Penrose pseudo-inverse in
        :attr:`target` and :meth:`optimum` (giving the minimizers of least norm) instead
        of raising.

    Raises
    ------
    TypeError
        If ``X`` or ``Y`` is not an array of real numbers.
    ValueError
        If the shapes do not match, entries are not finite, or ``X X^T`` is singular
        (``sigma_min(X) <= n * eps * sigma_max(X)``) and ``pinv`` is false.

    References
    ----------
    Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505 (the loss); Eckart and
    Young, Psychometrika 1 (1936) (the optimum on rank ``<= k``).

    Examples
    --------
    >>> import numpy as np
    >>> loss = RegressionLoss(np.eye(3), np.diag([3.0, 2.0, 1.0]))
    >>> W, value = loss.optimum(2)
    >>> value  # the discarded singular value, squared and halved
    0.5
    """

    def __init__(self, X, Y, *, pinv: bool = False):
        X = check_array(X, "X", ndim=2)
        Y = check_array(Y, "Y", ndim=2)
        if X.shape[1] != Y.shape[1]:
            raise ValueError(
                f"X and Y must have the same number of columns (samples); got X {X.shape} "
                f"and Y {Y.shape}"
            )
        self.X, self.Y = X, Y
        self._pinv = bool(pinv)
        n = X.shape[0]
        # X = P diag(sig) R^T (thin): X X^T = P sig^2 P^T, without squaring the condition.
        P, sig, Rt = np.linalg.svd(X, full_matrices=False)
        rank = numerical_rank(sig, X.shape)
        if rank < n and not self._pinv:
            raise ValueError(
                f"X X^T is singular: X has shape {X.shape} and numerical rank {rank} < n={n} "
                "(needs at least n linearly independent samples); pass pinv=True to use the "
                "pseudo-inverse"
            )
        self._P, self._sig, self._R = P[:, :rank], sig[:rank], Rt[:rank].T
        self._gram = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(m, n)``, the shape of ``W``."""
        return (self.Y.shape[0], self.X.shape[0])

    @property
    def is_whitened(self) -> bool:
        """Whether ``X X^T = I`` (to ``1e-10`` relative accuracy)."""
        n = self.X.shape[0]
        return bool(self._sig.size == n and np.allclose(self._sig, 1.0, rtol=0, atol=1e-10))

    @property
    def target(self) -> np.ndarray:
        r""":math:`Y X^\top (X X^\top)^{-1}`, the unconstrained minimizer.

        Computed from the thin SVD :math:`X = P \Sigma R^\top` as
        :math:`Y R \Sigma^{-1} P^\top` (no inverse of :math:`X X^\top` is formed).
        """
        return ((self.Y @ self._R) / self._sig) @ self._P.T

    def _residual(self, W) -> np.ndarray:
        if is_point(W):
            u, s, vt = W
            return u @ (s[:, None] * (vt @ self.X)) - self.Y
        return W @ self.X - self.Y

    def value(self, W) -> float:
        r""":math:`\tfrac12\|W X - Y\|_F^2` for a dense ``W`` or a point.

        Parameters
        ----------
        W : ndarray or FixedRankPoint
            The matrix, dense ``(m, n)`` or a point ``(u, s, vt)``.

        Returns
        -------
        float
            The loss.
        """
        R = self._residual(W)
        # einsum, not the BLAS dot of np.vdot: OpenBLAS threads dot products longer than
        # 10^4 entries, and on a loaded machine the hand-off stalls for milliseconds
        return 0.5 * float(np.einsum("ij,ij->", R, R))

    def gradient(self, W) -> np.ndarray:
        r"""The dense gradient :math:`(W X - Y) X^\top`.

        Parameters
        ----------
        W : ndarray or FixedRankPoint
            The matrix, dense ``(m, n)`` or a point ``(u, s, vt)``.

        Returns
        -------
        ndarray, shape (m, n)
            :math:`\nabla L(W)`.
        """
        return self._residual(W) @ self.X.T

    def gradient_matmul(self, W, B: np.ndarray) -> np.ndarray:
        r""":math:`\nabla L(W) B = R (X^\top B)`.

        Parameters
        ----------
        W : ndarray or FixedRankPoint
            The matrix, dense ``(m, n)`` or a point ``(u, s, vt)``.
        B : ndarray, shape (n, r)
            Thin right factor.

        Returns
        -------
        ndarray, shape (m, r)
            :math:`\nabla L(W)\, B`, without forming the gradient.
        """
        return self._residual(W) @ (self.X.T @ B)

    def gradient_rmatmul(self, W, A: np.ndarray) -> np.ndarray:
        r""":math:`\nabla L(W)^\top A = X (R^\top A)`.

        Parameters
        ----------
        W : ndarray or FixedRankPoint
            The matrix, dense ``(m, n)`` or a point ``(u, s, vt)``.
        A : ndarray, shape (m, r)
            Thin left factor.

        Returns
        -------
        ndarray, shape (n, r)
            :math:`\nabla L(W)^\top A`, without forming the gradient.
        """
        return self.X @ (self._residual(W).T @ A)

    def gradient_products(self, W, B: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""Both :math:`\nabla L(W) B` and :math:`\nabla L(W)^\top A` in one call.

        From the Gram matrices at a point when ``s >= n`` (see the class docstring),
        from one shared residual otherwise.

        Parameters
        ----------
        W : ndarray or FixedRankPoint
            The matrix, dense ``(m, n)`` or a point ``(u, s, vt)``.
        B : ndarray, shape (n, r)
            Thin right factor.
        A : ndarray, shape (m, q)
            Thin left factor.

        Returns
        -------
        GB : ndarray, shape (m, r)
            :math:`\nabla L(W)\, B`.
        GtA : ndarray, shape (n, q)
            :math:`\nabla L(W)^\top A`.
        """
        n, samples = self.X.shape
        if not (is_point(W) and samples >= n):
            R = self._residual(W)
            return R @ (self.X.T @ B), self.X @ (R.T @ A)
        if self._gram is None:
            self._gram = (self.X @ self.X.T, self.Y @ self.X.T)
        C, D = self._gram
        u, s, vt = W
        Cv = C @ vt.T  # C is symmetric: v^T C B = (C v)^T B
        GB = u @ (s[:, None] * (Cv.T @ B)) - D @ B
        GtA = Cv @ (s[:, None] * (u.T @ A)) - D.T @ A
        return GB, GtA

    def optimum(self, k: int) -> tuple[np.ndarray, float]:
        r"""The minimizer of :math:`L` over rank :math:`\le k` and the minimum value.

        With :math:`Q = (X X^\top)^{1/2}` and :math:`B = Y X^\top Q^{-1}`, the minimizer
        is :math:`W^* = [B]_k Q^{-1}` (:math:`[\cdot]_k` the truncated SVD) and

        .. math::

            L(W^*) = \tfrac12\Big(\|Y\|_F^2 - \|B\|_F^2 + \sum_{a>k}\sigma_a(B)^2\Big).

        From :math:`X = P\Sigma R^\top`: :math:`Q = P \Sigma P^\top`, :math:`B = Y R P^\top`
        and :math:`\|Y\|^2 - \|B\|^2 = \|Y - Y R R^\top\|^2`, which is evaluated directly
        (no cancellation).

        Parameters
        ----------
        k : int
            Rank bound, ``1 <= k``; ``k >= min(m, n)`` gives the unconstrained optimum.

        Returns
        -------
        W : ndarray, shape (m, n)
            A minimizer (unique when :math:`\sigma_k(B) > \sigma_{k+1}(B)`).
        value : float
            The minimum value.

        Raises
        ------
        TypeError
            If ``k`` is not an int.
        ValueError
            If ``k < 1``.

        References
        ----------
        Bah et al., arXiv:1910.05505 (global minimizers on :math:`\mathcal M_k`);
        Eckart and Young, Psychometrika 1 (1936).
        """
        k = check_int(k, "k")
        YR = self.Y @ self._R
        Ub, sb, Vbt = np.linalg.svd(YR, full_matrices=False)  # B = Ub sb (Vbt P^T)
        kk = min(k, sb.size)
        Wstar = ((Ub[:, :kk] * sb[:kk]) @ (Vbt[:kk] / self._sig)) @ self._P.T
        outside = self.Y - YR @ self._R.T
        value = 0.5 * (float(np.vdot(outside, outside)) + float(np.sum(sb[kk:] ** 2)))
        return Wstar, value

    def __repr__(self) -> str:
        m, n = self.shape
        return f"RegressionLoss(m={m}, n={n}, samples={self.X.shape[1]})"


class MatrixLoss:
    r"""A loss from callables: the value and the Euclidean gradient of :math:`L(W)`.

    Parameters
    ----------
    value : callable
        ``value(W) -> float``.
    gradient : callable
        ``gradient(W)`` returning :math:`\nabla L(W)` as a dense ``(m, n)`` array, a
        ``scipy.sparse`` matrix or a low-rank triple ``(U, S, V)`` (``S`` 1-D or 2-D).
        The products ``gradient_matmul``/``gradient_rmatmul`` use that form, so a
        low-rank gradient is never densified.
    accepts_points : bool, default False
        If true, the callables receive a point ``(u, s, vt)`` unchanged when the flows
        pass one (the way to write losses for large ``m``, ``n``); if false, a point is
        turned into the dense matrix ``u diag(s) vt`` first.
    shape : (int, int), optional
        ``(m, n)``, checked against the starting point of a flow when given.

    Raises
    ------
    TypeError
        If ``value`` or ``gradient`` is not callable, or ``shape`` is not a pair.
    ValueError
        If ``shape`` does not have two entries ``>= 1``.

    Examples
    --------
    >>> import numpy as np
    >>> T = np.arange(6.0).reshape(2, 3)
    >>> loss = MatrixLoss(lambda W: 0.5 * np.sum((W - T) ** 2), lambda W: W - T)
    >>> loss.value(np.zeros((2, 3)))
    27.5
    """

    def __init__(
        self,
        value: Callable,
        gradient: Callable,
        *,
        accepts_points: bool = False,
        shape: tuple[int, int] | None = None,
    ):
        if not callable(value):
            raise TypeError(f"value must be callable; got {type(value).__name__}")
        if not callable(gradient):
            raise TypeError(f"gradient must be callable; got {type(gradient).__name__}")
        if shape is not None:
            if isinstance(shape, (str, bytes)) or not isinstance(shape, (tuple, list)):
                raise TypeError(
                    f"shape must be a pair (m, n) of ints or None; got {type(shape).__name__}"
                )
            if len(shape) != 2:
                raise ValueError(f"shape must be a pair (m, n) of ints; got {tuple(shape)}")
            shape = (check_int(shape[0], "shape[0]"), check_int(shape[1], "shape[1]"))
        self._value, self._gradient = value, gradient
        self._accepts_points = bool(accepts_points)
        self.shape = shape

    @classmethod
    def from_autograd(cls, f: Callable, *, shape: tuple[int, int] | None = None) -> MatrixLoss:
        """A loss from a function ``f(W)`` of the dense matrix written with ``autograd.numpy``.

        autograd derives the gradient. Points are densified (``u diag(s) vt``), so this
        is meant for small and medium sizes.

        Parameters
        ----------
        f : callable
            ``f(W) -> float`` for a dense ``(m, n)`` array, written with ``autograd.numpy``
            so that autograd can differentiate it.
        shape : (int, int), optional
            ``(m, n)``, checked against the starting point of a flow when given.

        Returns
        -------
        MatrixLoss
            The loss with value ``float(f(W))`` and gradient ``autograd.grad(f)``.

        Raises
        ------
        TypeError
            If ``f`` is not callable or ``shape`` is not a pair.
        ValueError
            If ``shape`` does not have two entries ``>= 1``.

        Examples
        --------
        >>> import autograd.numpy as anp
        >>> import numpy as np
        >>> loss = MatrixLoss.from_autograd(lambda W: anp.sum(W**4) / 4)
        >>> loss.gradient(np.full((1, 2), 2.0))
        array([[8., 8.]])
        """
        import autograd

        if not callable(f):
            raise TypeError(f"f must be callable; got {type(f).__name__}")
        return cls(lambda W: float(f(W)), autograd.grad(f), shape=shape)

    def _arg(self, W):
        if is_point(W) and not self._accepts_points:
            return point_matrix(W)
        return W

    def value(self, W) -> float:
        """:math:`L(W)`.

        Parameters
        ----------
        W : ndarray or FixedRankPoint
            The matrix, dense ``(m, n)`` or a point ``(u, s, vt)``.
            Densified first unless the loss was built with ``accepts_points=True``.

        Returns
        -------
        float
            The value callable's result, as a float.
        """
        return float(self._value(self._arg(W)))

    def gradient(self, W):
        r""":math:`\nabla L(W)` in the form the gradient callable returns.

        Parameters
        ----------
        W : ndarray or FixedRankPoint
            The matrix, dense ``(m, n)`` or a point ``(u, s, vt)``.
            Densified first unless the loss was built with ``accepts_points=True``.

        Returns
        -------
        ndarray, sparse matrix or tuple (U, S, V)
            The ``m x n`` gradient: a dense array (as ``float64``), a ``scipy.sparse`` matrix
            or a low-rank triple, as the callable gave it.
        """
        G = self._gradient(self._arg(W))
        if isinstance(G, (tuple, list)):
            return G
        return np.asarray(G, dtype=float) if isinstance(G, np.ndarray) else G

    def gradient_matmul(self, W, B: np.ndarray) -> np.ndarray:
        r""":math:`\nabla L(W) B`.

        Parameters
        ----------
        W : ndarray or FixedRankPoint
            The matrix, dense ``(m, n)`` or a point ``(u, s, vt)``.
        B : ndarray, shape (n, r)
            Thin right factor.

        Returns
        -------
        ndarray, shape (m, r)
            :math:`\nabla L(W)\, B`; a sparse or low-rank gradient is not densified.
        """
        return ambient_matmul(self.gradient(W), B)

    def gradient_rmatmul(self, W, A: np.ndarray) -> np.ndarray:
        r""":math:`\nabla L(W)^\top A`.

        Parameters
        ----------
        W : ndarray or FixedRankPoint
            The matrix, dense ``(m, n)`` or a point ``(u, s, vt)``.
        A : ndarray, shape (m, r)
            Thin left factor.

        Returns
        -------
        ndarray, shape (n, r)
            :math:`\nabla L(W)^\top A`; a sparse or low-rank gradient is not densified.
        """
        return ambient_rmatmul(self.gradient(W), A)

    def gradient_products(self, W, B: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`(\nabla L(W) B, \nabla L(W)^\top A)` from one gradient evaluation.

        Parameters
        ----------
        W : ndarray or FixedRankPoint
            The matrix, dense ``(m, n)`` or a point ``(u, s, vt)``.
        B : ndarray, shape (n, r)
            Thin right factor.
        A : ndarray, shape (m, q)
            Thin left factor.

        Returns
        -------
        GB : ndarray, shape (m, r)
            :math:`\nabla L(W)\, B`.
        GtA : ndarray, shape (n, q)
            :math:`\nabla L(W)^\top A`.
        """
        G = self.gradient(W)
        return ambient_matmul(G, B), ambient_rmatmul(G, A)


def low_rank_target_loss(T) -> MatrixLoss:
    r"""The loss :math:`\tfrac12\|W - T\|_F^2` for a low-rank target ``T = U S V^T``.

    Works on points without forming ``m x n`` arrays: with ``W = u diag(s) vt``,

    .. math::

        L(W) = \tfrac12\big(\|s\|^2 - 2\,\mathrm{tr}(\mathrm{diag}(s)\, v^\top V S^\top
        U^\top u) + \|U S V^\top\|_F^2\big), \qquad
        \nabla L(W) = [u, U] \begin{pmatrix} \mathrm{diag}(s) & 0 \\ 0 & -S
        \end{pmatrix} [v, V]^\top .

    Parameters
    ----------
    T : array_like or (U, S, V)
        The target, dense ``(m, n)`` (then used densely) or a low-rank triple.

    Returns
    -------
    MatrixLoss
        With ``accepts_points=True``; the gradient is a low-rank triple at points.

    Raises
    ------
    TypeError
        If ``T`` (or a factor) is not an array of real numbers, or is a nested list of
        three rows (pass ``np.asarray`` for a dense ``3 x n`` target).
    ValueError
        If ``T`` is not 2-D, is empty, or has non-finite entries, or the factors of a
        triple do not chain.
    """
    if is_triple(T):
        m, n = ambient_shape(T, "T")
        U, S, V = (np.asarray(x, dtype=float) for x in T)
        S = np.diag(S) if S.ndim == 1 else S
        Ur = np.linalg.qr(U, mode="r")
        Vr = np.linalg.qr(V, mode="r")
        core = Ur @ S @ Vr.T
        tnorm2 = float(np.vdot(core, core))
    else:
        Td = check_array(T, "T", ndim=2)
        m, n = Td.shape
        U = S = V = None

    def value(W):
        if U is None:
            D = point_matrix(W) - Td
            return 0.5 * float(np.vdot(D, D))
        if is_point(W):
            u, s, vt = W
            cross = float(np.sum(s * np.diag((u.T @ U) @ S @ (V.T @ vt.T))))
            return 0.5 * (float(s @ s) - 2.0 * cross + tnorm2)
        D = np.asarray(W) - U @ S @ V.T
        return 0.5 * float(np.vdot(D, D))

    def gradient(W):
        if U is None:
            return point_matrix(W) - Td
        if is_point(W):
            u, s, vt = W
            k, r = s.size, S.shape[0]
            mid = np.zeros((k + r, k + S.shape[1]))
            mid[:k, :k] = np.diag(s)
            mid[k:, k:] = -S
            return (np.hstack((u, U)), mid, np.hstack((vt.T, V)))
        return np.asarray(W) - U @ S @ V.T

    return MatrixLoss(value, gradient, accepts_points=True, shape=(m, n))


def random_regression(m: int, n: int, k: int, samples: int, rng=None, *, scale: float = 1.0):
    r"""A seeded regression problem and a rank-``k`` start: the problem of riemlin's sweeps.

    Draws, in this order from one generator, :math:`X \in \mathbb R^{n\times s}` and
    :math:`Y \in \mathbb R^{m\times s}` with iid :math:`\mathcal N(0, 1/s)` entries
    (:math:`s` = ``samples``, so :math:`X X^\top \approx I`), and the start
    :math:`W_0 = \text{scale}\, G H / \sqrt k` with standard Gaussian
    :math:`G \in \mathbb R^{m\times k}`, :math:`H \in \mathbb R^{k\times n}` (entries of
    variance :math:`\text{scale}^2`, rank ``k``). A generator passed in keeps its state
    after the draws, so callers can draw more from it (balanced layers over ``W0``).

    Parameters
    ----------
    m, n : int
        Output and input dimensions.
    k : int
        Rank of the start, ``1 <= k <= min(m, n)``.
    samples : int
        Number of samples ``s >= n`` (so that :math:`X X^\top` is invertible).
    rng : None, int, SeedSequence or Generator
        Source of ``X``, ``Y`` and ``W0`` (a Generator keeps its state after the draws).
    scale : float, default 1
        Size of the start.

    Returns
    -------
    loss : RegressionLoss
        :math:`\tfrac12\|W X - Y\|_F^2` with the drawn data.
    W0 : ndarray, shape (m, n)
        The rank-``k`` start.

    Raises
    ------
    TypeError
        If a size is not an int, ``scale`` is not a real number, or ``rng`` is not a valid
        source of randomness.
    ValueError
        If a size is below 1, ``k > min(m, n)``, ``samples < n``, or ``scale`` is not
        positive and finite.

    Examples
    --------
    >>> loss, W0 = random_regression(4, 3, 2, 10, rng=0)
    >>> W0.shape, int(np.linalg.matrix_rank(W0))
    ((4, 3), 2)
    """
    m, n, k = check_int(m, "m"), check_int(n, "n"), check_int(k, "k")
    samples = check_int(samples, "samples")
    if k > min(m, n):
        raise ValueError(f"k must satisfy 1 <= k <= min(m, n) = {min(m, n)}; got k={k}")
    if samples < n:
        raise ValueError(f"samples = {samples} is below n = {n} (X X^T would be singular)")
    scale = check_positive(scale, "scale")
    gen = as_generator(rng)
    X = gen.standard_normal((n, samples)) / np.sqrt(samples)
    Y = gen.standard_normal((m, samples)) / np.sqrt(samples)
    W0 = scale * (gen.standard_normal((m, k)) @ gen.standard_normal((k, n))) / np.sqrt(k)
    return RegressionLoss(X, Y), W0
