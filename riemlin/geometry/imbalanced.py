r"""The metric of an imbalanced two-layer network on :math:`\mathcal M_k`.

Two layers :math:`W = W_2 W_1` with hidden width equal to the rank ``k`` and the imbalance
:math:`Q = W_2^\top W_2 - W_1 W_1^\top = \lambda I_k` (conserved by the gradient flow of
the layers). With the thin SVD :math:`W = U \operatorname{diag}(s) V^\top`,

.. math::

    W_1^\top W_1 = V \operatorname{diag}(\mu) V^\top, \qquad
    W_2 W_2^\top = U \operatorname{diag}(\nu) U^\top, \qquad
    \mu_a = \tfrac12\bigl(-\lambda + \sqrt{\lambda^2 + 4 s_a^2}\bigr), \quad
    \nu_a = \tfrac12\bigl(\lambda + \sqrt{\lambda^2 + 4 s_a^2}\bigr),

(so :math:`\nu_a - \mu_a = \lambda`, :math:`\nu_a \mu_a = s_a^2`), because
:math:`W W^\top = W_2 (W_2^\top W_2 - \lambda I) W_2^\top = P^2 - \lambda P` for
:math:`P = W_2 W_2^\top \succeq 0` of rank ``k``, and likewise
:math:`W^\top W = R^2 + \lambda R` for :math:`R = W_1^\top W_1`. The product then moves by

.. math::

    \dot W = \dot W_2 W_1 + W_2 \dot W_1 = -(W_2 W_2^\top G + G W_1^\top W_1)
           = -\mathcal A^\lambda_W(P_T G), \qquad G = \nabla L(W),

with :math:`\mathcal A^\lambda_W` acting in SVD coordinates by
:math:`M_{ab} \mapsto (\nu_a + \mu_b) M_{ab}`, :math:`U_p \mapsto U_p \operatorname{diag}(\mu)`,
:math:`V_p \mapsto V_p \operatorname{diag}(\nu)` and annihilating the normal block. It is
symmetric positive definite on :math:`T_W \mathcal M_k`, so
:math:`g^\lambda_W(\xi, \eta) = \langle (\mathcal A^\lambda_W)^{-1}\xi, \eta\rangle_F` is a
Riemannian metric under which the product of such layers follows the Riemannian gradient
flow. At :math:`\lambda = 0` it is the depth-2 metric of Bah, Rauhut, Terstiege,
Westdickenberg (arXiv:1910.05505). The derivation is written out in the user guide,
chapter "Claims beyond the theorem". The conservation of :math:`Q` and the Riccati-type
dynamics of such layers are the subject of Tarmoun, França, Haeffele, Vidal, ICML 2021
(PMLR 139:10153-10161).

The functions are plain numpy without input checks;
:class:`FixedRankImbalancedTwoLayer` checks and calls them.
"""

from __future__ import annotations

import numpy as np
from pymanopt.manifolds.manifold import Manifold

from riemlin._validation import check_real
from riemlin.geometry.manifold import FixedRankDeepLinear, FixedRankTangentVector

__all__ = [
    "imbalanced_weights",
    "apply_imbalanced_metric",
    "apply_imbalanced_metric_inverse",
    "FixedRankImbalancedTwoLayer",
]


