r"""The geometry of :math:`\mathcal M_k` under the deep-linear metric.

Bottom layer of riemlin: the metric in SVD coordinates (:mod:`~riemlin.geometry.metric`),
its Hessian and Levi-Civita connection (:mod:`~riemlin.geometry.hessian`), derivatives of
costs written on the SVD factors (:mod:`~riemlin.geometry.parametrization`), products with
dense, sparse and low-rank ambient matrices (:mod:`~riemlin.geometry.ambient`), the
pymanopt manifold (:mod:`~riemlin.geometry.manifold`), its geodesics, exponential and
logarithm, parallel transport and curvature (:mod:`~riemlin.geometry.geodesics`) and
pymanopt problems from costs on the matrix (:mod:`~riemlin.geometry.problem`). Nothing
here knows about layers.
"""

from riemlin.geometry.manifold import (
    FixedRankDeepLinear,
    FixedRankPoint,
    FixedRankTangentVector,
    random_frame,
)
from riemlin.geometry.metric import (
    MetricWeights,
    apply_metric,
    apply_metric_inverse,
    metric_inner,
    metric_weights,
)
from riemlin.geometry.problem import matrix_problem, record_gradient_norms

__all__ = [
    "FixedRankDeepLinear",
    "FixedRankPoint",
    "FixedRankTangentVector",
    "random_frame",
    "MetricWeights",
    "apply_metric",
    "apply_metric_inverse",
    "metric_inner",
    "metric_weights",
    "matrix_problem",
    "record_gradient_norms",
]
