r"""Flows and descent on both sides of the equivalence theorem, and their comparison.

The Riemannian gradient flow and descent on :math:`(\mathcal M_k, g)`
(:mod:`~riemlin.dynamics.riemannian`), the gradient flow and descent of the layers
(:mod:`~riemlin.dynamics.layers`), the equivalence theorem checked by running both
(:mod:`~riemlin.dynamics.equivalence`), one result type and one set of status codes
(:mod:`~riemlin.dynamics.result`), and the stepping loop that turns every numerical
breakdown into a status (:mod:`~riemlin.dynamics.stepping`).
"""

from riemlin.dynamics.equivalence import (
    Comparison,
    DescentComparison,
    compare_descent,
    compare_flows,
)
from riemlin.dynamics.layers import factor_gradient_descent, factor_gradient_flow
from riemlin.dynamics.result import FlowResult, Status
from riemlin.dynamics.riemannian import (
    riemannian_gradient,
    riemannian_gradient_descent,
    riemannian_gradient_flow,
)

__all__ = [
    "FlowResult",
    "Status",
    "riemannian_gradient",
    "riemannian_gradient_flow",
    "riemannian_gradient_descent",
    "factor_gradient_flow",
    "factor_gradient_descent",
    "Comparison",
    "DescentComparison",
    "compare_flows",
    "compare_descent",
]
