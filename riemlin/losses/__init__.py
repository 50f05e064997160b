r"""Losses on the end-to-end matrix: the protocol the flows accept, regression, completion.

:mod:`~riemlin.losses.base` holds the protocol, :mod:`~riemlin.losses.regression` the
regression and matrix losses, :mod:`~riemlin.losses.completion` matrix completion at
scale (sparse gradients, an exact line search for pymanopt solvers).
"""

from riemlin.losses.base import Loss, gradient_products, is_point, point_matrix
from riemlin.losses.completion import (
    CompletionLineSearcher,
    CompletionLoss,
    random_completion,
    relative_error,
)
from riemlin.losses.regression import (
    MatrixLoss,
    RegressionLoss,
    low_rank_target_loss,
    random_regression,
)

__all__ = [
    "Loss",
    "gradient_products",
    "is_point",
    "point_matrix",
    "RegressionLoss",
    "MatrixLoss",
    "low_rank_target_loss",
    "random_regression",
    "CompletionLoss",
    "CompletionLineSearcher",
    "random_completion",
    "relative_error",
]
