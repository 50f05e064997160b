r"""The pymanopt manifold :class:`FixedRankDeepLinear`.

:math:`\mathcal M_k`, the ``m x n`` real matrices of rank ``k``, with the Riemannian
metric :math:`g_W(\xi, \eta) = \langle \mathcal A_W^{-1}\xi, \eta\rangle_F` that a
depth-``N`` linear network induces on its end-to-end matrix (Bah, Rauhut, Terstiege,
Westdickenberg, arXiv:1910.05505). The maths lives in :mod:`riemlin.geometry.metric`; this class
validates inputs and adapts it to pymanopt.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from pymanopt.manifolds.fixed_rank import _FixedRankPoint, _FixedRankTangentVector
from pymanopt.manifolds.manifold import Manifold

from riemlin._validation import (
    as_generator,
    check_array,
    check_int,
    check_point,
    check_shape,
    numerical_rank,
)
from riemlin.geometry import curvature as _curvature
from riemlin.geometry import geodesics as _geodesics
from riemlin.geometry import hessian as _hessian
from riemlin.geometry import metric as _metric
from riemlin.geometry import parametrization as _param
from riemlin.geometry import shooting as _shooting
from riemlin.geometry import tangent as _tangent
from riemlin.geometry.ambient import (
    ambient_matmul,
    ambient_rmatmul,
    ambient_shape,
    ambient_to_dense,
)

__all__ = ["FixedRankDeepLinear", "FixedRankPoint", "FixedRankTangentVector", "random_frame"]

#: Point type ``(u, s, vt)``, shared with pymanopt's ``FixedRankEmbedded``.
FixedRankPoint = _FixedRankPoint
#: Tangent vector type ``(Up, M, Vp)``, shared with pymanopt's ``FixedRankEmbedded``.
FixedRankTangentVector = _FixedRankTangentVector


class FixedRankDeepLinear(Manifold):
    r"""Fixed-rank matrices with the metric induced by a deep linear network.

    The manifold :math:`\mathcal M_k` of real ``m x n`` matrices of rank ``k`` with the
    metric

    .. math::

        g_W(\xi, \eta) = \langle \mathcal A_W^{-1}(\xi), \eta\rangle_F, \qquad
        \mathcal A_W(Z) = \sum_{j=1}^N (WW^\top)^{\frac{N-j}{N}} Z
        (W^\top W)^{\frac{j-1}{N}},

    under which the product :math:`W = W_N\cdots W_1` of balanced layers trained by
    gradient flow follows the Riemannian gradient flow of the loss (the equivalence
    theorem of Bah et al.). ``depth=1`` is the embedded metric of pymanopt's
    ``FixedRankEmbedded``.

    Points are ``(u, s, vt)`` (thin SVD, ``s`` positive, shapes ``(m, k)``, ``(k,)``,
    ``(k, n)``) and tangent vectors ``(Up, M, Vp)`` with
    :math:`\xi = u M v^\top + U_p v^\top + u V_p^\top`, ``u^T Up = 0``, ``vt Vp = 0``:
    the same types as pymanopt's ``FixedRankEmbedded``. Code written for that class runs
    on this one unchanged, except code that reads :meth:`embedding` as an ambient
    matrix; at ``depth=1`` it computes the same gradients and retractions (see Notes
    for what differs). All operations cost :math:`O((m+n)k^2)` or less, independent of
    the depth.

    Parameters
    ----------
    m, n : int
        Matrix shape.
    k : int
        Rank, ``1 <= k <= min(m, n)``.
    depth : int, default 2
        Depth ``N >= 1`` of the linear network.
    rng : None, int, SeedSequence or Generator, optional
        Source of randomness for :meth:`random_point` and
        :meth:`random_tangent_vector` when they are called without one (pymanopt's
        solvers do), so that seeded runs are reproducible.
    check_finite : bool, default True
        Whether tangent vectors passed to the hot-path methods (or the results they
        produce) are scanned for ``nan``/``inf`` (as in ``scipy.linalg``). The scan is
        ``O((m+n)k)``; turn it off only for speed in trusted loops. Shapes and real
        dtypes are always checked, and every point once (not once per call): finite
        entries, ``s > 0`` and orthonormal ``u``, ``vt`` (``max |u^T u - I| <= 100
        sqrt(m) eps``, the same for ``vt`` with ``n``; see
        :func:`riemlin._validation.orthonormality_tolerance`).
    retraction : {"svd", "second_order"}, default "svd"
        ``"svd"``: the metric projection (rank-``k`` truncated SVD of ``W + xi``),
        second order for the embedded metric, first order for ``g`` when ``depth > 1``.
        ``"second_order"``: :math:`R_W(\xi) = R^{svd}_W(\xi - \tfrac12 C(\xi,\xi))`
        with :math:`C` the connection difference (:meth:`connection_difference`), a
        retraction that is second order for ``g`` (its curves have zero covariant
        acceleration at ``t = 0``), at an extra :math:`O((m+n)k^2 + k^3)` per call.
        Both coincide at ``depth = 1``.

    Raises
    ------
    TypeError
        If ``m``, ``n``, ``k`` or ``depth`` is not an int, or ``rng`` is not a valid
        source of randomness.
    ValueError
        If ``m``, ``n``, ``k`` or ``depth`` is below 1, ``k > min(m, n)``, or
        ``retraction`` is not ``"svd"`` or ``"second_order"``.

    Notes
    -----
    What carries over from pymanopt 2.2.1's ``FixedRankEmbedded``: the point and tangent
    types, ``dim``, ``typical_dist``, ``projection`` (Frobenius-orthogonal at every
    depth), ``transport``, ``to_tangent_space``, ``zero_vector``, the retraction's point
    (the truncated SVD of ``W + xi``), the signatures of ``random_point()`` and
    ``random_tangent_vector(point)``, the ``(du, ds, dvt)`` convention of
    :meth:`euclidean_to_riemannian_gradient`, and ``dist``, ``exp``, ``log`` raising
    ``NotImplementedError``. At ``depth=1`` the same problems (costs on ``(u, s, vt)``
    with any backend, or gradients by ``projection``) give the same iterates, up to
    rounding. What differs:

    - :meth:`embedding` returns the derivative of the SVD ``(du, ds, dvt)``, a direction
      with the point's shapes, so that pymanopt's autodiff Hessians work; pymanopt's
      returns the ambient triple ``(U, S, V)``, which here is :meth:`tangent_to_low_rank`
      (:meth:`tangent_to_matrix` gives the dense matrix).
    - :meth:`euclidean_to_riemannian_hessian` is exact, so ``TrustRegions`` runs;
      ``FixedRankEmbedded``'s fails on autodiff data.
    - At ``depth > 1`` the metric is ``g``: :meth:`inner_product`, :meth:`norm`, the unit
      length of :meth:`random_tangent_vector` and the Riemannian gradient and Hessian
      change. ``projection`` stays Frobenius-orthogonal, so a Riemannian gradient written
      as ``projection(point, G)`` (right for ``FixedRankEmbedded`` and at ``depth=1``) is
      not the gradient for ``g``; use :meth:`riemannian_gradient_from_matrix` or
      :func:`riemlin.matrix_problem`.
    - :meth:`random_point` draws the singular values log-uniformly from
      ``[spread**-0.5, spread**0.5]`` (pymanopt: sorted ``U(0, 1)``); both random methods
      take ``rng``.
    - The retraction is Manopt's current variant (QR factorizations of ``[u, Up]`` and
      ``[v, Vp]``), which keeps ``u`` and ``v`` orthonormal where pymanopt's (QR of
      ``Up`` alone) lets them drift as steps shrink; it adds no ``eps`` to ``s`` and
      raises ``ValueError`` for a step that drops the rank.
    - The gradient conversion does not divide data through the product by
      :math:`s_j^2 - s_i^2` (accurate near repeated singular values), and inputs are
      validated.

    pymanopt's ``Product`` does not forward ``embedding`` to its factors, so autodiff
    Hessians of a cost on a product with this manifold (or ``FixedRankEmbedded``) need
    a ``Product`` subclass whose ``embedding`` does; gradients need nothing.

    References
    ----------
    .. [1] B. Bah, H. Rauhut, U. Terstiege, M. Westdickenberg, "Learning deep linear
       neural networks: Riemannian gradient flows and convergence to global
       minimizers", Inf. Inference 11 (2022), arXiv:1910.05505.
    .. [2] B. Vandereycken, "Low-rank matrix completion by Riemannian optimization",
       SIAM J. Optim. 23 (2013) (the tangent-space coordinates).

    Examples
    --------
    >>> import numpy as np
    >>> from riemlin import FixedRankDeepLinear
    >>> manifold = FixedRankDeepLinear(5, 4, 2, depth=3, rng=0)
    >>> x = manifold.random_point()
    >>> xi = manifold.random_tangent_vector(x)
    >>> round(manifold.norm(x, xi), 12)
    1.0
    """

    def __init__(
        self,
        m: int,
        n: int,
        k: int,
        depth: int = 2,
        *,
        rng=None,
        check_finite: bool = True,
        retraction: str = "svd",
    ):
        m = check_int(m, "m")
        n = check_int(n, "n")
        k = check_int(k, "k")
        if k > min(m, n):
            raise ValueError(f"k must satisfy 1 <= k <= min(m, n) = {min(m, n)}; got k={k}")
        self._m, self._n, self._k = m, n, k
        self._depth = check_int(depth, "depth")
        self._rng = as_generator(rng)
        self._check_finite = bool(check_finite)
        if retraction not in ("svd", "second_order"):
            raise ValueError(f"retraction must be 'svd' or 'second_order'; got {retraction!r}")
        self._retraction = retraction
        self._cache = None
        self._valid_point = None
        super().__init__(
            f"Rank-{k} {m}x{n} matrices with the depth-{self._depth} deep-linear metric",
            (m + n - k) * k,
            point_layout=3,
        )

    # ------------------------------------------------------------------ properties
    @property
    def m(self) -> int:
        """Number of rows."""
        return self._m

    @property
    def n(self) -> int:
        """Number of columns."""
        return self._n

    @property
    def k(self) -> int:
        """Rank."""
        return self._k

    @property
    def depth(self) -> int:
        """Depth ``N`` of the linear network that induces the metric."""
        return self._depth

    @property
    def second_order_retraction(self) -> bool:
        """Whether :meth:`retraction` is second order for this manifold's metric ``g``."""
        return self._retraction == "second_order" or self._depth == 1

    @property
    def typical_dist(self) -> float:
        """Scale used by ``TrustRegions`` for its radius (as in pymanopt: the dimension)."""
        return float(self.dim)

    def __repr__(self) -> str:
        return f"FixedRankDeepLinear(m={self._m}, n={self._n}, k={self._k}, depth={self._depth})"

    # ------------------------------------------------------------------ validation
    def _check_point(self, point, name: str = "point"):
        # Points are immutable values (as in pymanopt): a point whose three arrays passed
        # the checks once is not checked again, so solver loops pay the checks (the
        # orthonormality test costs O((m+n)k^2)) once per point, not once per call.
        last = self._valid_point
        if last is not None and (
            point is last
            or (
                isinstance(point, (tuple, list))
                and len(point) == 3
                and all(a is b for a, b in zip(point, last))
            )
        ):
            return
        if isinstance(point, (tuple, list)) and len(point) == 3:
            u, s, vt = point
            check_shape(u, f"{name}.u", (self._m, self._k))
            check_shape(s, f"{name}.s", (self._k,))
            check_shape(vt, f"{name}.vt", (self._k, self._n))
        check_point(point, name, (self._m, self._n, self._k), convert=False)
        self._valid_point = tuple(point)

    def _check_tangent(self, vector, name: str = "tangent_vector", scan: bool = False):
        # ``scan``: test the entries for nan/inf here (methods whose cost dwarfs the
        # scan); the O((m+n)k) methods test their result instead.
        if not isinstance(vector, (tuple, list)) or len(vector) != 3:
            raise TypeError(
                f"{name} must be a tangent vector (Up, M, Vp); got {type(vector).__name__}"
            )
        Up, M, Vp = vector
        check_shape(Up, f"{name}.Up", (self._m, self._k))
        check_shape(M, f"{name}.M", (self._k, self._k))
        check_shape(Vp, f"{name}.Vp", (self._n, self._k))
        if scan:
            self._check_finite_result(vector, name)

    def _check_finite_result(self, value, *names):
        # Any nan/inf entry of an input propagates into the result, so a test of the
        # result replaces a scan of every input.
        if not self._check_finite:
            return
        finite = np.isfinite(value) if np.isscalar(value) else _all_finite(value)
        if not finite:
            raise ValueError(
                f"{' or '.join(names)} has non-finite entries (nan or inf), or the result "
                "overflows at this point (the metric weights grow like s^(2(N-1)/N))"
            )

    def _point_data(self, s: np.ndarray) -> _PointData:
        # The weights depend on s only; solvers query the same point many times.
        data = self._cache
        if data is None or data.s_bytes != s.tobytes():
            data = self._cache = _PointData(s, self._depth)
        return data

    def _weights(self, s: np.ndarray) -> _metric.MetricWeights:
        return self._point_data(s).weights

    # ------------------------------------------------------------------ the metric
    def metric_operator(self, point, tangent_vector) -> FixedRankTangentVector:
        r"""Apply :math:`\mathcal A_W` to a tangent vector.

        ``(Up, M, Vp) -> (Up diag(c), K * M, Vp diag(c))``; see
        :func:`riemlin.geometry.metric.apply_metric` for the formula.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        tangent_vector : FixedRankTangentVector
            Tangent vector ``(Up, M, Vp)`` at ``point``.

        Returns
        -------
        FixedRankTangentVector
            :math:`\mathcal A_W(\xi)`, a tangent vector at ``point``.

        Raises
        ------
        TypeError
            If ``point`` or ``tangent_vector`` is not a triple of real arrays.
        ValueError
            If a shape is wrong, an entry is not finite (with ``check_finite``), or the point
            is not one of this manifold (``s > 0`` and orthonormal ``u``, ``vt`` required).
        """
        self._check_point(point)
        self._check_tangent(tangent_vector)
        out = self._point_data(point[1]).apply(tangent_vector)
        self._check_finite_result(out, "tangent_vector")
        return out

    def metric_operator_inverse(self, point, tangent_vector) -> FixedRankTangentVector:
        r"""Apply :math:`\mathcal A_W^{-1}` to a tangent vector.

        ``(Up, M, Vp) -> (Up diag(c)^{-1}, M / K, Vp diag(c)^{-1})``; see
        :func:`riemlin.geometry.metric.apply_metric_inverse`.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        tangent_vector : FixedRankTangentVector
            Tangent vector ``(Up, M, Vp)`` at ``point``.

        Returns
        -------
        FixedRankTangentVector
            :math:`\mathcal A_W^{-1}(\xi)`, a tangent vector at ``point``.

        Raises
        ------
        TypeError
            If ``point`` or ``tangent_vector`` is not a triple of real arrays.
        ValueError
            If a shape is wrong, an entry is not finite (with ``check_finite``), or the point
            is not one of this manifold (``s > 0`` and orthonormal ``u``, ``vt`` required).
        """
        self._check_point(point)
        self._check_tangent(tangent_vector)
        out = self._point_data(point[1]).apply_inverse(tangent_vector)
        self._check_finite_result(out, "tangent_vector")
        return out

    def inner_product(self, point, tangent_vector_a, tangent_vector_b) -> float:
        r"""The metric :math:`g_W(\xi, \eta) = \langle \mathcal A_W^{-1}\xi, \eta\rangle_F`.

        See :func:`riemlin.geometry.metric.metric_inner` for the formula in SVD coordinates.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        tangent_vector_a, tangent_vector_b : FixedRankTangentVector
            Tangent vectors :math:`\xi`, :math:`\eta` at ``point``.

        Returns
        -------
        float
            :math:`g_W(\xi, \eta)`, symmetric in the two vectors.

        Raises
        ------
        TypeError
            If ``point`` or a tangent vector is not a triple of real arrays.
        ValueError
            If a shape is wrong, an entry is not finite (with ``check_finite``), or the point
            is not one of this manifold (``s > 0`` and orthonormal ``u``, ``vt`` required).
        """
        self._check_point(point)
        self._check_tangent(tangent_vector_a, "tangent_vector_a")
        self._check_tangent(tangent_vector_b, "tangent_vector_b")
        data = self._point_data(point[1])
        Up_a, M_a, Vp_a = tangent_vector_a
        Up_b, M_b, Vp_b = tangent_vector_b
        with np.errstate(over="ignore", invalid="ignore"):  # reported below
            value = float(
                np.sum(M_a * M_b / data.weights.K)
                + np.dot(data.scale_columns(Up_a, inverse=True).ravel(), Up_b.ravel())
                + np.dot(data.scale_columns(Vp_a, inverse=True).ravel(), Vp_b.ravel())
            )
        self._check_finite_result(value, "tangent_vector_a", "tangent_vector_b")
        return value

    def norm(self, point, tangent_vector) -> float:
        r"""The norm :math:`\sqrt{g_W(\xi, \xi)}`.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        tangent_vector : FixedRankTangentVector
            Tangent vector ``(Up, M, Vp)`` at ``point``.

        Returns
        -------
        float
            :math:`\|\xi\|_g \ge 0`.

        Raises
        ------
        TypeError
            If ``point`` or ``tangent_vector`` is not a triple of real arrays.
        ValueError
            If a shape is wrong, an entry is not finite (with ``check_finite``), or the point
            is not one of this manifold (``s > 0`` and orthonormal ``u``, ``vt`` required).
        """
        return float(np.sqrt(self.inner_product(point, tangent_vector, tangent_vector)))

    # ------------------------------------------------------------------ tangent space
    def projection(self, point, vector) -> FixedRankTangentVector:
        r"""Frobenius-orthogonal projection of an ambient matrix onto :math:`T_W\mathcal M_k`.

        ``M = u^T Z v``, ``Up = Z v - u M``, ``Vp = Z^T u - v M^T``. Only the products
        ``Z v`` and ``Z^T u`` are formed, so ``vector`` may be a dense ``(m, n)`` array,
        a ``scipy.sparse`` matrix or a low-rank triple ``(U, S, V)`` with
        ``Z = U @ S @ V.T``; it is never densified.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        vector : ndarray, sparse matrix or tuple (U, S, V)
            The ambient ``m x n`` matrix ``Z``.

        Returns
        -------
        FixedRankTangentVector
            :math:`P_{T_W} Z`, orthogonal for the Frobenius inner product at every depth (not
            for ``g`` when ``depth > 1``).

        Raises
        ------
        TypeError
            If ``point`` is not a triple of real arrays or ``vector`` is none of the accepted
            forms.
        ValueError
            If ``vector`` is not ``m x n`` or has non-finite entries, or ``point`` is not a
            point of this manifold.
        """
        self._check_point(point)
        self._check_ambient(vector, "vector")
        return self._project(point, vector)

    def _check_ambient(self, vector, name):
        shape = ambient_shape(vector, name)
        if tuple(shape) != (self._m, self._n):
            raise ValueError(
                f"{name} must be an ambient {self._m}x{self._n} matrix; got shape {tuple(shape)}"
            )

    @staticmethod
    def _project(point, vector) -> FixedRankTangentVector:
        return FixedRankTangentVector(*_tangent.project(point, vector))

    def to_tangent_space(self, point, vector) -> FixedRankTangentVector:
        """Re-impose ``u^T Up = 0`` and ``vt Vp = 0`` on a near-tangent ``(Up, M, Vp)``.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        vector : FixedRankTangentVector
            A triple ``(Up, M, Vp)`` of shapes ``(m, k)``, ``(k, k)``, ``(n, k)``, e.g. a
            tangent vector carried over from a nearby point.

        Returns
        -------
        FixedRankTangentVector
            ``(Up - u u^T Up, M, Vp - v v^T Vp)``, tangent at ``point``.

        Raises
        ------
        TypeError
            If ``point`` or ``vector`` is not a triple of real arrays.
        ValueError
            If a shape is wrong, an entry is not finite (with ``check_finite``), or the point
            is not one of this manifold (``s > 0`` and orthonormal ``u``, ``vt`` required).
        """
        self._check_point(point)
        self._check_tangent(vector, "vector", scan=True)
        return FixedRankTangentVector(*_tangent.to_tangent_space(point, vector))

    def embedding(self, point, tangent_vector):
        r"""The tangent vector as a direction ``(du, ds, dvt)`` in the space of ``(u, s, vt)``.

        pymanopt's autodiff backends differentiate costs written on the arrays
        ``(u, s, vt)`` and take their Hessian-vector products along
        ``embedding(point, xi)``. This returns the derivative of the SVD along ``xi``
        (the unique direction tangent to the orthonormal frames whose image under
        :math:`(u, s, v^\top) \mapsto u\,\mathrm{diag}(s)\,v^\top` is ``xi``), so that
        :meth:`euclidean_to_riemannian_hessian` is exact for every smooth cost on
        :math:`\mathcal M_k`, not only for costs through the product; see
        :func:`riemlin.geometry.parametrization.svd_derivative`. Pairs of singular values that
        coincide to the relative gap :data:`riemlin.geometry.parametrization.COINCIDENT_GAP` get the
        bounded symmetric preimage instead.

        This differs from pymanopt's ``FixedRankEmbedded.embedding``, which returns the
        ambient low-rank triple of ``xi``; that triple is :meth:`tangent_to_low_rank`.
        pymanopt's ``Problem`` hands the triple to the Hessian-vector product of a cost
        on ``(u, s, vt)``, whose shapes ``(m, 2k)``, ``(2k, 2k)``, ``(n, 2k)`` are not the
        point's, so autodiff Hessians fail on ``FixedRankEmbedded`` and work here.
        pymanopt's ``Product`` (2.2.1) does not call its factors' ``embedding``; for
        autodiff Hessians on a product, use a ``Product`` subclass whose ``embedding``
        returns ``[f.embedding(p, v) for f, p, v in zip(self.manifolds, point, xi)]``.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt`` (not checked here).
        tangent_vector : FixedRankTangentVector
            Tangent vector ``(Up, M, Vp)`` at ``point``.

        Returns
        -------
        tuple of ndarray
            ``(du, ds, dvt)`` of shapes ``(m, k)``, ``(k,)``, ``(k, n)``, with
            ``du diag(s) vt + u diag(ds) vt + u diag(s) dvt`` equal to the ambient
            matrix of ``xi``.
        """
        u, s, vt = point
        return _param.svd_derivative(u, s, vt, tangent_vector, _param.resolvable_pairs(s))

    def tangent_to_low_rank(self, point, tangent_vector):
        """The ambient matrix of a tangent vector as a low-rank triple ``(U, S, V)``.

        ``U @ S @ V.T = u M vt + Up vt + u Vp^T`` with ``U = [u M + Up, u]`` (``m x 2k``),
        ``S`` the ``2k x 2k`` identity and ``V = [v, Vp]`` (``n x 2k``): the form that
        pymanopt's ``FixedRankEmbedded.embedding`` returns and that
        :meth:`projection` and :meth:`riemannian_gradient_from_matrix` accept, at
        :math:`O((m+n)k^2)` and never densified.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        tangent_vector : FixedRankTangentVector
            Tangent vector ``(Up, M, Vp)`` at ``point``.

        Returns
        -------
        tuple of ndarray
            ``(U, S, V)`` of shapes ``(m, 2k)``, ``(2k, 2k)``, ``(n, 2k)``.

        Raises
        ------
        TypeError
            If ``point`` or ``tangent_vector`` is not a triple of real arrays.
        ValueError
            If a shape is wrong, an entry is not finite (with ``check_finite``), or the point
            is not one of this manifold (``s > 0`` and orthonormal ``u``, ``vt`` required).
        """
        self._check_point(point)
        self._check_tangent(tangent_vector, scan=True)
        return _tangent.tangent_low_rank(point, tangent_vector)

    def tangent_to_matrix(self, point, tangent_vector) -> np.ndarray:
        r"""The dense ``m x n`` matrix ``u M vt + Up vt + u Vp^T`` of a tangent vector.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        tangent_vector : FixedRankTangentVector
            Tangent vector ``(Up, M, Vp)`` at ``point``.

        Returns
        -------
        ndarray, shape (m, n)
            The ambient matrix :math:`\xi` (costs ``m n`` floats; see
            :meth:`tangent_to_low_rank` for the factored form).

        Raises
        ------
        TypeError
            If ``point`` or ``tangent_vector`` is not a triple of real arrays.
        ValueError
            If a shape is wrong, an entry is not finite (with ``check_finite``), or the point
            is not one of this manifold (``s > 0`` and orthonormal ``u``, ``vt`` required).
        """
        self._check_point(point)
        self._check_tangent(tangent_vector, scan=True)
        return _tangent.tangent_matrix(point, tangent_vector)

    def zero_vector(self, point) -> FixedRankTangentVector:
        """The zero tangent vector.

        Parameters
        ----------
        point : FixedRankPoint
            The point (only its manifold's sizes matter; not checked).

        Returns
        -------
        FixedRankTangentVector
            Zero arrays of shapes ``(m, k)``, ``(k, k)``, ``(n, k)``.
        """
        return FixedRankTangentVector(
            np.zeros((self._m, self._k)),
            np.zeros((self._k, self._k)),
            np.zeros((self._n, self._k)),
        )

    # ------------------------------------------------------------------ gradients
    def euclidean_to_riemannian_gradient(self, point, euclidean_gradient):
        r"""Riemannian gradient from the gradient with respect to the arrays ``(u, s, vt)``.

        ``euclidean_gradient = (du, ds, dvt)`` is what pymanopt's autodiff backends return
        for a cost :math:`\tilde f(u, s, v^\top)`. Whenever :math:`\tilde f` is a smooth
        function of :math:`W = u\,\mathrm{diag}(s)\,v^\top` on orthonormal frames (any
        cost through the product, of ``s`` alone, of the row or column space, of single
        singular vectors, or a mixture), the result is its exact Riemannian gradient
        :math:`\mathcal A_W(P_T \nabla F)` under ``g``: the embedded gradient comes from
        :func:`riemlin.geometry.parametrization.representer`. The part of the data a cost through
        the product would produce takes a path with no division by :math:`s_j^2 - s_i^2`,
        so costs through the product stay accurate when singular values nearly coincide
        (unlike pymanopt's ``FixedRankEmbedded``); the rest is divided by the gaps of the
        singular values, and loses about ``log10(1 / gap)`` digits where they nearly
        coincide (the derivative of single singular vectors is that ill-conditioned). At
        pairs that coincide to the relative gap
        :data:`riemlin.geometry.parametrization.COINCIDENT_GAP` the data of a general cost do not
        determine the gradient; there the value of a cost through the product is used.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        euclidean_gradient : tuple of ndarray
            ``(du, ds, dvt)`` of shapes ``(m, k)``, ``(k,)``, ``(k, n)``.

        Returns
        -------
        FixedRankTangentVector
            :math:`\operatorname{grad}^g f(W) = \mathcal A_W(P_T \nabla F)`, which
            satisfies :math:`g_W(\operatorname{grad}^g f, \xi) = Df(W)[\xi]`.

        Raises
        ------
        TypeError
            If ``euclidean_gradient`` is not a triple.
        ValueError
            If a shape is wrong or an entry is not finite.
        """
        self._check_point(point)
        d = self._check_triple(euclidean_gradient, "euclidean_gradient")
        u, s, vt = point
        resolvable = _param.resolvable_pairs(s)
        split = _param.split_derivatives(u, s, vt, d, resolvable)
        out = self._point_data(s).apply(_param.representer(split, s, resolvable))
        self._check_finite_result(out, "euclidean_gradient")
        return out

    def riemannian_gradient_from_matrix(self, point, G) -> FixedRankTangentVector:
        r"""Riemannian gradient :math:`\mathcal A_W(P_T G)` from the Euclidean gradient ``G``.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        G : ndarray, sparse matrix or (U, S, V)
            Euclidean gradient of ``f`` at ``W``; never formed densely.

        Returns
        -------
        FixedRankTangentVector
            :math:`\operatorname{grad}^g f(W)`, which satisfies
            :math:`g_W(\operatorname{grad}^g f, \xi) = \langle G, \xi\rangle_F`.

        Raises
        ------
        TypeError
            If ``point`` is not a triple of real arrays or ``G`` is none of the accepted
            forms.
        ValueError
            If ``G`` is not ``m x n`` or has non-finite entries, or ``point`` is not a
            point of this manifold.
        """
        self._check_point(point)
        self._check_ambient(G, "G")
        return self._point_data(point[1]).apply(self._project(point, G))

    # ------------------------------------------------------------------ second order
    def riemannian_hessian_from_matrix(self, point, G, H_xi, xi) -> FixedRankTangentVector:
        r"""Riemannian Hessian :math:`\operatorname{Hess}^g f(W)[\xi]` under the metric ``g``.

        .. math::

            \operatorname{Hess}^g f(W)[\xi] = \mathcal A_W\bigl(\operatorname{Hess}^e
            f(W)[\xi]\bigr) + \Gamma_W(\xi; G),

        the embedded (Weingarten) Hessian mapped by :math:`\mathcal A_W` plus the change
        of connection; see :mod:`riemlin.geometry.hessian` for the closed form and its derivation
        from the Riemannian submersion of balanced factors (user guide, "The Hessian under g").
        ``depth=1`` gives the embedded Hessian of Manopt's ``fixedrankembeddedfactory``.
        Cost :math:`O((m+n)k^2 + k^3\log N)` beyond the products of ``G`` and ``H_xi``
        with ``k``-column matrices; no division by :math:`s_i^2 - s_j^2`.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W``.
        G : ndarray, sparse matrix or (U, S, V)
            Euclidean gradient :math:`\nabla f(W)`.
        H_xi : ndarray, sparse matrix or (U, S, V)
            Euclidean Hessian-vector product :math:`D(\nabla f)(W)[\xi]` along the
            ambient matrix of ``xi``.
        xi : FixedRankTangentVector
            The tangent vector.

        Returns
        -------
        FixedRankTangentVector
            :math:`\operatorname{Hess}^g f(W)[\xi]`, self-adjoint for
            :meth:`inner_product`.

        Raises
        ------
        TypeError
            If ``point`` or ``xi`` is not a triple of real arrays, or ``G`` or ``H_xi`` is
            none of the accepted ambient forms.
        ValueError
            If a shape is wrong or an input is not finite.
        """
        self._check_point(point)
        self._check_ambient(G, "G")
        self._check_ambient(H_xi, "H_xi")
        self._check_tangent(xi, "xi", scan=True)
        u, s, vt = point
        Up, _, Vp = xi
        k = self._k
        GB = ambient_matmul(G, np.hstack((vt.T, Vp)))
        GtA = ambient_rmatmul(G, np.hstack((u, Up)))
        GV, GVp = GB[:, :k], GB[:, k:]
        GtU, GtUp = GtA[:, :k], GtA[:, k:]
        HV = ambient_matmul(H_xi, vt.T)
        HtU = ambient_rmatmul(H_xi, u)
        hess_e = _hessian.embedded_hessian(u, s, vt, GVp, GtUp, HV, HtU)
        out = self._finish_hessian(point, hess_e, xi, GV, GtU)
        self._check_finite_result(out, "G", "H_xi", "xi")
        return out

    def _finish_hessian(self, point, hess_e, xi, GV, GtU) -> FixedRankTangentVector:
        # A_W(Hess^e) + Gamma(xi; G)
        data = self._point_data(point[1])
        out = data.apply(hess_e)
        if self._depth == 1:
            return out
        u, _, vt = point
        gamma = data.connection_term(u, vt, xi, GV, GtU)
        return FixedRankTangentVector(*(a + b for a, b in zip(out, gamma)))

    def euclidean_to_riemannian_hessian(
        self, point, euclidean_gradient, euclidean_hessian, tangent_vector
    ) -> FixedRankTangentVector:
        r"""Riemannian Hessian from derivatives with respect to the arrays ``(u, s, vt)``.

        pymanopt's convention: ``euclidean_gradient = (du, ds, dvt)`` and
        ``euclidean_hessian`` is the Hessian-vector product of the cost along
        :meth:`embedding` ``(point, tangent_vector)``, which is what pymanopt's autodiff
        backends compute. Exact for every smooth cost on :math:`\mathcal M_k`, by the
        second-order chain rule of the parametrization
        :math:`(u, s, v^\top) \mapsto u\,\mathrm{diag}(s)\,v^\top`:

        .. math::

            \operatorname{Hess}^e F(W)[\xi, \eta] = \langle \nabla^2 \tilde f[\dot p_\xi],
            \dot p_\eta\rangle + \langle \nabla \tilde f, \ddot p(\xi, \eta)\rangle,

        with :math:`\dot p` the derivative of the SVD (:meth:`embedding`) and
        :math:`\ddot p` its second derivative along :math:`W + t\xi`; then
        :math:`\operatorname{Hess}^g F = \mathcal A_W(\operatorname{Hess}^e F) +
        \Gamma_W` as in :meth:`riemannian_hessian_from_matrix`. The terms a cost through
        the product produces are removed in closed form
        (:func:`riemlin.geometry.parametrization.product_hessian_terms`), and the rest of the
        gradient data enters through :func:`riemlin.geometry.parametrization.rest_hessian`. The
        derivative of the SVD is divided by the gaps of the singular values, so where two
        of them nearly coincide (relative gap ``delta``) the result carries relative
        errors of about ``eps / delta`` for costs through the product and up to
        ``eps / delta**3`` for costs of single singular vectors; for a cost written on
        ``W``, :func:`riemlin.matrix_problem` has no such loss. Pairs closer than
        :data:`riemlin.geometry.parametrization.COINCIDENT_GAP` are treated as in
        :meth:`euclidean_to_riemannian_gradient`.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        euclidean_gradient : tuple of ndarray
            ``(du, ds, dvt)``, shapes ``(m, k)``, ``(k,)``, ``(k, n)``.
        euclidean_hessian : tuple of ndarray
            The Hessian-vector product along ``embedding(point, tangent_vector)``, same
            shapes.
        tangent_vector : FixedRankTangentVector
            The direction :math:`\xi` at ``point``.

        Returns
        -------
        FixedRankTangentVector
            :math:`\operatorname{Hess}^g f(W)[\xi]`, self-adjoint for
            :meth:`inner_product`.

        Raises
        ------
        TypeError
            If a derivative is not a triple.
        ValueError
            If a shape is wrong or an entry is not finite.
        """
        self._check_point(point)
        self._check_tangent(tangent_vector, scan=True)
        d = self._check_triple(euclidean_gradient, "euclidean_gradient")
        h = self._check_triple(euclidean_hessian, "euclidean_hessian")
        u, s, vt = point
        Up, M, Vp = tangent_vector
        resolvable = _param.resolvable_pairs(s)
        grad = _param.split_derivatives(u, s, vt, d, resolvable)
        gUp, gM, gVp = _param.representer(grad, s, resolvable)
        v = vt.T
        X, Y = _param.coefficients(s, M, resolvable)
        prod = _param.product_hessian_terms(
            u, s, vt, u @ grad.G0 + grad.Up, v @ grad.G0.T + grad.Vp, (X, Y, Up, M, Vp)
        )
        scale = max(_param.data_scale(s, h), _param.data_scale(s, prod))
        rest = tuple(a - b for a, b in zip(h, prod))
        hsplit = _param.split_derivatives(u, s, vt, rest, resolvable, scale=scale)
        first = _param.representer(hsplit, s, resolvable)
        second = _param.rest_hessian(grad, s, resolvable, tangent_vector)
        hess_e = tuple(a + b for a, b in zip(first, second))
        out = self._finish_hessian(point, hess_e, tangent_vector, u @ gM + gUp, v @ gM.T + gVp)
        self._check_finite_result(out, "euclidean_gradient", "euclidean_hessian")
        return out

    def _check_triple(self, value, name):
        if not isinstance(value, (tuple, list)) or len(value) != 3:
            raise TypeError(
                f"{name} must be the triple of derivatives with respect to (u, s, vt); "
                f"got {type(value).__name__}. For a cost written on the matrix W use "
                "riemlin.matrix_problem, riemannian_gradient_from_matrix or "
                "riemannian_hessian_from_matrix"
            )
        a, b, c = (np.asarray(x) for x in value)
        check_shape(a, f"{name}[0]", (self._m, self._k))
        check_shape(b, f"{name}[1]", (self._k,))
        check_shape(c, f"{name}[2]", (self._k, self._n))
        # scanned here (O((m+n)k), below the conversions' O((m+n)k^2)): an inf would
        # otherwise meet a zero inside a product and turn into an unexplained nan
        if self._check_finite and not _all_finite((a, b, c)):
            raise ValueError(f"{name} has non-finite entries (nan or inf)")
        return a, b, c

    def connection_difference(
        self, point, tangent_vector_a, tangent_vector_b=None
    ) -> FixedRankTangentVector:
        r"""The difference :math:`C(\xi, \eta) = \nabla^g_\xi \eta - \nabla^e_\xi \eta`.

        :math:`C` is the symmetric bilinear difference between the Levi-Civita
        connections of ``g`` and of the embedded metric on :math:`\mathcal M_k` (zero
        at ``depth=1``); a curve is a ``g``-geodesic iff the tangential part of its
        acceleration equals :math:`-C(\dot W, \dot W)`. See
        :func:`riemlin.geometry.hessian.connection_difference`.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        tangent_vector_a : FixedRankTangentVector
            :math:`\xi`, tangent at ``point``.
        tangent_vector_b : FixedRankTangentVector, optional
            :math:`\eta`, tangent at ``point``; defaults to ``tangent_vector_a``.

        Returns
        -------
        FixedRankTangentVector
            :math:`C(\xi, \eta)`, tangent at ``point``.

        Raises
        ------
        TypeError
            If ``point`` or a tangent vector is not a triple of real arrays.
        ValueError
            If a shape is wrong, an entry is not finite (with ``check_finite``), or the point
            is not one of this manifold (``s > 0`` and orthonormal ``u``, ``vt`` required).
        """
        self._check_point(point)
        self._check_tangent(tangent_vector_a, "tangent_vector_a", scan=True)
        if tangent_vector_b is None:
            tangent_vector_b = tangent_vector_a
        else:
            self._check_tangent(tangent_vector_b, "tangent_vector_b", scan=True)
        return self._connection_difference(point, tangent_vector_a, tangent_vector_b)

    def _connection_difference(self, point, a, b) -> FixedRankTangentVector:
        return self._point_data(point[1]).connection_difference(a, b)

    # ------------------------------------------------------------------ moving around
    def retraction(self, point, tangent_vector) -> FixedRankPoint:
        r"""Metric-projection retraction: the rank-``k`` truncated SVD of ``W + xi``.

        :func:`riemlin.geometry.tangent.metric_projection` (Manopt's current QR of
        ``[u, Up]`` and ``[v, Vp]``), at :math:`O((m+n)k^2)`. The retraction is second
        order for the embedded metric (Absil and Malick 2012) and first order for ``g``
        when ``depth > 1``. With ``retraction="second_order"`` the step is first corrected to
        :math:`\xi - \tfrac12 C(\xi,\xi)` (:meth:`connection_difference`): the curve
        :math:`t\mapsto R(t\xi)` then has tangential acceleration
        :math:`-C(\xi,\xi)` at ``t = 0``, i.e. zero ``g``-covariant acceleration, so the
        retraction is second order for ``g``.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        tangent_vector : FixedRankTangentVector
            Tangent vector ``(Up, M, Vp)`` at ``point``.

        Returns
        -------
        FixedRankPoint
            The new point ``(u, s, vt)``, singular values in decreasing order.

        Raises
        ------
        TypeError
            If ``point`` or ``tangent_vector`` is not a triple of real arrays.
        ValueError
            If ``W + xi`` has numerical rank below ``k`` (the step leaves the manifold), a
            shape is wrong, an entry is not finite, or ``point`` is not a point of this
            manifold.
        """
        self._check_point(point)
        self._check_tangent(tangent_vector, scan=True)
        if self._retraction == "second_order" and self._depth > 1:
            C = self._connection_difference(point, tangent_vector, tangent_vector)
            tangent_vector = tangent_vector - 0.5 * C
        return FixedRankPoint(*_tangent.metric_projection(point, tangent_vector))

    def transport(self, point_a, point_b, tangent_vector_a) -> FixedRankTangentVector:
        r"""Vector transport by Frobenius projection onto the tangent space at ``point_b``.

        A valid vector transport for any metric on :math:`\mathcal M_k` (smooth, linear,
        identity when ``point_a == point_b``); Absil, Mahony, Sepulchre 2008, Sec. 8.1.3.

        Parameters
        ----------
        point_a : FixedRankPoint
            The point the vector is tangent to.
        point_b : FixedRankPoint
            The point to carry it to.
        tangent_vector_a : FixedRankTangentVector
            Tangent vector at ``point_a``.

        Returns
        -------
        FixedRankTangentVector
            The Frobenius projection of the ambient matrix of ``tangent_vector_a`` onto
            :math:`T_{W_b}\mathcal M_k`.

        Raises
        ------
        TypeError
            If a point or ``tangent_vector_a`` is not a triple of real arrays.
        ValueError
            If a shape is wrong, an entry is not finite, or a point is not a point of this
            manifold.
        """
        self._check_point(point_a, "point_a")
        self._check_point(point_b, "point_b")
        self._check_tangent(tangent_vector_a, "tangent_vector_a", scan=True)
        return self._project(point_b, _tangent.tangent_low_rank(point_a, tangent_vector_a))

    # ------------------------------------------------------------------ sampling
    def random_point(self, rng=None, *, spread: float = 10.0) -> FixedRankPoint:
        """A random point with Haar-distributed singular vectors.

        Parameters
        ----------
        rng : None, int, SeedSequence or Generator, optional
            Source of randomness; defaults to the manifold's own generator.
        spread : float, default 10
            Ratio ``s_max / s_min`` bound: singular values are drawn log-uniformly from
            ``[spread**-0.5, spread**0.5]`` (so they stay away from zero, unlike
            pymanopt's ``U(0, 1)``), sorted in decreasing order. ``spread=1`` gives all
            singular values equal to one.

        Returns
        -------
        FixedRankPoint
            ``(u, s, vt)`` with ``u``, ``v`` Haar-distributed (:func:`random_frame`) and ``s``
            decreasing.

        Raises
        ------
        TypeError
            If ``rng`` is not None, an int, a SeedSequence or a Generator.
        ValueError
            If ``spread`` is not a finite number ``>= 1`` or ``rng`` is a negative seed.
        """
        gen = self._rng if rng is None else as_generator(rng)
        spread = float(spread)
        if not np.isfinite(spread) or spread < 1:
            raise ValueError(f"spread must be a finite number >= 1; got {spread}")
        u = random_frame(gen, self._m, self._k)
        v = random_frame(gen, self._n, self._k)
        half = 0.5 * np.log(spread)
        s = np.ascontiguousarray(np.sort(np.exp(gen.uniform(-half, half, size=self._k)))[::-1])
        return FixedRankPoint(u, s, v.T)

    def random_tangent_vector(self, point, rng=None) -> FixedRankTangentVector:
        r"""A random tangent vector of unit ``g``-norm (Gaussian coordinates, projected).

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        rng : None, int, SeedSequence or Generator, optional
            Source of randomness; defaults to the manifold's own generator.

        Returns
        -------
        FixedRankTangentVector
            ``(Up, M, Vp)`` with standard normal ``M`` and the normal parts of standard normal
            ``Up``, ``Vp``, scaled to :math:`\|\xi\|_g = 1`.

        Raises
        ------
        TypeError
            If ``point`` is not a triple of real arrays or ``rng`` is not a valid source of
            randomness.
        ValueError
            If ``point`` is not a point of this manifold or ``rng`` is a negative seed.
        """
        self._check_point(point)
        gen = self._rng if rng is None else as_generator(rng)
        Up = gen.standard_normal((self._m, self._k))
        Vp = gen.standard_normal((self._n, self._k))
        M = gen.standard_normal((self._k, self._k))
        xi = FixedRankTangentVector(*_tangent.to_tangent_space(point, (Up, M, Vp)))
        return xi / self.norm(point, xi)

    # ------------------------------------------------------------------ conversions
    def point_from_matrix(self, W) -> FixedRankPoint:
        """The point ``(u, s, vt)`` of a rank-``k`` matrix, by a thin SVD.

        Parameters
        ----------
        W : ndarray or sparse matrix, shape (m, n)
            A matrix of numerical rank at least ``k``; its best rank-``k`` approximation
            is returned (exact when the rank is ``k``).

        Returns
        -------
        FixedRankPoint
            The leading ``k`` singular triplets of ``W``, singular values decreasing.

        Raises
        ------
        TypeError
            If ``W`` is not an array of real numbers.
        ValueError
            If ``W`` has the wrong shape, non-finite entries, or numerical rank below
            ``k`` (``s_k <= max(m, n) * eps * s_1``).
        """
        W = ambient_to_dense(W) if sp.issparse(W) else W
        W = check_array(W, "W", shape=(self._m, self._n))
        u, s, vt = np.linalg.svd(W, full_matrices=False)
        k = self._k
        rank = numerical_rank(s, (self._m, self._n))
        if rank < k:
            raise ValueError(
                f"W has numerical rank {rank} < k={k} "
                f"(singular values {s[: k + 1]}); a point of this manifold needs rank k"
            )
        return FixedRankPoint(u[:, :k], s[:k], vt[:k])

    def point_to_matrix(self, point) -> np.ndarray:
        """The dense ``m x n`` matrix ``u diag(s) vt``.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.

        Returns
        -------
        ndarray, shape (m, n)
            The matrix ``W``.

        Raises
        ------
        TypeError
            If ``point`` is not a triple of real arrays.
        ValueError
            If a shape is wrong, an entry is not finite (with ``check_finite``), or the point
            is not one of this manifold (``s > 0`` and orthonormal ``u``, ``vt`` required).
        """
        self._check_point(point)
        u, s, vt = point
        return (u * s) @ vt

    # ------------------------------------------------------------------ geometry
    # Geodesics, exp, log, distance, transport and curvature of (M_k, g); the maths is in
    # riemlin.geometry.geodesics.
    def exp(
        self,
        point,
        tangent_vector,
        *,
        rtol: float = _geodesics.RTOL,
        boundary_tol: float = _geodesics.BOUNDARY_TOL,
    ) -> FixedRankPoint:
        r"""Riemannian exponential of ``g``: where the geodesic with this velocity is at ``t = 1``.

        See :func:`riemlin.geometry.geodesics.exp` (the geodesic equation in a factored frame,
        reduced to ``2k x 2k``; cost :math:`O((m+n)k^2)` plus a small integration). For
        ``k = 1`` the closed form of the cone :func:`riemlin.geometry.geodesics.rank_one_exp`, which
        has no integration error and refuses only geodesics through the zero matrix
        (``rtol`` and ``boundary_tol`` do not apply).

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        tangent_vector : FixedRankTangentVector
            The initial velocity ``(Up, M, Vp)`` at ``point``.
        rtol : float, default 1e-12
            Relative tolerance of the geodesic integration (DOP853, on the state scaled so
            that the largest singular value is one).
        boundary_tol : float, default 1e-8
            The geodesic reaches the boundary when ``s_k / max(s_1, s_1(0))`` falls below
            it (or a singular value passes through zero within a step).

        Returns
        -------
        FixedRankPoint
            :math:`\exp_W(\xi)`, of rank ``k``.

        Raises
        ------
        TypeError
            If a point or tangent vector is not a triple of real arrays, or a tolerance
            not a real number.
        ValueError
            If a shape is wrong, an entry is not finite, a point is not one of this
            manifold, or a tolerance is not in ``(0, 1)``.
        riemlin.geometry.geodesics.BoundaryError
            (a ``ValueError``) If the geodesic reaches the rank-deficient boundary for
            ``t`` in ``(0, 1]`` (``g`` is incomplete); its ``t`` and ``t_boundary`` say
            where.
        """
        self._check_point(point)
        self._check_tangent(tangent_vector, scan=True)
        if self._k == 1:  # a cone: closed form
            end = _geodesics.rank_one_exp(point, tangent_vector, self._depth)
        else:
            end = _geodesics.exp(
                point, tangent_vector, self._depth, rtol=rtol, boundary_tol=boundary_tol
            )
        return FixedRankPoint(*end)

    def geodesic(
        self,
        point,
        tangent_vector,
        t,
        *,
        rtol: float = _geodesics.RTOL,
        boundary_tol: float = _geodesics.BOUNDARY_TOL,
    ):
        """Points ``exp(point, t * tangent_vector)`` at the times ``t`` (scalar or 1-D array).

        See :func:`riemlin.geometry.geodesics.geodesic` (for ``k = 1`` the closed form
        :func:`riemlin.geometry.geodesics.rank_one_exp` at each time).

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        tangent_vector : FixedRankTangentVector
            The velocity at ``t = 0``.
        t : float or array_like
            Times, any order and sign.
        rtol : float, default 1e-12
            Relative tolerance of the geodesic integration (DOP853, on the state scaled so
            that the largest singular value is one).
        boundary_tol : float, default 1e-8
            The geodesic reaches the boundary when ``s_k / max(s_1, s_1(0))`` falls below
            it (or a singular value passes through zero within a step).

        Returns
        -------
        FixedRankPoint or list of FixedRankPoint
            One point for a scalar ``t``, else one per time in the order given.

        Raises
        ------
        TypeError
            If a point or tangent vector is not a triple of real arrays, or a tolerance
            not a real number.
        ValueError
            If a shape is wrong, an entry is not finite, a point is not one of this
            manifold, or a tolerance is not in ``(0, 1)``.
        riemlin.geometry.geodesics.BoundaryError
            (a ``ValueError``) If the geodesic reaches the rank-deficient boundary before
            the farthest time; its ``t`` and ``t_boundary`` say where.
        """
        self._check_point(point)
        self._check_tangent(tangent_vector, scan=True)
        if self._k == 1:  # a cone: closed form at each time
            times = np.asarray(t, dtype=float)
            if times.ndim > 1 or not np.all(np.isfinite(times)):
                raise ValueError(f"t must be a finite scalar or 1-D array; got {t!r}")
            out = [
                _geodesics.rank_one_exp(point, tangent_vector, self._depth, float(ti))
                for ti in np.atleast_1d(times)
            ]
            out = out[0] if times.ndim == 0 else out
        else:
            out = _geodesics.geodesic(
                point, tangent_vector, self._depth, t, rtol=rtol, boundary_tol=boundary_tol
            )
        if isinstance(out, list):
            return [FixedRankPoint(*p) for p in out]
        return FixedRankPoint(*out)

    def log(
        self,
        point_a,
        point_b,
        *,
        tol: float = _shooting.LOG_TOL,
        max_iterations: int = 50,
        rtol: float = _geodesics.RTOL,
        boundary_tol: float = _geodesics.BOUNDARY_TOL,
        full_output: bool = False,
    ):
        r"""Riemannian logarithm: the velocity at ``point_a`` of a geodesic to ``point_b``.

        Shooting by a quasi-Newton method on ``exp`` (:func:`riemlin.geometry.shooting.log`),
        to :math:`\|\exp_a(\xi) - b\|_F \le` ``tol`` :math:`\|b\|_F`; for ``k = 1``
        the closed form :func:`riemlin.geometry.shooting.rank_one_log` (every pair). With
        ``full_output=True`` returns the :class:`riemlin.geometry.shooting.LogResult` (residual,
        iterations, number of geodesic integrations) instead of the vector.

        Parameters
        ----------
        point_a, point_b : FixedRankPoint
            The two points; the result is a tangent vector at ``point_a``.
        tol : float, default 1e-11
            Stop when ``||exp(point_a, xi) - point_b||_F <= tol ||point_b||_F``.
        max_iterations : int, default 50
            Accepted quasi-Newton steps before giving up.
        rtol : float, default 1e-12
            Relative tolerance of the geodesic integration (DOP853, on the state scaled so
            that the largest singular value is one).
        boundary_tol : float, default 1e-8
            The geodesic reaches the boundary when ``s_k / max(s_1, s_1(0))`` falls below
            it (or a singular value passes through zero within a step).
        full_output : bool, default False
            Return the :class:`riemlin.geometry.shooting.LogResult` instead of the vector.

        Returns
        -------
        FixedRankTangentVector or LogResult
            The velocity at ``point_a`` of the geodesic that reaches ``point_b`` at
            ``t = 1`` (with ``full_output``: with the residual, iterations and integrations).

        Raises
        ------
        TypeError
            If a point or tangent vector is not a triple of real arrays, or a tolerance
            not a real number.
        ValueError
            If a shape is wrong, an entry is not finite, a point is not one of this
            manifold, or a tolerance is not in ``(0, 1)``.
            Also if no geodesic is found to ``tol`` (the message says how far it got and
            why).
        """
        self._check_point(point_a, "point_a")
        self._check_point(point_b, "point_b")
        if self._k == 1:  # a cone: closed form, defined for every pair of points
            result = _shooting.rank_one_log(point_a, point_b, self._depth)
            xi = FixedRankTangentVector(*result.tangent_vector)
            return result._replace(tangent_vector=xi) if full_output else xi
        result = _shooting.log(
            point_a,
            point_b,
            self._depth,
            tol=tol,
            max_iterations=max_iterations,
            rtol=rtol,
            boundary_tol=boundary_tol,
        )
        xi = FixedRankTangentVector(*result.tangent_vector)
        return result._replace(tangent_vector=xi) if full_output else xi

    def dist(self, point_a, point_b) -> float:
        """Riemannian distance ``norm(point_a, log(point_a, point_b))``.

        The length of the geodesic :meth:`log` finds: the distance for points closer than
        the injectivity radius, an upper bound otherwise (see the geometry chapter).

        Parameters
        ----------
        point_a, point_b : FixedRankPoint
            The two points.

        Returns
        -------
        float
            The ``g``-length of the geodesic from ``point_a`` to ``point_b``.

        Raises
        ------
        ValueError
            As :meth:`log`.
        """
        return self.norm(point_a, self.log(point_a, point_b))

    def pair_mean(self, point_a, point_b) -> FixedRankPoint:
        """Midpoint ``exp(point_a, log(point_a, point_b) / 2)`` of the geodesic.

        Parameters
        ----------
        point_a, point_b : FixedRankPoint
            The two points.

        Returns
        -------
        FixedRankPoint
            The point halfway along the geodesic :meth:`log` finds.

        Raises
        ------
        ValueError
            As :meth:`log` and :meth:`exp`.
        """
        return self.exp(point_a, 0.5 * self.log(point_a, point_b))

    def parallel_transport(
        self,
        point,
        direction,
        tangent_vector,
        *,
        rtol: float = _geodesics.RTOL,
        boundary_tol: float = _geodesics.BOUNDARY_TOL,
    ) -> FixedRankTangentVector:
        """Parallel transport of ``tangent_vector`` along ``t -> exp(point, t * direction)``.

        From ``t = 0`` to ``t = 1``; the result is a tangent vector at
        ``exp(point, direction)``, in its coordinates. Linear and isometric for ``g``
        (to the integration tolerance); see :func:`riemlin.geometry.geodesics.parallel_transport`.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        direction : FixedRankTangentVector
            The velocity of the geodesic at ``point``.
        tangent_vector : FixedRankTangentVector
            The vector at ``point`` to transport.
        rtol : float, default 1e-12
            Relative tolerance of the geodesic integration (DOP853, on the state scaled so
            that the largest singular value is one).
        boundary_tol : float, default 1e-8
            The geodesic reaches the boundary when ``s_k / max(s_1, s_1(0))`` falls below
            it (or a singular value passes through zero within a step).

        Returns
        -------
        FixedRankTangentVector
            The transported vector at ``exp(point, direction)``.

        Raises
        ------
        TypeError
            If a point or tangent vector is not a triple of real arrays, or a tolerance
            not a real number.
        ValueError
            If a shape is wrong, an entry is not finite, a point is not one of this
            manifold, or a tolerance is not in ``(0, 1)``.
        riemlin.geometry.geodesics.BoundaryError
            (a ``ValueError``) If the geodesic reaches the rank-deficient boundary.
        """
        self._check_point(point)
        self._check_tangent(direction, "direction", scan=True)
        self._check_tangent(tangent_vector, scan=True)
        _, (out,) = _geodesics.parallel_transport(
            point, direction, [tangent_vector], self._depth, rtol=rtol, boundary_tol=boundary_tol
        )
        return FixedRankTangentVector(*out)

    def sectional_curvature(self, point, xi, eta) -> float:
        """Sectional curvature of the plane spanned by ``xi`` and ``eta`` (closed form).

        Gauss formula at depth 1, O'Neill's formula for the balanced layers at depth
        ``N >= 2``; see :func:`riemlin.geometry.curvature.sectional_curvature`.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``W = u diag(s) vt``.
        xi, eta : FixedRankTangentVector
            Tangent vectors at ``point`` spanning a plane.

        Returns
        -------
        float
            The sectional curvature of the plane.

        Raises
        ------
        TypeError
            If a point or tangent vector is not a triple of real arrays.
        ValueError
            If a shape is wrong, an entry is not finite, or ``xi`` and ``eta`` do not span
            a plane.
        """
        self._check_point(point)
        self._check_tangent(xi, "xi", scan=True)
        self._check_tangent(eta, "eta", scan=True)
        return _curvature.sectional_curvature(point, xi, eta, self._depth)


