r"""Layers and the end-to-end matrix: the product map, balanced layers, the submersion.

Built on :mod:`riemlin.geometry`: the product map :math:`\pi(W_1, \dots, W_N) = W_N\cdots
W_1`, its differential and adjoint (:mod:`~riemlin.networks.product_map`, kernels in
:mod:`~riemlin.networks.chain`), balancedness and balanced factorizations
(:mod:`~riemlin.networks.balance`), and :math:`\pi` as a Riemannian submersion from the
balanced layers onto :math:`(\mathcal M_k, g)` with its horizontal lifts
(:mod:`~riemlin.networks.submersion`).
"""

from riemlin.networks.balance import (
    balanced_factors,
    balanced_initialization,
    imbalance,
    imbalance_norm,
    is_balanced,
)
from riemlin.networks.product_map import (
    factor_gradient,
    product,
    product_adjoint,
    product_differential,
    widths,
)
from riemlin.networks.submersion import horizontal_lift, horizontal_projection, to_point

__all__ = [
    "widths",
    "product",
    "product_differential",
    "product_adjoint",
    "factor_gradient",
    "imbalance",
    "imbalance_norm",
    "is_balanced",
    "balanced_factors",
    "balanced_initialization",
    "to_point",
    "horizontal_lift",
    "horizontal_projection",
]
