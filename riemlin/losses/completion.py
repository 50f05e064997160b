r"""Low-rank matrix completion at scale: :class:`CompletionLoss` and :func:`random_completion`.

The loss of matrix completion over the observed entries :math:`\Omega`,

.. math::

    L(W) = \tfrac12 \sum_{(i,j)\in\Omega} (W_{ij} - A_{ij})^2, \qquad
    \nabla L(W) = P_\Omega(W - A),

has a gradient with :math:`|\Omega|` nonzero entries. At a point
:math:`W = u\,\mathrm{diag}(s)\,v^\top` of :math:`\mathcal M_k` the residual is a row-wise
dot product :math:`r_{ij} = \sum_a (u_{ia} s_a) v_{ja} - A_{ij}` (:math:`O(|\Omega| k)`),
the gradient is the sparse matrix with the entries :math:`r`, and the Riemannian gradient
needs only :math:`\nabla L\, v` and :math:`\nabla L^\top u` (:math:`O(|\Omega| k)`), so no
``m x n`` array is ever formed (Vandereycken, SIAM J. Optim. 23 (2013); Boumal and
Absil, Linear Algebra Appl. 475 (2015)).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from riemlin._validation import (
    as_generator,
    check_array,
    check_int,
    check_nonnegative,
    check_point,
    check_positive,
    check_real_dtype,
)
from riemlin.geometry.ambient import ambient_shape, is_triple
from riemlin.geometry.manifold import FixedRankPoint, random_frame
from riemlin.geometry.tangent import tangent_low_rank
from riemlin.losses.regression import is_point

__all__ = ["CompletionLineSearcher", "CompletionLoss", "random_completion", "relative_error"]

#: Numbers per gathered block of the row-wise dot products (``entries x terms``): 256 KB
#: per factor, reduced by ``einsum`` right after the gather, while still in cache.
_BLOCK = 1 << 15


def _index_array(x, name: str, bound: int, axis: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a 1-D array of {axis} indices; got {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of {axis} indices; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer {axis} indices; got dtype {arr.dtype}")
    arr = arr.astype(np.intp, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= bound):
        raise ValueError(
            f"{name} must hold {axis} indices in [0, {bound}); got values in "
            f"[{arr.min()}, {arr.max()}]"
        )
    return arr


def _block_size(terms: int) -> int:
    return max(256, _BLOCK // max(terms, 1))


def _rowdot(X: np.ndarray, Y: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    r"""``out[e] = sum_a X[rows[e], a] * Y[cols[e], a]``: the sampled entries of ``X Y^T``.

    ``X`` (``m x q``) and ``Y`` (``n x q``) are C-ordered, so each entry reads one row of
    each. The entries go in blocks of about ``_BLOCK`` numbers per side: the rows of both
    factors are gathered (``take``) and each block is reduced by one ``einsum`` while it
    sits in cache (user guide, chapter "Performance at scale").
    """
    out = np.empty(rows.size)
    size = _block_size(X.shape[1])
    for s in range(0, rows.size, size):
        e = min(s + size, rows.size)
        np.einsum("ij,ij->i", X.take(rows[s:e], axis=0), Y.take(cols[s:e], axis=0), out=out[s:e])
    return out


class CompletionLoss:
    r"""The matrix-completion loss :math:`\tfrac12\sum_{(i,j)\in\Omega}(W_{ij} - A_{ij})^2`.

    Implements the loss protocol of :mod:`riemlin.losses` for dense ``W`` and for points
    ``(u, s, vt)``; at points nothing of size ``m x n`` is formed:

    * ``value`` and the residual :math:`r = P_\Omega(W) - A` cost :math:`O(|\Omega| k)`
      (row-wise dot products of ``u diag(s)`` and ``v``), and the residual is cached
      for the last point, so a cost and a gradient at the same point share it;
    * ``gradient`` is a ``scipy.sparse.csr_matrix`` with the entries of :math:`r`
      (which :meth:`riemlin.FixedRankDeepLinear.riemannian_gradient_from_matrix` and
      pymanopt's ``FixedRankEmbedded.projection`` accept);
    * ``gradient_matmul``/``gradient_rmatmul`` are sparse products, :math:`O(|\Omega| r)`;
    * ``hessian_vector_product`` gives :math:`P_\Omega(\Xi)` for a direction
      :math:`\Xi` (dense or a low-rank triple), for second-order solvers.

    Parameters
    ----------
    rows, cols : array_like of int, shape (nnz,)
        Row and column indices of the observed entries (no pair twice).
    values : array_like of float, shape (nnz,)
        The observed values :math:`A_{ij}`.
    shape : (int, int)
        ``(m, n)``.

    Raises
    ------
    TypeError
        If the indices are not integers or ``shape`` is not a pair of ints.
    ValueError
        If the arrays are not 1-D of one length, empty, out of range, the values are
        not finite, or an entry is observed twice.

    See Also
    --------
    random_completion : A seeded synthetic problem with its ground truth.
    CompletionLineSearcher : The exact linearized step, for pymanopt's solvers.

    References
    ----------
    .. [1] B. Vandereycken, "Low-rank matrix completion by Riemannian optimization",
       SIAM J. Optim. 23 (2013) 1214-1236.

    Examples
    --------
    >>> import numpy as np
    >>> loss = CompletionLoss([0, 1], [1, 0], [1.0, 2.0], (2, 2))
    >>> loss.value(np.zeros((2, 2)))
    2.5
    >>> loss.gradient(np.zeros((2, 2))).toarray()
    array([[ 0., -1.],
           [-2.,  0.]])
    """

    def __init__(self, rows, cols, values, shape):
        if not isinstance(shape, (tuple, list)) or len(shape) != 2:
            raise TypeError(f"shape must be a pair (m, n) of ints; got {shape!r}")
        m, n = check_int(shape[0], "shape[0]"), check_int(shape[1], "shape[1]")
        rows = _index_array(rows, "rows", m, "row")
        cols = _index_array(cols, "cols", n, "column")
        values = check_array(values, "values", finite=False, allow_empty=True)
        if values.ndim != 1:
            raise ValueError(f"values must be 1-D; got shape {values.shape}")
        if not rows.size == cols.size == values.size:
            raise ValueError(
                f"rows, cols and values must have one length; got {rows.size}, {cols.size} "
                f"and {values.size}"
            )
        if rows.size == 0:
            raise ValueError("at least one entry must be observed; rows, cols, values are empty")
        if not np.all(np.isfinite(values)):
            raise ValueError("values has non-finite entries (nan or inf)")
        # Row-major order: the CSR structure is then the arrays themselves.
        linear = rows * n + cols
        if np.any(linear[1:] < linear[:-1]):
            order = np.argsort(linear, kind="stable")
            rows, cols, values, linear = rows[order], cols[order], values[order], linear[order]
        same = np.flatnonzero(linear[1:] == linear[:-1])
        if same.size:
            e = same[0]
            raise ValueError(
                f"entry ({rows[e]}, {cols[e]}) is observed {int(np.sum(linear == linear[e]))} "
                "times; each (row, col) pair may appear once"
            )
        self._m, self._n = m, n
        self.rows, self.cols, self.values = rows, cols, values
        index = np.int32 if max(m, n, rows.size) < 2**31 - 1 else np.int64
        self._indices = cols.astype(index)
        self._indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=m))))
        self._indptr = self._indptr.astype(index)
        self._key = None  # copies of the last point, and its residual and gradient
        self._residual_cache = None
        self._gradient_cache = None

    # ------------------------------------------------------------------ basics
    @property
    def shape(self) -> tuple[int, int]:
        """``(m, n)``."""
        return (self._m, self._n)

    @property
    def nnz(self) -> int:
        """Number of observed entries :math:`|\\Omega|`."""
        return int(self.rows.size)

    def __repr__(self) -> str:
        return f"CompletionLoss(shape={self.shape}, nnz={self.nnz})"

    def _check_arg(self, W, name="W"):
        """The argument as ``("point", (u, s, vt))``, ``("low_rank", (U, S, V))`` or
        ``("dense", W)``, with its shape checked against ``(m, n)`` (``O(1)`` for arrays;
        nested lists are converted)."""
        m, n = self._m, self._n
        if is_point(W):
            u, s, vt = W
            for part, x in zip(("u", "s", "vt"), W):
                if not isinstance(x, np.ndarray):
                    raise TypeError(f"{name}.{part} must be an ndarray; got {type(x).__name__}")
                check_real_dtype(x, f"{name}.{part}")
            if u.ndim != 2 or vt.ndim != 2 or u.shape != (m, s.size) or vt.shape != (s.size, n):
                raise ValueError(
                    f"{name}: a point of a {m}x{n} problem is (u, s, vt) with "
                    f"shapes (m, k), (k,), (k, n); got {u.shape}, {s.shape}, {vt.shape}"
                )
            return "point", W
        if is_triple(W):
            shape = tuple(ambient_shape(W, name))
            if shape != (m, n):
                raise ValueError(
                    f"{name} must be a {m}x{n} low-rank triple (U, S, V); got a "
                    f"{shape[0]}x{shape[1]} one"
                )
            U, S, V = (np.asarray(x, dtype=float) for x in W)
            return "low_rank", (U, S, V)
        if sp.issparse(W):
            raise TypeError(
                f"{name} must be a dense array, a point or a low-rank triple; got sparse"
            )
        W = check_array(W, name, finite=False, allow_empty=True)
        if W.shape != (m, n):
            raise ValueError(
                f"{name} must be a {m}x{n} matrix, a point (u, s, vt) or a low-rank triple "
                f"(U, S, V); got shape {W.shape}"
            )
        return "dense", W

    def _same_point(self, W) -> bool:
        key = self._key
        if key is None:
            return False
        return all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(W, key))

    def entries(self, W) -> np.ndarray:
        r"""The observed entries :math:`W_{ij}`, :math:`(i, j)\in\Omega`, in row-major order.

        For a point ``(u, s, vt)`` or a low-rank triple ``(U, S, V)`` (``W = U S V^T``,
        ``S`` 1-D or 2-D) this costs :math:`O(|\Omega| k)` and forms no ``m x n`` array.
        A dense ``W`` (an array or a nested list) must be ``m x n``.

        Parameters
        ----------
        W : ndarray, shape (m, n), or FixedRankPoint or low-rank triple
            The matrix whose entries are read.

        Returns
        -------
        ndarray, shape (nnz,)
            :math:`W_{ij}` for the observed :math:`(i, j)`, in the order of ``rows`` and
            ``cols``.

        Raises
        ------
        TypeError
            For non-real data, or a sparse ``W``.
        ValueError
            If ``W`` does not have the shape ``(m, n)`` of the loss.
        """
        return self._entries(*self._check_arg(W))

    def _entries(self, kind: str, W) -> np.ndarray:
        if kind == "point":
            u, s, vt = W
            return self.sampled(u * s, vt.T)
        if kind == "low_rank":
            U, S, V = W
            return self.sampled(U @ S if S.ndim == 2 else U * S, V)
        return W[self.rows, self.cols]

    def sampled(self, X, Y) -> np.ndarray:
        r"""The observed entries of :math:`X Y^\top`, in row-major order, without forming it.

        :math:`(X Y^\top)_{ij} = \sum_a X_{ia} Y_{ja}` for :math:`(i, j) \in \Omega`:
        :math:`O(|\Omega| q)` work, in blocks that gather the rows of both factors.

        Parameters
        ----------
        X : array_like, shape (m, q)
            Left factor.
        Y : array_like, shape (n, q)
            Right factor (``X Y^T`` is ``m x n``).

        Returns
        -------
        ndarray, shape (nnz,)
            :math:`(X Y^\top)_{ij}` for the observed :math:`(i, j)`, in the order of
            ``rows`` and ``cols``.

        Raises
        ------
        TypeError
            For non-real data.
        ValueError
            If ``X`` is not ``(m, q)`` or ``Y`` not ``(n, q)`` with the same ``q``. (Like
            ``X @ Y.T``, non-finite entries give non-finite results.)
        """
        X = check_array(X, "X", finite=False, allow_empty=True)
        Y = check_array(Y, "Y", finite=False, allow_empty=True)
        m, n = self._m, self._n
        if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != m or Y.shape[0] != n:
            raise ValueError(
                f"X and Y must be 2-D of shapes ({m}, q) and ({n}, q); got {X.shape} and {Y.shape}"
            )
        if X.shape[1] != Y.shape[1]:
            raise ValueError(
                f"X and Y must have the same number of columns; got {X.shape[1]} and {Y.shape[1]}"
            )
        return _rowdot(np.ascontiguousarray(X), np.ascontiguousarray(Y), self.rows, self.cols)

    def residual(self, W) -> np.ndarray:
        r"""The residual :math:`W_{ij} - A_{ij}` on :math:`\Omega` (row-major order).

        At points the result is cached: a second call at a point with the same entries
        (solvers evaluate the cost and the gradient at one point) costs ``O((m+n)k)``.

        Parameters
        ----------
        W : ndarray, shape (m, n), or FixedRankPoint or low-rank triple
            The matrix.

        Returns
        -------
        ndarray, shape (nnz,)
            :math:`W_{ij} - A_{ij}` for the observed :math:`(i, j)`. At a point the array
            is the cache: do not modify it.

        Raises
        ------
        TypeError
            For non-real data, or a sparse ``W``.
        ValueError
            If ``W`` does not have the shape ``(m, n)`` of the loss.
        """
        if not is_point(W):
            return self.entries(W) - self.values
        self._check_arg(W)
        if not self._same_point(W):
            self._residual_cache = self.entries(W) - self.values
            self._gradient_cache = None
            self._key = tuple(np.array(x, dtype=float) for x in W)
        return self._residual_cache

    def _sparse(self, data) -> sp.csr_matrix:
        return sp.csr_matrix(
            (data, self._indices, self._indptr), shape=(self._m, self._n), copy=False
        )

    # ------------------------------------------------------------------ the protocol
    def value(self, W) -> float:
        r""":math:`\tfrac12\sum_{\Omega} (W_{ij} - A_{ij})^2`.

        Parameters
        ----------
        W : ndarray, shape (m, n), or FixedRankPoint or low-rank triple
            The matrix.

        Returns
        -------
        float
            The loss at ``W``.
        """
        r = self.residual(W)
        # einsum, not the BLAS ddot: OpenBLAS threads a long dot product, which stalls
        # for milliseconds on a loaded machine
        return 0.5 * float(np.einsum("i,i->", r, r))

    def gradient(self, W) -> sp.csr_matrix:
        r""":math:`P_\Omega(W - A)` as an ``m x n`` ``scipy.sparse.csr_matrix``.

        Parameters
        ----------
        W : ndarray, shape (m, n), or FixedRankPoint or low-rank triple
            The matrix.

        Returns
        -------
        scipy.sparse.csr_matrix, shape (m, n)
            The Euclidean gradient, with the residuals at the observed entries (cached
            at points: do not modify it).
        """
        r = self.residual(W)
        if not is_point(W):
            return self._sparse(r)
        if self._gradient_cache is None:
            self._gradient_cache = self._sparse(r)
        return self._gradient_cache

    def gradient_matmul(self, W, B: np.ndarray) -> np.ndarray:
        r""":math:`\nabla L(W)\, B` for an ``(n, r)`` array ``B`` (a sparse product).

        Parameters
        ----------
        W : ndarray, shape (m, n), or FixedRankPoint or low-rank triple
            The matrix.
        B : ndarray, shape (n, r)
            The right factor.

        Returns
        -------
        ndarray, shape (m, r)
            :math:`P_\Omega(W - A)\, B`.
        """
        return np.asarray(self.gradient(W) @ B)

    def gradient_rmatmul(self, W, A: np.ndarray) -> np.ndarray:
        r""":math:`\nabla L(W)^\top A` for an ``(m, r)`` array ``A`` (a sparse product).

        Parameters
        ----------
        W : ndarray, shape (m, n), or FixedRankPoint or low-rank triple
            The matrix.
        A : ndarray, shape (m, r)
            The left factor.

        Returns
        -------
        ndarray, shape (n, r)
            :math:`P_\Omega(W - A)^\top A`.
        """
        return np.asarray(self.gradient(W).T @ A)

    def hessian_vector_product(self, W, Xi) -> sp.csr_matrix:
        r"""The Euclidean Hessian along :math:`\Xi`: :math:`P_\Omega(\Xi)`, sparse.

        ``Xi`` is a dense ``m x n`` array or a low-rank triple ``(U, S, V)`` with
        :math:`\Xi = U S V^\top` (what :func:`riemlin.matrix_problem` passes with
        ``point_arguments=True``); ``W`` is unused (the loss is quadratic).

        Parameters
        ----------
        W : ndarray, shape (m, n), or FixedRankPoint or low-rank triple
            The point (only its shape is checked).
        Xi : ndarray, shape (m, n), or low-rank triple
            The direction.

        Returns
        -------
        scipy.sparse.csr_matrix, shape (m, n)
            :math:`P_\Omega(\Xi)`.

        Raises
        ------
        TypeError
            For non-real data, or a sparse ``W`` or ``Xi``.
        ValueError
            If ``W`` or ``Xi`` does not have the shape ``(m, n)`` of the loss.
        """
        self._check_arg(W)
        return self._sparse(self._entries(*self._check_arg(Xi, "Xi")))

    # ------------------------------------------------------------------ pymanopt
    def problem(self, manifold):
        r"""A ``pymanopt.Problem`` for this loss on ``manifold``.

        Parameters
        ----------
        manifold : FixedRankDeepLinear or pymanopt.manifolds.FixedRankEmbedded
            With :class:`~riemlin.FixedRankDeepLinear` the problem comes from
            :func:`riemlin.matrix_problem` (Riemannian gradient
            :math:`\mathcal A_W(P_T\nabla L)` and the exact Riemannian Hessian, so
            ``TrustRegions`` runs too). With pymanopt's ``FixedRankEmbedded`` the
            Riemannian gradient is its ``projection`` of the sparse gradient (the
            embedded metric; no Hessian).

        Returns
        -------
        pymanopt.Problem
            The problem, with the cost and the Riemannian gradient (and the Hessian
            with :class:`~riemlin.FixedRankDeepLinear`).

        Raises
        ------
        TypeError
            For another manifold.
        ValueError
            If the manifold's shape is not this loss's (with ``FixedRankEmbedded``, at
            the first evaluation).
        """
        import pymanopt
        from pymanopt.manifolds import FixedRankEmbedded

        from riemlin.geometry.manifold import FixedRankDeepLinear
        from riemlin.geometry.problem import matrix_problem

        if isinstance(manifold, FixedRankDeepLinear):
            if (manifold.m, manifold.n) != self.shape:
                raise ValueError(
                    f"manifold is {manifold.m}x{manifold.n} but the loss is {self._m}x{self._n}"
                )
            return matrix_problem(
                manifold,
                self.value,
                self.gradient,
                self.hessian_vector_product,
                point_arguments=True,
            )
        if isinstance(manifold, FixedRankEmbedded):
            # pymanopt's class has no public shape: the first point's shape is checked

            @pymanopt.function.numpy(manifold)
            def cost(u, s, vt):
                if (u.shape[0], vt.shape[1]) != self.shape:
                    raise ValueError(
                        f"manifold is {u.shape[0]}x{vt.shape[1]} but the loss is "
                        f"{self._m}x{self._n}"
                    )
                return self.value(FixedRankPoint(u, s, vt))

            @pymanopt.function.numpy(manifold)
            def riemannian_gradient(u, s, vt):
                point = FixedRankPoint(u, s, vt)
                return manifold.projection(point, self.gradient(point))

            return pymanopt.Problem(manifold, cost, riemannian_gradient=riemannian_gradient)
        raise TypeError(
            "manifold must be a riemlin.FixedRankDeepLinear or a pymanopt FixedRankEmbedded; "
            f"got {type(manifold).__name__}"
        )

    def initial_point(self, k: int, rng=None, *, power_iterations: int = 2) -> FixedRankPoint:
        r"""A spectral start: the rank-``k`` SVD of :math:`\tfrac{mn}{|\Omega|}P_\Omega(A)`.

        The standard initialization of completion (Keshavan, Montanari, Oh, IEEE Trans.
        Inf. Theory 56 (2010)), computed by a seeded randomized subspace iteration
        (Halko, Martinsson, Tropp, SIAM Rev. 53 (2011), Algorithm 4.4) with ``k + 10``
        columns: :math:`O((|\Omega| + (m+n)k) k)` per iteration, no ``m x n`` array.

        Parameters
        ----------
        k : int
            Rank, ``1 <= k <= min(m, n)``.
        rng : None, int, SeedSequence or Generator, optional
            Source of the random test matrix.
        power_iterations : int, default 2
            Subspace iterations (``>= 0``).

        Returns
        -------
        FixedRankPoint
            The rank-``k`` start ``(u, s, vt)``.

        Raises
        ------
        TypeError
            If ``k`` or ``power_iterations`` is not an int.
        ValueError
            If ``k`` is not in ``[1, min(m, n)]`` or ``power_iterations < 0``.
        """
        k = check_int(k, "k")
        if k > min(self._m, self._n):
            raise ValueError(f"k must be <= min(m, n) = {min(self._m, self._n)}; got {k}")
        q = check_int(power_iterations, "power_iterations", minimum=0)
        gen = as_generator(rng)
        A = self._sparse(self.values * (self._m * self._n / self.nnz))
        p = min(k + 10, self._m, self._n)
        Q = np.linalg.qr(A @ gen.standard_normal((self._n, p)))[0]
        for _ in range(q):
            Z = np.linalg.qr(A.T @ Q)[0]
            Q = np.linalg.qr(A @ Z)[0]
        Bt = A.T @ Q  # (n, p) = (Q^T A)^T
        Ub, sb, Vbt = np.linalg.svd(Bt.T, full_matrices=False)
        return FixedRankPoint(Q @ Ub[:, :k], sb[:k], Vbt[:k])


class CompletionLineSearcher:
    r"""A line search for pymanopt solvers on completion: the exact step of the linearization.

    Along a tangent direction :math:`\xi` at :math:`W`, the loss of the straight line
    :math:`W + t\xi` is the quadratic
    :math:`\tfrac12\|r + t P_\Omega(\xi)\|^2`, :math:`r = P_\Omega(W - A)`, whose
    minimizer is

    .. math::

        t^\star = -\frac{\langle r, P_\Omega(\xi)\rangle}{\|P_\Omega(\xi)\|^2}
                = -\frac{\mathrm{D}L(W)[\xi]}{\|P_\Omega(\xi)\|^2}.

    The search tries :math:`t^\star` first and then backtracks along the retraction
    :math:`R_W(t\xi)` until the Armijo condition
    :math:`L(R_W(t\xi)) \le L(W) + c\,t\,\mathrm{D}L(W)[\xi]` holds (Vandereycken 2013,
    section 4.3). The retraction leaves the line only by :math:`O(t^2)` terms normal to
    :math:`\mathcal M_k`, which change the loss through the residual alone, so
    :math:`t^\star` is nearly always accepted (in all 348 searches of six solves,
    ``1000 x 1000`` with ``k = 10`` and ``2000 x 2000`` with ``k = 5`` at depths 1, 2
    and 4): one cost evaluation and one :math:`O(|\Omega| k)` row-wise product per
    iteration. The numerator is the directional derivative, which does not depend on
    the metric, so the same search serves every depth of
    :class:`~riemlin.FixedRankDeepLinear` and pymanopt's ``FixedRankEmbedded`` (whose
    tangent vectors are the same triples ``(Up, M, Vp)``).

    pymanopt's default (``AdaptiveLineSearcher``) guesses the step from the previous
    one. On completion that costs ``ConjugateGradient`` 13-42% more iterations on easy
    problems and can stall it on large, poorly started ones (``docs/guide/scale.md``
    has the figures).

    Parameters
    ----------
    loss : CompletionLoss
        The loss being minimized (the problem's cost must be this loss).
    sufficient_decrease : float, default 1e-4
        The Armijo constant :math:`c`, in ``(0, 1)``.
    contraction_factor : float, default 0.5
        The backtracking factor, in ``(0, 1)``.
    max_iterations : int, default 25
        Trial steps per search; if none decreases the cost the step is rejected (the
        search returns step size 0 and the point unchanged, as pymanopt's searchers do).

    Raises
    ------
    TypeError
        If ``loss`` is not a :class:`CompletionLoss`, or ``max_iterations`` is not an
        int.
    ValueError
        For constants outside their ranges.

    References
    ----------
    .. [1] B. Vandereycken, "Low-rank matrix completion by Riemannian optimization",
       SIAM J. Optim. 23 (2013) 1214-1236.

    Examples
    --------
    >>> import pymanopt
    >>> from riemlin import FixedRankDeepLinear
    >>> loss, truth = random_completion(300, 200, 3, rng=0)
    >>> manifold = FixedRankDeepLinear(300, 200, 3, depth=2)
    >>> solver = pymanopt.optimizers.ConjugateGradient(
    ...     line_searcher=CompletionLineSearcher(loss), verbosity=0)
    >>> result = solver.run(loss.problem(manifold), initial_point=loss.initial_point(3, rng=1))
    >>> relative_error(result.point, truth) < 1e-6
    True
    """

    def __init__(
        self,
        loss: CompletionLoss,
        sufficient_decrease: float = 1e-4,
        contraction_factor: float = 0.5,
        max_iterations: int = 25,
    ):
        if not isinstance(loss, CompletionLoss):
            raise TypeError(f"loss must be a CompletionLoss; got {type(loss).__name__}")
        for value, name in (
            (sufficient_decrease, "sufficient_decrease"),
            (contraction_factor, "contraction_factor"),
        ):
            if not check_positive(value, name) < 1.0:
                raise ValueError(f"{name} must be a number in (0, 1); got {value!r}")
        self.loss = loss
        self.sufficient_decrease = float(sufficient_decrease)
        self.contraction_factor = float(contraction_factor)
        self.max_iterations = check_int(max_iterations, "max_iterations")

    def __repr__(self) -> str:
        return (
            f"CompletionLineSearcher({self.loss!r}, sufficient_decrease="
            f"{self.sufficient_decrease:g}, contraction_factor={self.contraction_factor:g}, "
            f"max_iterations={self.max_iterations})"
        )

    def __deepcopy__(self, memo):
        # pymanopt deep-copies the searcher at every run; the loss (|Omega| entries and
        # the caches) is shared, not copied. The searcher keeps no state between calls.
        return CompletionLineSearcher(
            self.loss, self.sufficient_decrease, self.contraction_factor, self.max_iterations
        )

    def linearized_step(self, point, direction) -> float:
        r"""The minimizer :math:`t^\star` of :math:`\tfrac12\|P_\Omega(W + t\xi - A)\|^2`.

        Parameters
        ----------
        point : (u, s, vt)
            The point :math:`W`.
        direction : (Up, M, Vp)
            A tangent vector :math:`\xi = u M v^\top + U_p v^\top + u V_p^\top`.

        Returns
        -------
        float
            :math:`t^\star`, or ``nan`` if :math:`P_\Omega(\xi) = 0` (the observed
            entries do not see the direction).
        """
        X, _, Y = tangent_low_rank(point, direction)  # xi = X Y^T
        seen = self.loss.sampled(X, Y)
        curvature = float(np.einsum("i,i->", seen, seen))
        if not curvature > 0.0:
            return float("nan")
        r = self.loss.residual(point)
        return -float(np.einsum("i,i->", r, seen)) / curvature

    def search(self, objective, manifold, x, d, f0, df0):
        """One line search (pymanopt's line-searcher interface).

        Parameters
        ----------
        objective : callable
            The cost on the manifold.
        manifold : FixedRankDeepLinear or pymanopt FixedRankEmbedded
            Provides ``retraction`` and ``norm``.
        x : (u, s, vt)
            The current point.
        d : (Up, M, Vp)
            A descent direction at ``x``.
        f0 : float
            The cost at ``x``.
        df0 : float
            The directional derivative of the cost at ``x`` along ``d``. If it is not
            negative (or ``d`` is zero) the search returns ``(0.0, x)`` at once.

        Returns
        -------
        step_size : float
            The norm of the step taken, ``t * ||d||_x`` (0 if the step was rejected).
        newx : point
            The next iterate.
        """
        norm_d = float(manifold.norm(x, d))
        if not (df0 < 0.0 and np.isfinite(norm_d) and norm_d > 0.0):
            return 0.0, x  # not a descent direction: reject, as pymanopt's searchers do
        t = self.linearized_step(x, d)
        if not (np.isfinite(t) and t > 0.0):
            # P_Omega(d) = 0 (the observations do not see d), or t* <= 0, which for a
            # descent direction means rounding: a unit step, then backtrack
            t = 1.0 / norm_d
        for _ in range(self.max_iterations):
            newx = manifold.retraction(x, t * d)
            newf = objective(newx)
            if newf <= f0 + self.sufficient_decrease * t * df0:
                return t * norm_d, newx
            t *= self.contraction_factor
        if newf < f0:
            return t / self.contraction_factor * norm_d, newx
        return 0.0, x


def relative_error(point, truth) -> float:
    r""":math:`\|X - T\|_F / \|T\|_F` for two low-rank points, in :math:`O((m+n)k^2)`.

    :math:`X - T = [u_X, u_T]\,\mathrm{diag}(s_X, -s_T)\,[v_X, v_T]^\top`, so the norm is
    that of :math:`R_u \mathrm{diag}(s_X, -s_T) R_v^\top` with :math:`R_u`, :math:`R_v`
    the triangular factors of thin QRs: exact to rounding, no cancellation.

    Parameters
    ----------
    point, truth : (u, s, vt)
        Points of one shape (their ranks may differ).

    Returns
    -------
    float
        :math:`\|X - T\|_F / \|T\|_F` for ``point`` :math:`X` and ``truth`` :math:`T`.

    Raises
    ------
    TypeError, ValueError
        If an argument is not a valid point (see
        :func:`riemlin._validation.check_point`) or the shapes differ.
    """
    u1, s1, vt1 = check_point(point, "point")
    u2, s2, vt2 = check_point(truth, "truth")
    if u1.shape[0] != u2.shape[0] or vt1.shape[1] != vt2.shape[1]:
        raise ValueError(
            f"point is {u1.shape[0]}x{vt1.shape[1]} and truth {u2.shape[0]}x{vt2.shape[1]}"
        )
    Ru = np.linalg.qr(np.hstack((u1, u2)), mode="r")
    Rv = np.linalg.qr(np.hstack((vt1.T, vt2.T)), mode="r")
    diff = (Ru * np.concatenate((s1, -s2))) @ Rv.T
    Rt_u = np.linalg.qr(u2, mode="r")
    Rt_v = np.linalg.qr(vt2.T, mode="r")
    return float(np.linalg.norm(diff) / np.linalg.norm((Rt_u * s2) @ Rt_v.T))


def _sample_entries(m: int, n: int, nnz: int, gen: np.random.Generator):
    # One entry in every row and every column, then uniform entries without replacement
    # (rejection of repeats on linear indices; memory O(nnz), never O(m n)).
    cover = np.unique(
        np.concatenate(
            (
                np.arange(m, dtype=np.int64) * n + gen.integers(n, size=m),
                gen.integers(m, size=n, dtype=np.int64) * n + np.arange(n),
            )
        )
    )
    chosen = cover
    while chosen.size < nnz:
        need = nnz - chosen.size
        draw = np.unique(gen.integers(m * n, size=need + need // 8 + 16, dtype=np.int64))
        fresh = np.setdiff1d(draw, chosen, assume_unique=True)
        if fresh.size > need:
            fresh = np.sort(gen.choice(fresh, size=need, replace=False))
        chosen = np.union1d(chosen, fresh)
    return chosen // n, chosen % n


def random_completion(
    m: int,
    n: int,
    k: int,
    oversampling: float = 5.0,
    rng=None,
    *,
    condition: float = 2.0,
    noise: float = 0.0,
) -> tuple[CompletionLoss, FixedRankPoint]:
    r"""A seeded synthetic completion problem and its rank-``k`` ground truth.

    The truth :math:`T = u\,\mathrm{diag}(s)\,v^\top` has Haar-distributed ``u``, ``v``
    and singular values :math:`\sqrt{mn/k}` times ``k`` numbers spaced geometrically
    from ``condition`` down to 1 (entries of order one). About
    ``oversampling * k * (m + n - k)`` entries (``oversampling`` times the dimension of
    :math:`\mathcal M_k`) are observed, sampled uniformly without replacement, and every
    row and every column is observed at least once. The sampling never forms the
    ``m n`` candidate indices: memory and time are :math:`O(|\Omega|\log|\Omega|)`.

    Parameters
    ----------
    m, n : int
        Matrix shape.
    k : int
        Rank of the truth, ``1 <= k <= min(m, n)``.
    oversampling : float, default 5
        Observed entries per degree of freedom, ``> 0``; the count
        ``round(oversampling * k * (m + n - k))`` must not exceed ``m n``. If it is
        below the ``m + n`` entries needed to cover every row and column, the covering
        entries are used.
    rng : None, int, SeedSequence or Generator, optional
        Source of randomness.
    condition : float, default 2
        Ratio ``s_1 / s_k`` of the truth, ``>= 1``.
    noise : float, default 0
        Standard deviation of Gaussian noise added to the observed values.

    Returns
    -------
    loss : CompletionLoss
        The loss on the sampled entries of the truth.
    truth : FixedRankPoint
        The ground truth ``(u, s, vt)``.

    Raises
    ------
    ValueError
        For a bad size, rank, ``oversampling``, ``condition`` or ``noise``.

    Examples
    --------
    >>> loss, truth = random_completion(300, 200, 3, rng=0)
    >>> loss.nnz == round(5 * 3 * (300 + 200 - 3))
    True
    >>> float(loss.value(truth))
    0.0
    """
    m, n, k = check_int(m, "m"), check_int(n, "n"), check_int(k, "k")
    if k > min(m, n):
        raise ValueError(f"k must satisfy 1 <= k <= min(m, n) = {min(m, n)}; got k={k}")
    oversampling = check_positive(oversampling, "oversampling")
    condition = check_positive(condition, "condition")
    if condition < 1:
        raise ValueError(f"condition must be >= 1 (the ratio s_1 / s_k); got {condition!r}")
    noise = check_nonnegative(noise, "noise")
    nnz = int(round(oversampling * k * (m + n - k)))
    if nnz > m * n:
        raise ValueError(
            f"oversampling={oversampling} asks for {nnz} observed entries but the matrix "
            f"has only m*n = {m * n}; use oversampling <= {m * n / (k * (m + n - k)):.3g}"
        )
    gen = as_generator(rng)
    u = random_frame(gen, m, k)
    v = random_frame(gen, n, k)
    s = np.sqrt(m * n / k) * np.geomspace(float(condition), 1.0, k)
    truth = FixedRankPoint(u, s, np.ascontiguousarray(v.T))
    rows, cols = _sample_entries(m, n, nnz, gen)
    values = _rowdot(u * s, np.ascontiguousarray(v), rows, cols)
    if noise > 0:
        values += noise * gen.standard_normal(values.size)
    return CompletionLoss(rows, cols, values, (m, n)), truth