def random_frame(gen: np.random.Generator, n: int, k: int) -> np.ndarray:
    """A Haar-distributed ``n x k`` matrix with orthonormal columns.

    The QR factor of a Gaussian matrix, with the signs of ``R``'s diagonal made positive
    (without the sign fix the distribution is not Haar: Mezzadri, "How to generate random
    matrices from the classical compact groups", Notices AMS 54 (2007)).

    Parameters
    ----------
    gen : numpy.random.Generator
        Source of randomness (a Generator, not a seed: inner helper).
    n, k : int
        Shape, ``k <= n``.

    Returns
    -------
    ndarray, shape (n, k)
        A sample of the uniform (Haar) distribution on the Stiefel manifold of ``n x k``
        matrices with orthonormal columns.
    """
    Q, R = np.linalg.qr(gen.standard_normal((n, k)))
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


def _all_finite(arrays) -> bool:
    # ``sum x @ x`` (one BLAS pass per array) is finite iff no entry is nan/inf, unless
    # an entry exceeds 1e154 and its square overflows; only then is the exact scan run.
    flats = [np.ravel(a) for a in arrays]
    with np.errstate(over="ignore", invalid="ignore"):
        total = sum(f @ f for f in flats)
    if np.isfinite(total):
        return True
    return all(np.all(np.isfinite(f)) for f in flats)


