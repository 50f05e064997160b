"""Checks that work for any pymanopt manifold: derivatives and the manifold contract.

pymanopt's ``check_gradient`` and ``check_hessian`` crash with NumPy >= 2.4 and always
draw a figure; these return result objects and draw only when asked.
"""

from riemlin.diagnostics.contract import ManifoldCheck, ManifoldReport, check_manifold
from riemlin.diagnostics.derivatives import (
    DerivativeCheck,
    check_gradient,
    check_hessian,
    fit_slope,
    loglog_slope,
)

__all__ = [
    "DerivativeCheck",
    "check_gradient",
    "check_hessian",
    "fit_slope",
    "loglog_slope",
    "ManifoldCheck",
    "ManifoldReport",
    "check_manifold",
]
