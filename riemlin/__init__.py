"""riemlin: Riemannian optimization on fixed-rank matrices with the deep-linear metric.

A deep linear network ``W = W_N ... W_1`` trained by gradient flow from balanced layers
moves its end-to-end matrix along the Riemannian gradient flow of the loss on the
manifold ``M_k`` of rank-``k`` matrices, under the metric
``g_W(xi, eta) = <A_W^{-1} xi, eta>`` (Bah, Rauhut, Terstiege, Westdickenberg,
arXiv:1910.05505). riemlin implements that manifold for pymanopt, the maps between
layers and points of ``M_k``, losses on ``W`` and the Riemannian gradient flow and
descent.
"""

from riemlin import factors, hessian, parametrization, theory  # noqa: F401
from riemlin.compare import Comparison, DescentComparison, compare_descent, compare_flows
from riemlin.completion import CompletionLineSearcher, CompletionLoss, completion_problem
from riemlin.diagnostics import check_gradient, check_hessian, check_manifold
from riemlin.factor_flows import factor_gradient_descent, factor_gradient_flow
from riemlin.factors import (
    balanced_factors,
    balanced_initialization,
    factor_gradient,
    horizontal_lift,
    horizontal_projection,
    imbalance,
    imbalance_norm,
    is_balanced,
    product,
    product_adjoint,
    product_differential,
    to_point,
    widths,
)
from riemlin.flows import FlowResult, riemannian_gradient_descent, riemannian_gradient_flow
from riemlin.losses import Loss, MatrixLoss, RegressionLoss, low_rank_target_loss
from riemlin.manifold import FixedRankDeepLinear, FixedRankPoint, FixedRankTangentVector
from riemlin.metric import (
    MetricWeights,
    apply_metric,
    apply_metric_inverse,
    metric_inner,
    metric_weights,
)
from riemlin.problem import matrix_problem, record_gradient_norms
from riemlin.theory import (
    aligned_singular_values,
    arora_counterexample,
    arora_iterations,
    arora_theorem1,
    balancedness,
    classify_limit,
    critical_point_index,
    critical_points,
    deficiency_margin,
    descent_limit,
    margin_probability,
    one_neuron_stages,
    one_neuron_trajectory,
    predict_limit,
)

__version__ = "0.1.0"

__all__ = [
    "FixedRankDeepLinear",
    "matrix_problem",
    "record_gradient_norms",
    "FlowResult",
    "check_gradient",
    "check_hessian",
    "check_manifold",
    "Comparison",
    "DescentComparison",
    "compare_descent",
    "compare_flows",
    "factor_gradient_descent",
    "factor_gradient_flow",
    "Loss",
    "CompletionLineSearcher",
    "CompletionLoss",
    "completion_problem",
    "MatrixLoss",
    "RegressionLoss",
    "low_rank_target_loss",
    "riemannian_gradient_descent",
    "riemannian_gradient_flow",
    "FixedRankPoint",
    "FixedRankTangentVector",
    "MetricWeights",
    "apply_metric",
    "apply_metric_inverse",
    "metric_inner",
    "metric_weights",
    "factors",
    "parametrization",
    "balanced_factors",
    "balanced_initialization",
    "factor_gradient",
    "horizontal_lift",
    "horizontal_projection",
    "imbalance",
    "imbalance_norm",
    "is_balanced",
    "product",
    "product_adjoint",
    "product_differential",
    "to_point",
    "widths",
    "theory",
    "aligned_singular_values",
    "arora_counterexample",
    "arora_iterations",
    "arora_theorem1",
    "balancedness",
    "classify_limit",
    "critical_point_index",
    "critical_points",
    "deficiency_margin",
    "descent_limit",
    "margin_probability",
    "one_neuron_stages",
    "one_neuron_trajectory",
    "predict_limit",
    "__version__",
]