def imbalanced_weights(s: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    r"""The eigenvalues :math:`\mu` of :math:`W_1^\top W_1` and :math:`\nu` of :math:`W_2 W_2^\top`.

    .. math::

        \mu_a = \tfrac12\bigl(-\lambda + \sqrt{\lambda^2 + 4 s_a^2}\bigr), \qquad
        \nu_a = \tfrac12\bigl(\lambda + \sqrt{\lambda^2 + 4 s_a^2}\bigr).

    The root without cancellation is formed first (``nu`` for ``lam >= 0``, ``mu``
    otherwise) and the other one as :math:`s_a^2 / (\cdot)`, so both keep full relative
    accuracy when :math:`|\lambda| \gg s_a`.

    Parameters
    ----------
    s : ndarray, shape (k,)
        Positive singular values of ``W``.
    lam : float
        The imbalance :math:`Q = \lambda I`.

    Returns
    -------
    mu : ndarray, shape (k,)
        The eigenvalues of :math:`W_1^\top W_1` (weights of ``Up``), positive.
    nu : ndarray, shape (k,)
        The eigenvalues of :math:`W_2 W_2^\top` (weights of ``Vp``), with
        ``nu - mu = lam`` and ``nu * mu = s**2``.
    """
    s = np.asarray(s, dtype=float)
    r = np.hypot(lam, 2.0 * s)
    if lam >= 0:
        nu = 0.5 * (lam + r)
        return s * (s / nu), nu
    mu = 0.5 * (r - lam)
    return mu, s * (s / mu)


def apply_imbalanced_metric(weights, xi):
    r"""Apply :math:`\mathcal A^\lambda_W` in SVD coordinates.

    .. math:: (U_p, M, V_p) \mapsto (U_p \operatorname{diag}(\mu),\;
              [(\nu_a + \mu_b) M_{ab}],\; V_p \operatorname{diag}(\nu)).

    Parameters
    ----------
    weights : tuple of ndarray
        ``(mu, nu)`` from :func:`imbalanced_weights`.
    xi : tuple of ndarray
        Tangent vector ``(Up, M, Vp)``.

    Returns
    -------
    tuple of ndarray
        :math:`\mathcal A^\lambda_W(\xi)` as ``(Up, M, Vp)``.
    """
    mu, nu = weights
    Up, M, Vp = xi
    return Up * mu, (nu[:, None] + mu[None, :]) * M, Vp * nu


def apply_imbalanced_metric_inverse(weights, xi):
    r"""Apply :math:`(\mathcal A^\lambda_W)^{-1}` in SVD coordinates (divide by the weights).

    Parameters
    ----------
    weights : tuple of ndarray
        ``(mu, nu)`` from :func:`imbalanced_weights`.
    xi : tuple of ndarray
        Tangent vector ``(Up, M, Vp)``.

    Returns
    -------
    tuple of ndarray
        :math:`(\mathcal A^\lambda_W)^{-1}(\xi)` as ``(Up, M, Vp)``.
    """
    mu, nu = weights
    Up, M, Vp = xi
    return Up / mu, M / (nu[:, None] + mu[None, :]), Vp / nu


class FixedRankImbalancedTwoLayer(Manifold):
    r"""Fixed-rank matrices with the metric of an imbalanced two-layer network.

    :math:`\mathcal M_k` with :math:`g^\lambda_W(\xi, \eta) = \langle
    (\mathcal A^\lambda_W)^{-1}\xi, \eta\rangle_F`, the metric under which the product
    :math:`W = W_2 W_1` of two layers of hidden width ``k`` with imbalance
    :math:`W_2^\top W_2 - W_1 W_1^\top = \lambda I` follows the Riemannian gradient flow
    of the loss when the layers follow their gradient flow (module docstring).
    ``lam = 0`` is ``FixedRankDeepLinear(m, n, k, depth=2)``.

    Points ``(u, s, vt)`` and tangent vectors ``(Up, M, Vp)`` are those of
    :class:`~riemlin.geometry.manifold.FixedRankDeepLinear`. Everything that does not
    depend on the metric (projection, retraction, transport, sampling of points,
    conversions, the ``embedding`` of autodiff data) is delegated to an embedded
    (``depth=1``) :class:`~riemlin.geometry.manifold.FixedRankDeepLinear`, so the input
    checks and the retraction are the same; the metric, the gradients and the unit
    length of random tangent vectors are this class's own. The Riemannian Hessian of
    :math:`g^\lambda` is not implemented (the methods raise ``NotImplementedError``).

    Parameters
    ----------
    m, n : int
        Matrix shape.
    k : int
        Rank (and the hidden width of the network), ``1 <= k <= min(m, n)``.
    lam : float
        The imbalance :math:`\lambda` (any real number; ``Q = lam * I``).
    rng : None, int, SeedSequence or Generator, optional
        Source of randomness of :meth:`random_point` and :meth:`random_tangent_vector`.
    check_finite : bool, default True
        As in :class:`~riemlin.geometry.manifold.FixedRankDeepLinear`.

    Raises
    ------
    ValueError, TypeError
        If ``m``, ``n``, ``k`` are not positive integers with ``k <= min(m, n)``, or
        ``lam`` is not a finite real number.

    References
    ----------
    .. [1] B. Bah, H. Rauhut, U. Terstiege, M. Westdickenberg, arXiv:1910.05505 (the
       balanced case ``lam = 0``).
    .. [2] S. Tarmoun, G. França, B. D. Haeffele, R. Vidal, "Understanding the dynamics
       of gradient flow in overparameterized linear models", ICML 2021, PMLR 139 (the
       conservation of the imbalance and the Riccati dynamics).

    Examples
    --------
    >>> from riemlin.geometry.imbalanced import FixedRankImbalancedTwoLayer
    >>> manifold = FixedRankImbalancedTwoLayer(5, 4, 2, lam=0.5, rng=0)
    >>> x = manifold.random_point()
    >>> round(manifold.norm(x, manifold.random_tangent_vector(x)), 12)
    1.0
    """

    def __init__(self, m: int, n: int, k: int, lam: float, *, rng=None, check_finite=True):
        self._flat = FixedRankDeepLinear(m, n, k, depth=1, rng=rng, check_finite=check_finite)
        self._lam = check_real(lam, "lam")
        self._check_finite = bool(check_finite)
        super().__init__(
            f"Rank-{k} {m}x{n} matrices with the two-layer metric of imbalance lam={self._lam:g}",
            self._flat.dim,
            point_layout=3,
        )

    # ------------------------------------------------------------------ properties
    @property
    def m(self) -> int:
        """Number of rows."""
        return self._flat.m

    @property
    def n(self) -> int:
        """Number of columns."""
        return self._flat.n

    @property
    def k(self) -> int:
        """Rank (the hidden width of the two-layer network)."""
        return self._flat.k

    @property
    def lam(self) -> float:
        r"""The imbalance :math:`\lambda` (``Q = lam * I``)."""
        return self._lam

    @property
    def second_order_retraction(self) -> bool:
        """``False``: the retraction is second order for the embedded metric only."""
        return False

    @property
    def typical_dist(self) -> float:
        """Scale used by ``TrustRegions`` (the dimension, as in pymanopt)."""
        return float(self.dim)

    def __repr__(self) -> str:
        return f"FixedRankImbalancedTwoLayer(m={self.m}, n={self.n}, k={self.k}, lam={self._lam:g})"

    # ------------------------------------------------------------------ the metric
    def weights(self, point) -> tuple[np.ndarray, np.ndarray]:
        r"""The weights ``(mu, nu)`` of :math:`\mathcal A^\lambda_W` at ``point``.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.

        Returns
        -------
        mu : ndarray, shape (k,)
            Weights of ``Up`` (:func:`imbalanced_weights`).
        nu : ndarray, shape (k,)
            Weights of ``Vp``.

        Raises
        ------
        ValueError
            If ``point`` is not a valid point of this manifold.
        """
        self._check_point(point)
        return imbalanced_weights(point[1], self._lam)

    def _check_point(self, point):
        # the embedded manifold checks the point (shapes, finiteness, s > 0, orthonormal
        # frames) on its first use and caches the verdict
        self._flat.to_tangent_space(point, self._flat.zero_vector(point))

    def _checked(self, value, *names):
        if self._check_finite and not all(np.all(np.isfinite(a)) for a in value):
            raise ValueError(f"{' or '.join(names)} has non-finite entries (nan or inf)")
        return value

    def metric_operator(self, point, tangent_vector) -> FixedRankTangentVector:
        r"""Apply :math:`\mathcal A^\lambda_W` to a tangent vector.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.
        tangent_vector : FixedRankTangentVector
            A tangent vector ``(Up, M, Vp)`` at ``point``.

        Returns
        -------
        FixedRankTangentVector
            ``(Up diag(mu), (nu_a + mu_b) M_ab, Vp diag(nu))``.
        """
        xi = self._flat.to_tangent_space(point, tangent_vector)
        out = apply_imbalanced_metric(imbalanced_weights(point[1], self._lam), xi)
        return FixedRankTangentVector(*self._checked(out, "tangent_vector"))

    def metric_operator_inverse(self, point, tangent_vector) -> FixedRankTangentVector:
        r"""Apply :math:`(\mathcal A^\lambda_W)^{-1}` to a tangent vector.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.
        tangent_vector : FixedRankTangentVector
            A tangent vector ``(Up, M, Vp)`` at ``point``.

        Returns
        -------
        FixedRankTangentVector
            ``(Up / mu, M_ab / (nu_a + mu_b), Vp / nu)``.
        """
        xi = self._flat.to_tangent_space(point, tangent_vector)
        out = apply_imbalanced_metric_inverse(imbalanced_weights(point[1], self._lam), xi)
        return FixedRankTangentVector(*self._checked(out, "tangent_vector"))

    def inner_product(self, point, tangent_vector_a, tangent_vector_b) -> float:
        r"""The metric :math:`g^\lambda_W(\xi, \eta)`.

        .. math::

            g^\lambda_W(\xi, \eta) = \sum_{a,b} \frac{M^\xi_{ab} M^\eta_{ab}}{\nu_a + \mu_b}
            + \sum_a \frac{(U_p^{\xi\top} U_p^\eta)_{aa}}{\mu_a}
            + \sum_a \frac{(V_p^{\xi\top} V_p^\eta)_{aa}}{\nu_a}.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.
        tangent_vector_a, tangent_vector_b : FixedRankTangentVector
            A tangent vector ``(Up, M, Vp)``.

        Returns
        -------
        float
            The value of :math:`g^\lambda_W(\xi, \eta)`.

        Raises
        ------
        ValueError
            If the point or a vector is invalid or has non-finite entries.
        """
        a = self.metric_operator_inverse(point, tangent_vector_a)
        self._flat.to_tangent_space(point, tangent_vector_b)  # checks shapes and entries
        value = float(sum(np.vdot(x, y) for x, y in zip(a, tangent_vector_b)))
        if self._check_finite and not np.isfinite(value):
            raise ValueError("tangent_vector_b has non-finite entries (nan or inf)")
        return value

    def norm(self, point, tangent_vector) -> float:
        r"""The norm :math:`\sqrt{g^\lambda_W(\xi, \xi)}`.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.
        tangent_vector : FixedRankTangentVector
            A tangent vector ``(Up, M, Vp)`` at ``point``.

        Returns
        -------
        float
            The norm.
        """
        return float(np.sqrt(self.inner_product(point, tangent_vector, tangent_vector)))

    # ------------------------------------------------------------------ gradients
    def riemannian_gradient_from_matrix(self, point, G) -> FixedRankTangentVector:
        r"""Riemannian gradient :math:`\mathcal A^\lambda_W(P_T G)` from the Euclidean gradient.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.
        G : ndarray, sparse matrix or (U, S, V)
            Euclidean gradient of ``f`` at ``W``; never formed densely.

        Returns
        -------
        FixedRankTangentVector
            The vector with :math:`g^\lambda_W(\operatorname{grad} f, \xi) = \langle G,
            \xi\rangle_F` for every tangent ``xi``; minus it is the velocity of the
            product of the layers.
        """
        proj = self._flat.riemannian_gradient_from_matrix(point, G)  # depth 1: P_T G
        return self.metric_operator(point, proj)

    def euclidean_to_riemannian_gradient(self, point, euclidean_gradient):
        r"""Riemannian gradient from the derivatives with respect to ``(u, s, vt)``.

        The embedded gradient :math:`P_T \nabla F` comes from
        :func:`riemlin.geometry.parametrization.representer` (through the embedded
        manifold, with the same accuracy notes as
        :meth:`FixedRankDeepLinear.euclidean_to_riemannian_gradient`), then
        :math:`\mathcal A^\lambda_W` is applied.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.
        euclidean_gradient : tuple of ndarray
            ``(du, ds, dvt)``.

        Returns
        -------
        FixedRankTangentVector
            The Riemannian gradient :math:`\mathcal A^\lambda_W(P_T \nabla F)`.
        """
        proj = self._flat.euclidean_to_riemannian_gradient(point, euclidean_gradient)
        return self.metric_operator(point, proj)

    def euclidean_to_riemannian_hessian(self, point, euclidean_gradient, euclidean_hessian, v):
        """Not implemented: the Levi-Civita connection of :math:`g^\\lambda` is not derived.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.
        euclidean_gradient : tuple of ndarray
            The derivatives ``(du, ds, dvt)`` of the cost.
        euclidean_hessian : tuple of ndarray
            Their derivative along ``embedding(point, v)``.
        v : FixedRankTangentVector
            The tangent vector.

        Raises
        ------
        NotImplementedError
            Always.
        """
        raise NotImplementedError(
            "FixedRankImbalancedTwoLayer has no Riemannian Hessian; use a first-order solver"
        )

    # ------------------------------------------------------------------ delegated
    # Everything below does not depend on the metric: the embedded manifold does it.
    def projection(self, point, vector) -> FixedRankTangentVector:
        """Frobenius projection onto the tangent space.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.
        vector : ndarray, sparse matrix or (U, S, V)
            An ambient ``m x n`` matrix.

        Returns
        -------
        FixedRankTangentVector
            As :meth:`FixedRankDeepLinear.projection`.
        """
        return self._flat.projection(point, vector)

    def to_tangent_space(self, point, vector) -> FixedRankTangentVector:
        """Re-impose ``u^T Up = 0`` and ``vt Vp = 0``.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.
        vector : FixedRankTangentVector
            The vector to project or correct.

        Returns
        -------
        FixedRankTangentVector
            As :meth:`FixedRankDeepLinear.to_tangent_space`.
        """
        return self._flat.to_tangent_space(point, vector)

    def embedding(self, point, tangent_vector):
        """The derivative of the SVD along a tangent vector, ``(du, ds, dvt)``.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.
        tangent_vector : FixedRankTangentVector
            A tangent vector ``(Up, M, Vp)`` at ``point``.

        Returns
        -------
        tuple of ndarray
            As :meth:`FixedRankDeepLinear.embedding`.
        """
        return self._flat.embedding(point, tangent_vector)

    def tangent_to_low_rank(self, point, tangent_vector):
        """The ambient matrix of a tangent vector as a low-rank triple ``(U, S, V)``.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.
        tangent_vector : FixedRankTangentVector
            A tangent vector ``(Up, M, Vp)`` at ``point``.

        Returns
        -------
        tuple of ndarray
            As :meth:`FixedRankDeepLinear.tangent_to_low_rank`.
        """
        return self._flat.tangent_to_low_rank(point, tangent_vector)

    def tangent_to_matrix(self, point, tangent_vector) -> np.ndarray:
        """The dense ambient matrix ``u M vt + Up vt + u Vp^T``.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.
        tangent_vector : FixedRankTangentVector
            A tangent vector ``(Up, M, Vp)`` at ``point``.

        Returns
        -------
        ndarray, shape (m, n)
            The ambient matrix ``u M vt + Up vt + u Vp^T``.
        """
        return self._flat.tangent_to_matrix(point, tangent_vector)

    def zero_vector(self, point) -> FixedRankTangentVector:
        """The zero tangent vector.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.

        Returns
        -------
        FixedRankTangentVector
            The zero tangent vector at ``point``.
        """
        return self._flat.zero_vector(point)

    def retraction(self, point, tangent_vector):
        """The metric-projection retraction (first order for :math:`g^\\lambda`).

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.
        tangent_vector : FixedRankTangentVector
            A tangent vector ``(Up, M, Vp)`` at ``point``.

        Returns
        -------
        FixedRankPoint
            The rank-``k`` truncated SVD of ``W + xi``
            (:meth:`FixedRankDeepLinear.retraction`).
        """
        return self._flat.retraction(point, tangent_vector)

    def transport(self, point_a, point_b, tangent_vector_a) -> FixedRankTangentVector:
        """Vector transport by Frobenius projection onto the tangent space at ``point_b``.

        Parameters
        ----------
        point_a, point_b : FixedRankPoint
            The point the tangent vector is at.
        tangent_vector_a : FixedRankTangentVector
            A tangent vector ``(Up, M, Vp)``.

        Returns
        -------
        FixedRankTangentVector
            The projection of ``tangent_vector_a`` onto the tangent space at ``point_b``.
        """
        return self._flat.transport(point_a, point_b, tangent_vector_a)

    def random_point(self, rng=None, *, spread: float = 10.0):
        """A random point (see :meth:`FixedRankDeepLinear.random_point`).

        Parameters
        ----------
        rng : None, int, SeedSequence or Generator, optional
            Source of randomness (a seed or a ``numpy.random.Generator``).
        spread : float, default 10
            Ratio bound ``s_max / s_min`` of the drawn singular values.

        Returns
        -------
        FixedRankPoint
            A point with Haar-distributed singular vectors.
        """
        return self._flat.random_point(rng, spread=spread)

    def random_tangent_vector(self, point, rng=None) -> FixedRankTangentVector:
        """A random tangent vector of unit :math:`g^\\lambda`-norm.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.
        rng : None, int, SeedSequence or Generator, optional
            Source of randomness (a seed or a ``numpy.random.Generator``).

        Returns
        -------
        FixedRankTangentVector
            A tangent vector at ``point`` of unit :math:`g^\\lambda`-norm.
        """
        xi = self._flat.random_tangent_vector(point, rng)
        return xi / self.norm(point, xi)

    def point_from_matrix(self, W):
        """The point ``(u, s, vt)`` of a rank-``k`` matrix, by a thin SVD.

        Parameters
        ----------
        W : array_like, shape (m, n)
            The end-to-end matrix.

        Returns
        -------
        FixedRankPoint
            The point ``(u, s, vt)`` of rank ``k``.
        """
        return self._flat.point_from_matrix(W)

    def point_to_matrix(self, point) -> np.ndarray:
        """The dense ``m x n`` matrix ``u diag(s) vt``.

        Parameters
        ----------
        point : FixedRankPoint
            The point ``(u, s, vt)``.

        Returns
        -------
        ndarray, shape (m, n)
            The matrix ``u diag(s) vt``.
        """
        return self._flat.point_to_matrix(point)
