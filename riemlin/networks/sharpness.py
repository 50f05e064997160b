r"""Second-order measurements on the layers: exact Hessian-vector products and the sharpness.

The layer loss :math:`L^N(W_1, \dots, W_N) = L(\pi(W))`, :math:`\pi(W) = W_N \cdots W_1`,
has the second derivative along layer perturbations :math:`H = (H_1, \dots, H_N)`

.. math::

    \nabla^2 L^N[H] = D\pi^*\bigl(\nabla^2 L(W)[D\pi[H]]\bigr)
        + \bigl(D_H D\pi^*\bigr)(\nabla L(W)),

with :math:`P_j = W_j \cdots W_1`, :math:`S_j = W_N \cdots W_{j+1}` (``P_0 = I``,
``S_N = I``), :math:`D\pi^*(G)_j = S_j^\top G P_{j-1}^\top`, and the derivatives of the
partial products along ``H``

.. math::

    \dot P_j = W_j \dot P_{j-1} + H_j P_{j-1}, \quad \dot P_0 = 0, \qquad
    \dot S_j = \dot S_{j+1} W_{j+1} + S_{j+1} H_{j+1}, \quad \dot S_N = 0,

so that :math:`D\pi[H] = \dot P_N` and

.. math::

    (\nabla^2 L^N[H])_j = S_j^\top\, \nabla^2 L[\dot P_N]\, P_{j-1}^\top
        + \dot S_j^\top G P_{j-1}^\top + S_j^\top G \dot P_{j-1}^\top, \qquad
    G = \nabla L(W).

One product costs :math:`O(N)` matrix products of the layers' sizes and never forms the
Hessian, so :func:`layer_sharpness` (Lanczos, ``scipy.sparse.linalg.eigsh``) works for
widths of a few hundred. The *sharpness* is the largest eigenvalue of
:math:`\nabla^2 L^N`; gradient descent with step :math:`\eta` is linearly unstable at a
minimizer whose sharpness exceeds :math:`2/\eta` (the "edge of stability" threshold in
Beneventano and Woodworth, arXiv:2501.09137). The derivation is in the user guide,
chapter "Claims beyond the theorem".
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

from riemlin._validation import as_generator, check_factors
from riemlin.losses.regression import RegressionLoss
from riemlin.networks.chain import chain_product

__all__ = [
    "loss_hessian_vector",
    "layer_hessian_vector",
    "layer_hessian_operator",
    "top_eigenvalue",
    "layer_sharpness",
    "layer_norms",
]

#: Operators of at most this dimension are formed densely by :func:`top_eigenvalue`
#: (ARPACK needs the dimension to exceed the number of wanted eigenvalues by more than
#: one, and a dense ``eigh`` is exact and cheap there).
DENSE_LIMIT = 16


def loss_hessian_vector(loss, W, Z) -> np.ndarray:
    r"""The Hessian-vector product :math:`\nabla^2 L(W)[Z]` of a loss on the matrix.

    :class:`~riemlin.losses.RegressionLoss`: :math:`Z X X^\top` (formed as
    ``(Z X) X^T``). Any other loss must provide ``hessian_vector(W, Z)``.

    Parameters
    ----------
    loss : RegressionLoss or object with ``hessian_vector``
        The loss (exact Hessian-vector products: see :func:`loss_hessian_vector`).
    W : ndarray, shape (m, n)
        The end-to-end matrix.
    Z : ndarray, shape (m, n)
        The direction, of the shape of ``W``.

    Returns
    -------
    ndarray, shape (m, n)
        The product :math:`\nabla^2 L(W)[Z]`.

    Raises
    ------
    TypeError
        If the loss has no exact Hessian-vector product.
    """
    if isinstance(loss, RegressionLoss):
        return (Z @ loss.X) @ loss.X.T
    hv = getattr(loss, "hessian_vector", None)
    if not callable(hv):
        raise TypeError(
            f"loss must be a RegressionLoss or have a method hessian_vector(W, Z); got "
            f"{type(loss).__name__}"
        )
    return np.asarray(hv(W, Z), dtype=float)


def _mul(A, B):
    # None stands for an identity of the right size
    if A is None:
        return B
    if B is None:
        return A
    return A @ B


def _partials(F):
    """Prefixes ``P_0..P_N`` and suffixes ``S_0..S_N`` with ``None`` for identities."""
    N = len(F)
    P = [None] * (N + 1)
    for j in range(1, N + 1):
        P[j] = _mul(F[j - 1], P[j - 1])
    S = [None] * (N + 1)
    for j in range(N - 1, -1, -1):
        S[j] = _mul(S[j + 1], F[j])
    return P, S


def _hvp(F, P, S, G, loss, W, H):
    N = len(F)
    dP = [None] * (N + 1)  # None: zero
    for j in range(1, N + 1):
        term = _mul(H[j - 1], P[j - 1])
        dP[j] = term if dP[j - 1] is None else F[j - 1] @ dP[j - 1] + term
    dS = [None] * (N + 1)
    for j in range(N - 1, -1, -1):
        term = _mul(S[j + 1], H[j])
        dS[j] = term if dS[j + 1] is None else dS[j + 1] @ F[j] + term
    HZ = loss_hessian_vector(loss, W, dP[N])
    out = []
    for j in range(1, N + 1):
        Pt = None if P[j - 1] is None else P[j - 1].T
        St = None if S[j] is None else S[j].T
        block = _mul(_mul(St, HZ), Pt)
        if dS[j] is not None:
            block = block + _mul(dS[j].T @ G, Pt)
        if dP[j - 1] is not None:
            block = block + _mul(St, G) @ dP[j - 1].T
        out.append(block)
    return out


def layer_hessian_vector(factors, loss, H) -> list[np.ndarray]:
    r"""The exact Hessian-vector product :math:`\nabla^2 L^N(W_1, \dots, W_N)[H]`.

    See the module docstring for the formula.

    Parameters
    ----------
    factors : list of ndarray
        Layers ``[W_1, ..., W_N]``.
    loss : RegressionLoss or object with ``gradient`` and ``hessian_vector``
        The loss (exact Hessian-vector products: see :func:`loss_hessian_vector`).
    H : list of ndarray
        Perturbations of the layers' shapes.

    Returns
    -------
    list of ndarray
        The product, one block per layer.

    Raises
    ------
    ValueError, TypeError
        If the layers do not chain, ``H`` does not match them, or the loss has no
        Hessian-vector product.
    """
    F = check_factors(factors)
    if len(H) != len(F) or any(np.shape(h) != W.shape for h, W in zip(H, F)):
        raise ValueError(
            f"H must hold one array per layer with the layers' shapes "
            f"{[W.shape for W in F]}; got {[np.shape(h) for h in H]}"
        )
    W = chain_product(F)
    P, S = _partials(F)
    G = np.asarray(loss.gradient(W), dtype=float)
    return _hvp(F, P, S, G, loss, W, [np.asarray(h, dtype=float) for h in H])


def layer_hessian_operator(factors, loss) -> LinearOperator:
    """The layer-loss Hessian as a symmetric ``scipy`` ``LinearOperator`` on stacked layers.

    Vectors are the layers raveled and concatenated in the order ``W_1, ..., W_N``.

    Parameters
    ----------
    factors : list of ndarray
        Layers ``[W_1, ..., W_N]``, ``W_j`` of shape ``d_j x d_{j-1}``.
    loss : RegressionLoss or object with ``gradient`` and ``hessian_vector``
        The loss (exact Hessian-vector products: see :func:`loss_hessian_vector`).

    Returns
    -------
    scipy.sparse.linalg.LinearOperator
        The Hessian of the layer loss on the stacked layers.

    Raises
    ------
    ValueError, TypeError
        If the layers are not finite real 2-D arrays whose shapes chain.
    """
    F = check_factors(factors)
    W = chain_product(F)
    P, S = _partials(F)
    G = np.asarray(loss.gradient(W), dtype=float)
    shapes = [A.shape for A in F]
    offsets = np.cumsum([0] + [A.size for A in F])

    def matvec(x):
        x = np.ravel(x)
        H = [x[offsets[j] : offsets[j + 1]].reshape(s) for j, s in enumerate(shapes)]
        return np.concatenate([b.ravel() for b in _hvp(F, P, S, G, loss, W, H)])

    n = int(offsets[-1])
    return LinearOperator((n, n), matvec=matvec, dtype=float)


def top_eigenvalue(operator: LinearOperator, rng=None, *, tol: float = 1e-10) -> float:
    """The largest eigenvalue of a symmetric operator (Lanczos; dense at small sizes).

    Operators of dimension at most :data:`DENSE_LIMIT` are applied to the identity and
    solved by ``numpy.linalg.eigvalsh``; larger ones go to ARPACK's implicitly restarted
    Lanczos (``scipy.sparse.linalg.eigsh``, ``which="LA"``) from a start vector drawn from
    ``rng``, so seeded calls are reproducible.

    Parameters
    ----------
    operator : scipy.sparse.linalg.LinearOperator
        Symmetric, square.
    rng : None, int, SeedSequence or Generator, optional
        Source of randomness (a seed or a ``numpy.random.Generator``).
    tol : float, default 1e-10
        Relative accuracy asked of ARPACK.

    Returns
    -------
    float
        The largest eigenvalue (``nan`` for an empty operator).

    Raises
    ------
    TypeError
        If ``rng`` is not a seed or a generator.
    """
    n = operator.shape[0]
    if n <= DENSE_LIMIT:
        A = np.column_stack([operator.matvec(e) for e in np.eye(n)]) if n else np.zeros((0, 0))
        return float(np.linalg.eigvalsh(0.5 * (A + A.T))[-1]) if n else float("nan")
    v0 = as_generator(rng).standard_normal(n)
    return float(eigsh(operator, k=1, which="LA", v0=v0, tol=tol, return_eigenvectors=False)[0])


def layer_sharpness(factors, loss, rng=None) -> float:
    r"""The sharpness :math:`\lambda_{\max}(\nabla^2 L^N)` of the layer loss.

    Lanczos (:func:`top_eigenvalue`) on the exact products of
    :func:`layer_hessian_vector`; no Hessian is formed.

    Parameters
    ----------
    factors : list of ndarray
        Layers ``[W_1, ..., W_N]``.
    loss : RegressionLoss or object with ``gradient`` and ``hessian_vector``
        The loss (exact Hessian-vector products: see :func:`loss_hessian_vector`).
    rng : None, int, SeedSequence or Generator, optional
        Start vector of Lanczos.

    Returns
    -------
    float
        The largest eigenvalue of the Hessian of the layer loss.

    References
    ----------
    Beneventano and Woodworth, arXiv:2501.09137 (the sharpness of depth-2 minimizers
    and the step size ``2 / sharpness``).

    Examples
    --------
    >>> import numpy as np
    >>> from riemlin import RegressionLoss
    >>> loss = RegressionLoss(np.ones((1, 1)), np.full((1, 1), 2.0))
    >>> a, b = np.array([[1.0, 1.0]]), np.array([[1.0], [1.0]])  # a^T b = 2: a minimum
    >>> round(layer_sharpness([b, a], loss), 12)  # ||a||^2 + ||b||^2
    4.0
    """
    return top_eigenvalue(layer_hessian_operator(factors, loss), rng)


def layer_norms(factors) -> np.ndarray:
    """The Frobenius norms :math:`\\|W_j\\|_F` of the layers.

    Parameters
    ----------
    factors : list of ndarray
        Layers ``[W_1, ..., W_N]``, ``W_j`` of shape ``d_j x d_{j-1}``.

    Returns
    -------
    ndarray, shape (N,)
        ``sqrt(sum of squares)`` per layer; ``np.sum(norms**2)`` is the squared norm of
        the parameters.

    Raises
    ------
    ValueError, TypeError
        If the layers are not finite real 2-D arrays whose shapes chain.
    """
    return np.array([np.linalg.norm(W) for W in check_factors(factors)])