class _PointData:
    """Per-point cache: the metric weights, the Hessian tables (built on first use) and
    the column weights laid out flat (:func:`riemlin.geometry.metric.scale_columns`)."""

    __slots__ = ("s_bytes", "weights", "_tiles", "_s", "_depth", "_hessian")

    def __init__(self, s: np.ndarray, depth: int):
        self.s_bytes = s.tobytes()
        self.weights = _metric.metric_weights(s, depth)
        self._tiles = {}
        self._s = s.copy()
        self._depth = depth
        self._hessian = None

    @property
    def hessian(self) -> _hessian.HessianWeights:
        """The tables of :func:`riemlin.geometry.hessian.hessian_weights` (``O(k^3 log N)``, once).

        Built at the normalized singular values ``s / lam`` with ``lam = 2^e >= s_max``
        the power of two just above ``s_max`` (so the normalization is exact): at the
        true scale the entries grow like ``s^{1 + 2(N-2)/N}`` and overflow for
        ``s_max`` above about ``1e101`` at depth 1000, while the quantities built from
        them are representable. :meth:`connection_difference` and
        :meth:`connection_term` restore the scale.
        """
        if self._hessian is None:
            self._hessian = _hessian.hessian_weights(self._s / self._lam, self._depth)
        return self._hessian

    @property
    def _lam(self) -> float:
        return float(np.ldexp(1.0, int(np.frexp(np.max(self._s))[1])))

    def _normalized_inverse(self, xi) -> FixedRankTangentVector:
        # A^{-1} at s / lam: K and c scale like lam^{2(N-1)/N}, so this is lam^{2(N-1)/N}
        # times A^{-1} at s (computed without forming that power)
        w = _metric.metric_weights(self._s / self._lam, self._depth)
        return FixedRankTangentVector(*_metric.apply_metric_inverse(w, xi))

    def connection_difference(self, a, b) -> FixedRankTangentVector:
        r"""``C(a, b)`` of :func:`riemlin.geometry.hessian.connection_difference`, overflow-free.

        ``C`` is homogeneous of degree ``-1`` in ``s`` (tables of degree
        ``1 + 2(N-2)/N``, each ``A^{-1}`` of degree ``-2(N-1)/N``), so
        ``C_s(a, b) = C_{s/lam}(a, b) / lam``.
        """
        z, w = self._normalized_inverse(a), self._normalized_inverse(b)
        out = _hessian.connection_difference(self.hessian, z, w)
        return FixedRankTangentVector(*(x / self._lam for x in out))

    def connection_term(self, u, vt, xi, GV, GtU) -> FixedRankTangentVector:
        r"""``Gamma_W(xi; G)`` of :func:`riemlin.geometry.hessian.connection_term`, overflow-free.

        Homogeneous of degree ``(N-2)/N`` in ``s`` (tables of degree ``1 + 2(N-2)/N``,
        ``A^{-1}`` of degree ``-2(N-1)/N``): ``Gamma_s = lam^{(N-2)/N} Gamma_{s/lam}``.
        """
        z = self._normalized_inverse(xi)
        out = _hessian.connection_term(u, vt, self.hessian, z, GV, GtU)
        scale = float(_metric.rational_power(np.array(self._lam), self._depth - 2, self._depth))
        return FixedRankTangentVector(*(scale * x for x in out))

    def apply_inverse(self, xi) -> FixedRankTangentVector:
        """``A_W^{-1}(xi)`` (:func:`riemlin.geometry.metric.apply_metric_inverse`)."""
        return FixedRankTangentVector(
            *_metric.apply_metric_inverse(self.weights, xi, tiles=self._tiles)
        )

    def apply(self, xi) -> FixedRankTangentVector:
        """``A_W(xi)`` (:func:`riemlin.geometry.metric.apply_metric`)."""
        return FixedRankTangentVector(*_metric.apply_metric(self.weights, xi, tiles=self._tiles))

    def scale_columns(self, A: np.ndarray, inverse: bool) -> np.ndarray:
        """``A diag(c)`` or ``A diag(c)^{-1}`` with this point's tiles.

        See :func:`riemlin.geometry.metric.scale_columns`.
        """
        return _metric.scale_columns(A, self.weights.c, inverse=inverse, tiles=self._tiles)
