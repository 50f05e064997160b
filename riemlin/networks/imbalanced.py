r"""Imbalanced layers over a given end-to-end matrix.

Two constructions, both leaving the product :math:`W = W_N \cdots W_1` unchanged:

* :func:`imbalanced_factors`: two layers of hidden width ``k = rank W`` with the imbalance
  :math:`W_2^\top W_2 - W_1 W_1^\top = \lambda I_k` exactly. With the thin SVD
  :math:`W = U \operatorname{diag}(s) V^\top` and any orthogonal ``R``,

  .. math::

      W_1 = R \operatorname{diag}(\sqrt{\mu}) V^\top, \qquad
      W_2 = U \operatorname{diag}(\sqrt{\nu}) R^\top, \qquad
      \mu, \nu = \tfrac12\bigl(\mp\lambda + \sqrt{\lambda^2 + 4 s^2}\bigr),

  since :math:`W_2 W_1 = U \operatorname{diag}(\sqrt{\mu\nu}) V^\top = W` and
  :math:`W_2^\top W_2 - W_1 W_1^\top = R \operatorname{diag}(\nu - \mu) R^\top = \lambda I`.
  Their product follows the Riemannian gradient flow of
  :class:`riemlin.geometry.imbalanced.FixedRankImbalancedTwoLayer`.
* :func:`fibre_move`: any layers moved along the fibre of the product map,
  :math:`W_{j+1} \to W_{j+1} E_j^{-1}`, :math:`W_j \to E_j W_j` with
  :math:`E_j = \exp(t S_j)`, ``S_j`` random symmetric of unit Frobenius norm: a general
  (not scalar) imbalance whose size grows with ``t``.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm

from riemlin._validation import as_generator, check_factors, check_nonnegative, check_real
from riemlin.geometry.imbalanced import imbalanced_weights
from riemlin.geometry.manifold import random_frame
from riemlin.networks.balance import svd_of

__all__ = ["imbalanced_factors", "fibre_move"]


def imbalanced_factors(W, lam: float, rng=None) -> list[np.ndarray]:
    r"""Two layers of hidden width ``rank W`` over ``W`` with imbalance :math:`\lambda I`.

    Parameters
    ----------
    W : array_like, shape (m, n)
        The end-to-end matrix; its numerical rank ``k`` is the hidden width.
    lam : float
        The imbalance: :math:`W_2^\top W_2 - W_1 W_1^\top = \lambda I_k`.
    rng : None, int, SeedSequence or Generator, optional
        Draws the orthogonal ``R`` (Haar); the layers over ``W`` with this imbalance are
        exactly the pairs for the ``k x k`` orthogonal matrices ``R``.

    Returns
    -------
    list of ndarray
        ``[W_1, W_2]`` of shapes ``(k, n)`` and ``(m, k)``.

    Raises
    ------
    ValueError
        If ``W`` is not a finite real matrix of rank at least one, or ``lam`` is not finite.
    """
    lam = check_real(lam, "lam")
    u, s, vt = svd_of(W, "W")
    if s.size == 0:
        raise ValueError("W must have rank at least one; got a matrix of numerical rank 0")
    gen = as_generator(rng)
    mu, nu = imbalanced_weights(s, lam)
    R = random_frame(gen, s.size, s.size)
    return [(R * np.sqrt(mu)) @ vt, (u * np.sqrt(nu)) @ R.T]


def fibre_move(factors, strength: float, rng=None) -> list[np.ndarray]:
    r"""Move layers along the fibre of the product map by :math:`E_j = \exp(t S_j)`.

    For each hidden layer ``j = 1..N-1``: :math:`W_j \to E_j W_j` and
    :math:`W_{j+1} \to W_{j+1} E_j^{-1}`, with ``S_j`` a random symmetric ``d_j x d_j``
    matrix of unit Frobenius norm and ``t = strength``. The product is unchanged (up to
    rounding); from balanced layers the imbalance grows like ``2 t ||W_j||_2^2`` for
    small ``t``.

    Parameters
    ----------
    factors : list of ndarray
        Layers ``[W_1, ..., W_N]``.
    strength : float
        ``t >= 0``.
    rng : None, int, SeedSequence or Generator, optional
        Source of randomness (a seed or a ``numpy.random.Generator``).

    Returns
    -------
    list of ndarray
        The moved layers.

    Raises
    ------
    ValueError, TypeError
        If the layers do not chain or ``strength`` is negative or not finite.
    """
    F = [W.copy() for W in check_factors(factors)]
    t = check_nonnegative(strength, "strength")
    gen = as_generator(rng)
    for j in range(len(F) - 1):
        d = F[j].shape[0]
        S = gen.standard_normal((d, d))
        S = S + S.T
        S /= np.linalg.norm(S)
        F[j] = expm(t * S) @ F[j]
        F[j + 1] = F[j + 1] @ expm(-t * S)
    return F
