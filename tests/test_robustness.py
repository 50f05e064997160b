"""Hostile input at every public entry point that takes arrays (property-based).

Each entry point is called with valid arguments in which one argument is replaced by a
hostile variant: another dtype (float32, int, bool, complex, object), another layout
(Fortran order, a non-contiguous view), a nested list (regular or ragged), ``nan`` or
``inf`` entries, extreme scales (``1e-300`` to ``1e300``, zero), another shape (empty,
one axis more or less, off by one), ``None`` or a string; points get frames that are not
orthonormal. Every call must end in a result or in ``ValueError``/``TypeError`` whose
message names the argument; anything else (``AttributeError``, ``IndexError``,
``LinAlgError``, ``ZeroDivisionError``, ``OverflowError``, a private exception, a
complex number dropped to its real part, a call running past 30 s) fails. A change of
layout alone must not turn a result into an error.

The module prints how many inputs were tried and what they ended in.

Not covered here: the metric kernels (``metric_weights``, ``apply_metric``, ...), which
are plain numpy without checks by design (autograd traces them), the protocol methods
``value``/``gradient`` of the losses (inner code called by the flows at every step), and
``euclidean_to_riemannian_gradient``/``_hessian``.
"""

from __future__ import annotations

import collections
import math
import os
import signal
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import riemlin
from riemlin import (
    CompletionLoss,
    FixedRankDeepLinear,
    MatrixLoss,
    RegressionLoss,
    balanced_factors,
    theory,
)

settings.register_profile(
    "robustness",
    # 40 per entry point keeps the module near 15 s; RIEMLIN_ROBUSTNESS_EXAMPLES=1000 digs
    max_examples=int(os.environ.get("RIEMLIN_ROBUSTNESS_EXAMPLES", "40")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: What the calls ended in, over the whole module (printed at the end).
OUTCOMES: collections.Counter = collections.Counter()
#: Seconds after which a call counts as a hang.
HANG_SECONDS = 30

M, N, K, DEPTH = 4, 3, 2, 3


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"still running after {HANG_SECONDS} s")


def outcome(call):
    """``("result", value)``, ``("ValueError", message)``, ``("TypeError", message)`` or
    ``("other", description)``."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_SECONDS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow in a huge result
            warnings.simplefilter("error", np.exceptions.ComplexWarning)  # never drop imag
            value = call()
        return "result", value
    except (ValueError, TypeError) as exc:
        if type(exc).__name__ in ("ValueError", "TypeError") or type(exc).__module__.startswith(
            "riemlin"
        ):
            kind = "TypeError" if isinstance(exc, TypeError) else "ValueError"
            return kind, str(exc)
        return "other", f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - anything else is what the suite looks for
        return "other", f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------------- valid arguments
def _gen(seed=0):
    return np.random.default_rng(seed)


def _matrix(m=M, n=N, rank=K, seed=0):
    g = _gen(seed)
    return g.standard_normal((m, rank)) @ g.standard_normal((rank, n))


def _manifold():
    return FixedRankDeepLinear(M, N, K, DEPTH, rng=0)


def _point(seed=0):
    return _manifold().random_point(rng=seed)


def _tangent(point, seed=1):
    return _manifold().random_tangent_vector(point, rng=seed)


def _layers():
    return balanced_factors(_matrix(), (N, 3, 3, M), rng=0)


def _loss():
    g = _gen(5)
    return RegressionLoss(g.standard_normal((N, 8)), g.standard_normal((M, 8)))


def _whitened_loss():
    # X = I, target diag(3, 2, 1) padded to M x N
    return RegressionLoss(np.eye(N), np.vstack([np.diag([3.0, 2.0, 1.0]), np.zeros((1, N))]))


def _completion():
    return CompletionLoss([0, 1, 2, 3, 0], [0, 1, 2, 0, 2], [1.0, 2.0, 3.0, 4.0, 5.0], (M, N))


def _problem():
    manifold = _manifold()
    T = _matrix(seed=3)
    return riemlin.matrix_problem(
        manifold, lambda W: 0.5 * float(np.sum((W - T) ** 2)), lambda W: W - T, lambda W, Xi: Xi
    )


def _run():
    return riemlin.riemannian_gradient_descent(_matrix(), _loss(), 2, 0.01, 2)


def _rank_one_layers():
    return balanced_factors(np.outer([1.0, 0.5, 0.2, 0.1], [0.3, 0.2, 0.1]) * 0.1, (N, 1, M), rng=0)


# ---------------------------------------------------------------------- entry points
class Entry:
    """An entry point: valid keyword arguments, the call, and the argument kinds."""

    def __init__(self, name, make, call, kinds):
        self.name, self.make, self.call, self.kinds = name, make, call, kinds


def _man(method):
    return lambda kw: getattr(_manifold(), method)(**kw)


def _p():
    return _point(0)


ENTRIES = [
    # the manifold
    Entry(
        "metric_operator",
        lambda: dict(point=_p(), tangent_vector=_tangent(_p())),
        _man("metric_operator"),
        dict(point="point", tangent_vector="tangent"),
    ),
    Entry(
        "inner_product",
        lambda: dict(
            point=_p(), tangent_vector_a=_tangent(_p()), tangent_vector_b=_tangent(_p(), 2)
        ),
        _man("inner_product"),
        dict(point="point", tangent_vector_a="tangent", tangent_vector_b="tangent"),
    ),
    Entry(
        "norm",
        lambda: dict(point=_p(), tangent_vector=_tangent(_p())),
        _man("norm"),
        dict(point="point", tangent_vector="tangent"),
    ),
    Entry(
        "projection",
        lambda: dict(point=_p(), vector=_matrix(seed=2, rank=3)),
        _man("projection"),
        dict(point="point", vector="array"),
    ),
    Entry(
        "to_tangent_space",
        lambda: dict(point=_p(), vector=_tangent(_p())),
        _man("to_tangent_space"),
        dict(point="point", vector="tangent"),
    ),
    Entry(
        "tangent_to_matrix",
        lambda: dict(point=_p(), tangent_vector=_tangent(_p())),
        _man("tangent_to_matrix"),
        dict(point="point", tangent_vector="tangent"),
    ),
    Entry(
        "riemannian_gradient_from_matrix",
        lambda: dict(point=_p(), G=_matrix(seed=4)),
        _man("riemannian_gradient_from_matrix"),
        dict(point="point", G="array"),
    ),
    Entry(
        "riemannian_hessian_from_matrix",
        lambda: dict(point=_p(), G=_matrix(seed=4), H_xi=_matrix(seed=5), xi=_tangent(_p())),
        _man("riemannian_hessian_from_matrix"),
        dict(point="point", G="array", H_xi="array", xi="tangent"),
    ),
    Entry(
        "connection_difference",
        lambda: dict(point=_p(), tangent_vector_a=_tangent(_p())),
        _man("connection_difference"),
        dict(point="point", tangent_vector_a="tangent"),
    ),
    Entry(
        "retraction",
        lambda: dict(point=_p(), tangent_vector=_tangent(_p())),
        _man("retraction"),
        dict(point="point", tangent_vector="tangent"),
    ),
    Entry(
        "transport",
        lambda: dict(point_a=_p(), point_b=_point(7), tangent_vector_a=_tangent(_p())),
        _man("transport"),
        dict(point_a="point", point_b="point", tangent_vector_a="tangent"),
    ),
    Entry(
        "random_tangent_vector",
        lambda: dict(point=_p()),
        _man("random_tangent_vector"),
        dict(point="point"),
    ),
    Entry(
        "point_from_matrix", lambda: dict(W=_matrix()), _man("point_from_matrix"), dict(W="array")
    ),
    Entry(
        "point_to_matrix", lambda: dict(point=_p()), _man("point_to_matrix"), dict(point="point")
    ),
    # layers
    Entry(
        "product",
        lambda: dict(factors=_layers()),
        lambda kw: riemlin.product(**kw),
        dict(factors="factors"),
    ),
    Entry(
        "widths",
        lambda: dict(factors=_layers()),
        lambda kw: riemlin.widths(**kw),
        dict(factors="factors"),
    ),
    Entry(
        "imbalance_norm",
        lambda: dict(factors=_layers()),
        lambda kw: riemlin.imbalance_norm(**kw),
        dict(factors="factors"),
    ),
    Entry(
        "is_balanced",
        lambda: dict(factors=_layers(), rtol=1e-10),
        lambda kw: riemlin.is_balanced(**kw),
        dict(factors="factors", rtol="scalar"),
    ),
    Entry(
        "product_differential",
        lambda: dict(factors=_layers(), H=_layers()),
        lambda kw: riemlin.product_differential(**kw),
        dict(factors="factors", H="factors"),
    ),
    Entry(
        "product_adjoint",
        lambda: dict(factors=_layers(), Z=_matrix(seed=2)),
        lambda kw: riemlin.product_adjoint(**kw),
        dict(factors="factors", Z="array"),
    ),
    Entry(
        "factor_gradient",
        lambda: dict(factors=_layers(), G=_matrix(seed=2)),
        lambda kw: riemlin.factor_gradient(**kw),
        dict(factors="factors", G="array"),
    ),
    Entry(
        "balanced_factors",
        lambda: dict(W=_matrix(), widths=(N, 3, M), rng=0),
        lambda kw: riemlin.balanced_factors(**kw),
        dict(W="array"),
    ),
    Entry(
        "balanced_factors(point)",
        lambda: dict(W=_p(), widths=(N, 3, M), rng=0),
        lambda kw: riemlin.balanced_factors(**kw),
        dict(W="point"),
    ),
    Entry(
        "balanced_initialization",
        lambda: dict(widths=(N, 3, M), rng=0, scale=1.0),
        lambda kw: riemlin.balanced_initialization(**kw),
        dict(scale="scalar"),
    ),
    Entry(
        "to_point",
        lambda: dict(factors=_layers(), k=K),
        lambda kw: riemlin.to_point(**kw),
        dict(factors="factors"),
    ),
    Entry(
        "horizontal_lift",
        lambda: (
            lambda F: dict(
                factors=F, point=riemlin.to_point(F, K), xi=_tangent(riemlin.to_point(F, K))
            )
        )(_layers()),
        lambda kw: riemlin.horizontal_lift(**kw),
        dict(factors="factors", point="point", xi="tangent"),
    ),
    Entry(
        "horizontal_projection",
        lambda: dict(factors=_layers(), H=_layers()),
        lambda kw: riemlin.horizontal_projection(**kw),
        dict(factors="factors", H="factors"),
    ),
    # losses
    Entry(
        "RegressionLoss",
        lambda: dict(X=_gen(1).standard_normal((N, 6)), Y=_gen(2).standard_normal((M, 6))),
        lambda kw: RegressionLoss(**kw),
        dict(X="array", Y="array"),
    ),
    Entry(
        "low_rank_target_loss",
        lambda: dict(T=_matrix()),
        lambda kw: riemlin.low_rank_target_loss(**kw),
        dict(T="array"),
    ),
    Entry(
        "CompletionLoss",
        lambda: dict(
            rows=np.array([0, 1, 2]),
            cols=np.array([0, 1, 2]),
            values=np.array([1.0, 2.0, 3.0]),
            shape=(M, N),
        ),
        lambda kw: CompletionLoss(**kw),
        dict(values="array", rows="array"),
    ),
    Entry(
        "CompletionLoss.entries",
        lambda: dict(W=_matrix()),
        lambda kw: _completion().entries(**kw),
        dict(W="array"),
    ),
    Entry(
        "CompletionLoss.value(point)",
        lambda: dict(W=_p()),
        lambda kw: _completion().value(**kw),
        dict(W="point"),
    ),
    Entry(
        "CompletionLoss.hessian_vector_product",
        lambda: dict(W=_p(), Xi=_matrix(seed=6)),
        lambda kw: _completion().hessian_vector_product(**kw),
        dict(Xi="array"),
    ),
    Entry(
        "MatrixLoss",
        lambda: dict(value=lambda W: 0.0, gradient=lambda W: W, shape=(M, N)),
        lambda kw: MatrixLoss(**kw),
        dict(shape="scalar"),
    ),
    # flows and descent (tiny spans)
    Entry(
        "riemannian_gradient_flow",
        lambda: dict(W0=_matrix(), loss=_loss(), depth=2, t_eval=np.array([0.0, 1e-3])),
        lambda kw: riemlin.riemannian_gradient_flow(**kw),
        dict(W0="array", t_eval="array"),
    ),
    Entry(
        "riemannian_gradient_flow(point)",
        lambda: dict(
            W0=_p(), loss=_loss(), depth=1, t_eval=np.array([0.0, 1e-3]), formulation="manifold"
        ),
        lambda kw: riemlin.riemannian_gradient_flow(**kw),
        dict(W0="point"),
    ),
    Entry(
        "riemannian_gradient_descent",
        lambda: dict(W0=_matrix(), loss=_loss(), depth=2, step=1e-3, n_steps=2),
        lambda kw: riemlin.riemannian_gradient_descent(**kw),
        dict(W0="array", step="scalar"),
    ),
    Entry(
        "factor_gradient_flow",
        lambda: dict(factors=_layers(), loss=_loss(), t_eval=np.array([0.0, 1e-3])),
        lambda kw: riemlin.factor_gradient_flow(**kw),
        dict(factors="factors", t_eval="array"),
    ),
    Entry(
        "factor_gradient_descent",
        lambda: dict(factors=_layers(), loss=_loss(), step=1e-3, n_steps=2),
        lambda kw: riemlin.factor_gradient_descent(**kw),
        dict(factors="factors", step="scalar"),
    ),
    Entry(
        "compare_flows",
        lambda: dict(factors=_layers(), loss=_loss(), t_eval=np.array([0.0, 1e-3])),
        lambda kw: riemlin.compare_flows(**kw),
        dict(factors="factors", t_eval="array"),
    ),
    Entry(
        "compare_descent",
        lambda: dict(factors=_layers(), loss=_loss(), steps=np.array([1e-2, 5e-3]), t_end=0.02),
        lambda kw: riemlin.compare_descent(**kw),
        dict(steps="array", t_end="scalar"),
    ),
    # theory
    Entry(
        "aligned_singular_values",
        lambda: dict(
            s=np.array([2.0, 1.0]), sigma0=np.array([0.5, 0.1]), depth=3, t=np.array([0.0, 0.5])
        ),
        lambda kw: riemlin.aligned_singular_values(**kw),
        dict(s="array", sigma0="array", t="array"),
    ),
    Entry(
        "arora_iterations",
        lambda: dict(excess0=1.0, eps=1e-3, step=1e-2, margin=0.5, depth=3),
        lambda kw: riemlin.arora_iterations(**kw),
        dict(excess0="scalar", eps="scalar", step="scalar", margin="scalar"),
    ),
    Entry(
        "arora_theorem1",
        lambda: dict(target=np.diag([3.0, 2.0]), margin=0.5, depth=3),
        lambda kw: riemlin.arora_theorem1(**kw),
        dict(target="array", margin="scalar"),
    ),
    Entry(
        "deficiency_margin",
        lambda: dict(W=np.eye(2), target=np.diag([3.0, 2.0])),
        lambda kw: riemlin.deficiency_margin(**kw),
        dict(W="array", target="array"),
    ),
    Entry(
        "margin_probability",
        lambda: dict(target=np.diag([3.0, 2.0]), scale=1.0, margin=0.1),
        lambda kw: riemlin.margin_probability(**kw),
        dict(target="array", scale="scalar", margin="scalar"),
    ),
    Entry(
        "balancedness",
        lambda: dict(factors=_layers()),
        lambda kw: riemlin.balancedness(**kw),
        dict(factors="factors"),
    ),
    Entry(
        "arora_counterexample",
        lambda: dict(target=np.diag([1.0, -1.0]), depth=2),
        lambda kw: riemlin.arora_counterexample(**kw),
        dict(target="array"),
    ),
    Entry(
        "critical_point_index",
        lambda: dict(W=_loss().optimum(K)[0], loss=_loss(), depth=2, k=K),
        lambda kw: riemlin.critical_point_index(**kw),
        dict(W="array"),
    ),
    Entry(
        "critical_point_index(point)",
        lambda: dict(
            W=FixedRankDeepLinear(M, N, K).point_from_matrix(_loss().optimum(K)[0]),
            loss=_loss(),
            depth=2,
        ),
        lambda kw: riemlin.critical_point_index(**kw),
        dict(W="point"),
    ),
    Entry(
        "descent_limit",
        lambda: dict(result=_run().W, loss=_loss()),
        lambda kw: riemlin.descent_limit(**kw),
        dict(result="array"),
    ),
    Entry(
        "classify_limit",
        lambda: dict(result=np.zeros((M, N)) + 1e-3, loss=_whitened_loss()),
        lambda kw: riemlin.classify_limit(**kw),
        dict(result="array"),
    ),
    Entry(
        "predict_limit",
        lambda: dict(factors=_rank_one_layers(), loss=_whitened_loss()),
        lambda kw: riemlin.predict_limit(**kw),
        dict(factors="factors"),
    ),
    Entry(
        "one_neuron_trajectory",
        lambda: dict(start=_rank_one_layers(), target=_whitened_loss(), t=np.array([0.0, 0.1])),
        lambda kw: riemlin.one_neuron_trajectory(**kw),
        dict(start="factors", t="array"),
    ),
    Entry(
        "one_neuron_stages",
        lambda: dict(start=_rank_one_layers(), target=_whitened_loss().target),
        lambda kw: riemlin.one_neuron_stages(**kw),
        dict(start="factors", target="array"),
    ),
    Entry(
        "descent_step_bounds",
        lambda: dict(loss=_loss(), k=K, depth=2),
        lambda kw: theory.descent_step_bounds(**kw),
        dict(k="scalar"),
    ),
    # diagnostics
    Entry(
        "check_gradient",
        lambda: dict(problem=_problem(), point=_p(), direction=_tangent(_p())),
        lambda kw: riemlin.check_gradient(**kw),
        dict(point="point", direction="tangent"),
    ),
    Entry(
        "check_hessian",
        lambda: dict(problem=_problem(), point=_p(), direction=_tangent(_p())),
        lambda kw: riemlin.check_hessian(**kw),
        dict(point="point", direction="tangent"),
    ),
]


# ---------------------------------------------------------------------- hostile variants
ARRAY_MUTATIONS = [
    "float32",
    "int",
    "bool",
    "complex",
    "object",
    "fortran",
    "view",
    "list",
    "ragged",
    "nan",
    "inf",
    "huge",
    "tiny",
    "zero",
    "empty",
    "extra_axis",
    "flat",
    "off_by_one",
    "none",
    "string",
    "negative",
]
LAYOUT = {"fortran", "view"}


def mutate_array(x, how, draw):
    x = np.asarray(x)
    if how == "float32":
        return x.astype(np.float32)
    if how == "int":
        return np.round(x * 3).astype(np.int64)
    if how == "bool":
        return x != 0
    if how == "complex":
        return x + 1j * draw(st.floats(-1, 1, allow_nan=False))
    if how == "object":
        return np.array(x.tolist(), dtype=object)
    if how == "fortran":
        return np.asfortranarray(x)
    if how == "view":
        big = np.zeros(tuple(2 * d for d in x.shape) or (), dtype=x.dtype)
        if x.ndim == 0:
            return x
        view = big[tuple(slice(None, None, 2) for _ in x.shape)]
        view[...] = x
        return view
    if how == "list":
        return x.tolist()
    if how == "ragged":
        return [[1.0, 2.0], [3.0]]
    if how in ("nan", "inf") and x.size:
        y = x.astype(float).copy()
        y.flat[draw(st.integers(0, x.size - 1))] = np.nan if how == "nan" else -np.inf
        return y
    if how == "huge":
        with np.errstate(over="ignore"):
            return x * draw(st.sampled_from([1e150, 1e300, 1.7e308]))
    if how == "tiny":
        return x * draw(st.sampled_from([1e-150, 1e-300, 5e-324]))
    if how == "zero":
        return np.zeros_like(x)
    if how == "empty":
        return np.zeros((0,) + x.shape[1:])
    if how == "extra_axis":
        return x[None]
    if how == "flat":
        return x.ravel()
    if how == "off_by_one" and x.ndim:
        return np.zeros(x.shape[:-1] + (x.shape[-1] + 1,))
    if how == "none":
        return None
    if how == "string":
        return "abc"
    if how == "negative":
        return -np.abs(x) - 1
    return x


def mutate_scalar(x, draw):
    return draw(
        st.sampled_from(
            [
                np.nan,
                np.inf,
                -np.inf,
                -1.0,
                0.0,
                1e300,
                1e-300,
                5e-324,
                "a",
                None,
                True,
                1 + 1j,
                np.float32(0.5),
                [1.0],
                10**400,
            ]
        )
    )


def mutate(value, kind, draw):
    """A hostile variant of ``value`` and the name of the change."""
    if kind == "scalar":
        return mutate_scalar(value, draw), "scalar"
    if kind == "array":
        how = draw(st.sampled_from(ARRAY_MUTATIONS))
        return mutate_array(value, how, draw), how
    if kind in ("point", "tangent"):
        how = draw(
            st.sampled_from(
                ["part"] * 6
                + ["not_orthonormal", "zero_frame", "pair", "list_of_arrays", "matrix", "none"]
            )
        )
        if how == "not_orthonormal" and kind == "point":
            u, s, vt = value
            return (3.0 * u, s, vt), how
        if how == "zero_frame" and kind == "point":
            u, s, vt = value
            return (u, s, 0.0 * vt), how
        if how == "pair":
            return tuple(value[:2]), how
        if how == "list_of_arrays":
            return list(value), how
        if how == "matrix":
            return np.ones((M, N)), how
        if how == "none":
            return None, how
        i = draw(st.integers(0, 2))
        sub = draw(st.sampled_from(ARRAY_MUTATIONS))
        parts = list(value)
        parts[i] = mutate_array(parts[i], sub, draw)
        return type(value)(*parts) if hasattr(value, "_fields") else tuple(parts), f"part-{sub}"
    if kind == "factors":
        how = draw(st.sampled_from(["layer"] * 6 + ["ndarray", "empty", "string", "none", "tuple"]))
        if how == "ndarray":
            return np.ones((3, 3)), how
        if how == "empty":
            return [], how
        if how == "string":
            return "W", how
        if how == "none":
            return None, how
        if how == "tuple":
            return tuple(value), how
        j = draw(st.integers(0, len(value) - 1))
        sub = draw(st.sampled_from(ARRAY_MUTATIONS))
        layers = list(value)
        layers[j] = mutate_array(layers[j], sub, draw)
        return layers, f"layer-{sub}"
    raise AssertionError(kind)


# ---------------------------------------------------------------------- the property
@pytest.fixture(scope="module", autouse=True)
def report_outcomes(request):
    yield
    total = sum(OUTCOMES.values())
    line = f"robustness: {total} hostile inputs tried: " + ", ".join(
        f"{OUTCOMES[k]} {k}" for k in ("result", "ValueError", "TypeError", "other")
    )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)
    print(line)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
@settings(settings.get_profile("robustness"))
@given(data=st.data())
def test_hostile_input_ends_in_a_result_or_a_named_error(entry, data):
    kwargs = entry.make()
    name = data.draw(st.sampled_from(sorted(entry.kinds)), label="argument")
    bad, how = mutate(kwargs[name], entry.kinds[name], data.draw)
    kwargs[name] = bad
    kind, detail = outcome(lambda: entry.call(kwargs))
    OUTCOMES[kind] += 1
    assert kind != "other", f"{entry.name}({name} <- {how}): {detail}"
    if kind in ("ValueError", "TypeError"):
        assert name in detail, f"{entry.name}({name} <- {how}): message does not name it: {detail}"
        assert how not in LAYOUT, f"{entry.name}({name} <- {how}): layout refused: {detail}"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_valid_arguments_give_a_result(entry):
    # the baseline of the property: the unmutated call works
    kind, detail = outcome(lambda: entry.call(entry.make()))
    OUTCOMES[kind] += 1
    assert kind == "result", detail


def test_every_exported_array_function_is_covered():
    # everything riemlin exports that takes arrays is in ENTRIES or named as not covered
    covered = {e.name.split("(")[0].split(".")[0] for e in ENTRIES}
    not_here = {
        "apply_metric",
        "apply_metric_inverse",
        "metric_inner",
        "metric_weights",  # kernels
        "imbalance",  # imbalance_norm and balancedness call it
        "matrix_problem",
        "record_gradient_norms",
        "check_manifold",
        "random_completion",
        "critical_points",
        "Loss",
        "FlowResult",
        "Comparison",
        "DescentComparison",
        "CompletionLineSearcher",
        "FixedRankDeepLinear",
        "FixedRankPoint",
        "FixedRankTangentVector",
        "MetricWeights",
        "geometry",  # the subpackages
        "networks",
        "losses",
        "dynamics",
        "diagnostics",
        "theory",
        "Status",  # an enum
        "__version__",
    }
    missing = set(riemlin.__all__) - covered - not_here
    assert not missing, missing
    assert math.isfinite(len(ENTRIES))


# ---------------------------------------------------------------------- inputs found by hand
# One test per kind of input that once failed (each failed before its fix), named by what
# it checks. Flows count evaluations, never seconds.
_NAN_LOSS = MatrixLoss(lambda W: 0.0, lambda W: np.full(np.shape(W), np.nan), shape=(M, N))


def _counting(loss):
    """The loss, with a count of gradient evaluations (a hang shows as a huge count)."""
    calls = collections.Counter()

    def gradient(W):
        calls["gradient"] += 1
        assert calls["gradient"] < 10**5, "the run does not stop"
        return loss.gradient(W)

    return MatrixLoss(loss.value, gradient, shape=loss.shape), calls


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("method", ["DOP853", "RK45", "Radau", "LSODA"])
def test_layer_flow_with_a_non_finite_gradient_stops_with_divergence(bad, method):
    loss, calls = _counting(MatrixLoss(lambda W: 0.0, lambda W: np.full(np.shape(W), bad)))
    res = riemlin.factor_gradient_flow(_layers(), loss, [0.0, 1.0], integrator=method)
    assert res.status == -2 and "non-finite" in res.message
    assert calls["gradient"] <= 2 and len(res.t) == 1


def test_flows_with_a_single_output_time_return_the_start():
    layers, loss = _layers(), _loss()
    res = riemlin.factor_gradient_flow(layers, loss, [0.5])
    assert res.status == 0 and res.t.tolist() == [0.5]
    np.testing.assert_allclose(res.W[0], riemlin.product(layers))
    cmp = riemlin.compare_flows(layers, loss, [0.0])
    assert cmp.t.tolist() == [0.0] and cmp.mismatch[0] < 1e-14


@pytest.mark.parametrize("scale", [1e200, 1e300])
def test_a_start_whose_loss_overflows_ends_with_divergence(scale):
    layers = [scale * W for W in _layers()]
    for res in (
        riemlin.factor_gradient_flow(layers, _loss(), [0.0, 1.0]),
        riemlin.factor_gradient_descent(layers, _loss(), 0.1, 3),
    ):
        assert res.status == -2 and "start" in res.message and len(res.t) == 1
    res = riemlin.riemannian_gradient_flow(1e300 * _matrix(), _loss(), 2, [0.0, 1.0])
    assert res.status == -2 and len(res.t) == 1


@pytest.mark.parametrize("method", ["dense", "manifold"])
@pytest.mark.parametrize("integrator", ["DOP853", "LSODA"])
def test_riemannian_flow_with_a_non_finite_gradient_returns_status_not_exception(
    method, integrator
):
    res = riemlin.riemannian_gradient_flow(
        _matrix(), _NAN_LOSS, 2, [0.0, 1.0], method, integrator=integrator
    )
    assert res.status == -2 and "non-finite" in res.message and len(res.t) == 1


def test_descents_with_a_non_finite_gradient_return_divergence():
    for res in (
        riemlin.factor_gradient_descent(_layers(), _NAN_LOSS, 0.1, 3),
        riemlin.riemannian_gradient_descent(_matrix(), _NAN_LOSS, 2, 0.1, 3),
    ):
        assert res.status == -2 and "non-finite" in res.message and len(res.t) == 1


def test_layer_runs_refuse_a_loss_of_another_shape():
    wrong = RegressionLoss(np.eye(N + 1), np.ones((M, N + 1)))
    undeclared = MatrixLoss(lambda W: 0.0, lambda W: np.ones((M + 1, N)))
    runs = (
        lambda loss: riemlin.factor_gradient_flow(_layers(), loss, [0.0, 1.0]),
        lambda loss: riemlin.factor_gradient_descent(_layers(), loss, 0.1, 2),
        lambda loss: riemlin.compare_flows(_layers(), loss, [0.0, 1.0]),
        lambda loss: riemlin.compare_descent(_layers(), loss, [0.1, 0.05], 0.2),
    )
    for loss in (wrong, undeclared):
        for run in runs:
            with pytest.raises(ValueError, match="loss"):
                run(loss)
    with pytest.raises(ValueError, match="loss"):
        riemlin.riemannian_gradient_flow(_matrix(), undeclared, 2, [0.0, 1.0])


def test_horizontal_lift_takes_only_the_point_of_the_coordinates():
    layers = _layers()
    point = riemlin.to_point(layers, K)
    xi = _tangent(point)
    for not_a_point in (riemlin.product(layers), riemlin.product(layers).tolist(), None):
        with pytest.raises(TypeError, match="point"):
            riemlin.horizontal_lift(layers, not_a_point, xi)
    # with the point, D pi[h] = xi exactly (balanced layers)
    h = riemlin.horizontal_lift(layers, point, xi)
    back = riemlin.product_differential(layers, h)
    np.testing.assert_allclose(back, _manifold().tangent_to_matrix(point, xi), atol=1e-12)


@pytest.mark.parametrize("frame", ["scaled u", "zero u", "scaled vt", "rotated s"])
def test_points_with_frames_that_are_not_orthonormal_are_refused(frame):
    u, s, vt = _p()
    bad = {
        "scaled u": (3.0 * u, s, vt),
        "zero u": (0.0 * u, s, vt),
        "scaled vt": (u, s, 1.0 + 1e-9 * vt),
        "rotated s": (u @ np.array([[1.0, 0.1], [0.0, 1.0]]), s, vt),
    }[frame]
    man = _manifold()
    calls = [
        lambda: man.norm(bad, _tangent(_p())),
        lambda: man.retraction(bad, man.zero_vector(bad)),
        lambda: riemlin.riemannian_gradient_flow(bad, _loss(), 2, [0.0, 0.1]),
        lambda: riemlin.riemannian_gradient_descent(bad, _loss(), 2, 0.1, 2),
        lambda: riemlin.balanced_factors(bad, (N, 3, M)),
        lambda: riemlin.critical_point_index(bad, _loss(), 2),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="orthonormal"):
            call()


def test_orthonormality_is_checked_once_per_point():
    x = _manifold().random_point(rng=0)
    xi = _manifold().random_tangent_vector(x, rng=1)
    man = _manifold()  # has not seen x yet
    calls = collections.Counter()
    original = riemlin._validation.orthonormality_error

    def counting(Q):
        calls["gram"] += 1
        return original(Q)

    riemlin._validation.orthonormality_error = counting
    try:
        for _ in range(5):
            man.norm(x, xi)
            man.norm(riemlin.FixedRankPoint(*x), xi)  # a new tuple of the same arrays
        assert calls["gram"] == 2  # u and vt, once
    finally:
        riemlin._validation.orthonormality_error = original


@pytest.mark.parametrize(
    "call",
    [
        lambda: riemlin.product([np.eye(2) * (1 + 1j)]),
        lambda: RegressionLoss(np.eye(2) + 0j, np.eye(2)),
        lambda: _manifold().retraction(_p(), tuple(x * (1 + 1j) for x in _tangent(_p()))),
        lambda: _manifold().projection(_p(), _matrix() * (1 + 0j)),
        lambda: _manifold().norm(tuple(x + 0j for x in _p()), _tangent(_p())),
        lambda: _manifold().point_from_matrix(_matrix() + 1j),
        lambda: riemlin.deficiency_margin(np.eye(2) + 0j, np.eye(2)),
        lambda: riemlin.factor_gradient(_layers(), (np.ones((M, 1)) + 0j, [1.0], np.ones((N, 1)))),
    ],
)
def test_complex_input_is_a_type_error(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the imaginary part is never dropped silently
        with pytest.raises(TypeError, match="complex"):
            call()


def _connection_at(s, depth=1000):
    man = FixedRankDeepLinear(3, 3, 2, depth)
    point = (np.eye(3)[:, :2], np.asarray(s, dtype=float), np.eye(3)[:2])
    xi = riemlin.FixedRankTangentVector(
        np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.5]]),
        np.array([[1.0, 0.3], [-0.2, 0.7]]),
        np.array([[0.0, 0.0], [0.0, 0.0], [0.4, -1.0]]),
    )
    return man.connection_difference(point, xi), man, point, xi


@pytest.mark.parametrize("scale", [1e-150, 1e-50, 1e50, 1e101, 1e150])
def test_connection_difference_is_finite_over_the_documented_range(scale):
    # C is homogeneous of degree -1 in s (Christoffel symbols scale like 1/s), so C at
    # scale * s equals C at s divided by scale; the reference is computed at s of order
    # one, where nothing overflows, and the scales are powers of ten (not exact in
    # binary), so the agreement is to rounding in the powers s^(2/N): 1e-9 relative.
    ref = _connection_at([10.0, 1.0])[0]
    got = _connection_at([10.0 * scale, 1.0 * scale])[0]
    for a, b in zip(got, ref):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a * scale, b, rtol=1e-9, atol=1e-12 * np.abs(b).max())


def test_riemannian_hessian_is_finite_for_large_singular_values_at_large_depth():
    _, man, point, xi = _connection_at([1e101, 1e100])
    G = np.ones((3, 3))
    H = man.riemannian_hessian_from_matrix(point, G, np.zeros((3, 3)), xi)
    assert all(np.all(np.isfinite(x)) for x in H)
    # self-adjoint for g also at this scale
    eta = riemlin.FixedRankTangentVector(*(np.roll(x, 1) for x in xi))
    eta = man.to_tangent_space(point, eta)
    He = man.riemannian_hessian_from_matrix(point, G, np.zeros((3, 3)), eta)
    a, b = man.inner_product(point, H, eta), man.inner_product(point, xi, He)
    assert abs(a - b) <= 1e-10 * max(abs(a), abs(b))


@pytest.mark.parametrize(
    "manifold",
    [
        lambda: __import__("pymanopt").manifolds.Sphere(3),
        lambda: __import__("pymanopt").manifolds.Sphere(2),
        lambda: FixedRankDeepLinear(1, 1, 1, 2),
        lambda: FixedRankDeepLinear(2, 1, 1, 3),
    ],
    ids=["sphere3", "sphere2", "1x1", "2x1"],
)
def test_check_manifold_passes_in_dimension_one_and_two(manifold):
    report = riemlin.check_manifold(manifold(), rng=0)
    assert report.passed, str(report)


def test_compare_descent_refuses_steps_above_t_end_and_reports_the_steps_used():
    layers, loss = _layers(), _loss()
    with pytest.raises(ValueError, match="t_end"):
        riemlin.compare_descent(layers, loss, [2.0, 5.0], t_end=1.0)
    cmp = riemlin.compare_descent(layers, loss, [0.3, 0.1], t_end=1.0)
    np.testing.assert_allclose(cmp.steps, [1 / 3, 0.1])  # round(1 / 0.3) = 3 steps
    np.testing.assert_allclose(cmp.requested_steps, [0.3, 0.1])
    assert "0.333" in cmp.table()
    # a diverged run (step 0.5 on this problem) stays out of the fit, which then gives
    # the first order of the two completed runs (the slope is 1.007 here; a diverged run
    # in the fit would make it meaningless)
    fit = riemlin.compare_descent(layers, _whitened_loss(), [0.5, 0.01, 0.005], t_end=2.0)
    assert fit.status_factor[0] == -2 and fit.status_riemannian[0] == -2
    assert np.isnan(fit.mismatch[0]) and abs(fit.mismatch_order - 1) < 0.1


def test_descent_limit_accepts_a_run_recorded_as_points():
    loss = _loss()
    as_points = riemlin.riemannian_gradient_descent(_matrix(), loss, 2, 0.01, 3, output="point")
    as_matrices = riemlin.riemannian_gradient_descent(_matrix(), loss, 2, 0.01, 3)
    a, b = riemlin.descent_limit(as_points, loss), riemlin.descent_limit(as_matrices, loss)
    assert a.rank == b.rank and abs(a.loss - b.loss) <= 1e-12 * abs(b.loss)


def test_low_rank_triples_of_lists_are_read_and_three_row_lists_are_not_triples():
    layers = _layers()
    U, S, V = np.ones((M, 1)), np.array([[2.0]]), np.arange(1.0, N + 1)[:, None]
    as_lists = (U.tolist(), S.tolist(), V.tolist())
    for fn in (riemlin.product_adjoint, riemlin.factor_gradient):
        got = fn(layers, as_lists)
        want = fn(layers, U @ S @ V.T)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    three_rows = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    loss = riemlin.low_rank_target_loss(three_rows)  # a dense 3 x 2 target
    assert loss.shape == (3, 2) and loss.value(np.zeros((3, 2))) == 0.5 * 91
    with pytest.raises(TypeError, match="three 1-D rows"):
        riemlin.product_adjoint([np.ones((3, 2))], ([1.0, 2.0], [3.0, 4.0], [5.0, 6.0]))
    completion = CompletionLoss([0, 2], [1, 0], [1.0, 2.0], (3, 2))
    np.testing.assert_allclose(completion.entries(three_rows), [2.0, 5.0])


def test_completion_refuses_arguments_of_another_shape():
    loss = CompletionLoss([0, 1], [1, 0], [1.0, 2.0], (2, 2))
    with pytest.raises(ValueError, match=r"W must be a 2x2"):
        loss.entries(np.ones((9, 9)))
    with pytest.raises(ValueError, match="Xi"):
        loss.hessian_vector_product(np.zeros((2, 2)), (np.ones((3, 1)), [[1.0]], np.ones((2, 1))))
    with pytest.raises(ValueError, match="W"):
        loss.value((np.ones((3, 1)), np.ones(1), np.ones((1, 2))))


@pytest.mark.parametrize("shape", [(3,), (3, 4, 5), (), [3]])
def test_matrix_loss_refuses_a_shape_that_is_not_a_pair(shape):
    with pytest.raises(ValueError, match="shape must be a pair"):
        MatrixLoss(lambda W: 0.0, lambda W: W, shape=shape)
    with pytest.raises(TypeError, match="shape"):
        MatrixLoss(lambda W: 0.0, lambda W: W, shape=3)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: riemlin.arora_iterations(1, 1e-3, 1e-300, 1e-300, 3), ValueError, "step"),
        (lambda: riemlin.arora_iterations(1e300, 1e-300, 0.1, 0.5, 3), None, None),
        (lambda: riemlin.arora_iterations(1, 1e-3, 10**400, 1.0, 3), ValueError, "step"),
        (lambda: riemlin.arora_theorem1(1e300 * np.eye(2), 1e299, 3), None, None),
        (lambda: riemlin.deficiency_margin(np.zeros((0, 0)), np.zeros((0, 0))), ValueError, "W"),
        (
            lambda: riemlin.critical_point_index(np.full((M, N), np.nan), _loss(), 2),
            ValueError,
            "W has non-finite",
        ),
        (
            lambda: riemlin.riemannian_gradient_flow(
                _matrix(), _loss(), 2, [0, 1], first_step=np.nan
            ),
            ValueError,
            "first_step",
        ),
        (lambda: riemlin.check_gradient(None), TypeError, "problem"),
        (
            lambda: riemlin.check_gradient(_problem(), _p(), _manifold().zero_vector(_p())),
            ValueError,
            "direction",
        ),
        (lambda: riemlin.margin_probability(np.eye(2), 1e-300), ValueError, "scale"),
    ],
)
def test_theory_and_checks_end_in_results_or_named_errors(call, error, match):
    if error is None:
        value = call()
        assert all(
            np.isfinite(np.asarray(v, dtype=float)) or v in (0.0, np.inf) for v in np.ravel(value)
        )
    else:
        with pytest.raises(error, match=match):
            call()


def test_arora_bounds_in_logarithms_agree_with_the_direct_formula():
    # the log-space evaluation only changes rounding where the direct one is finite
    Phi = np.diag([3.0, 2.0, 0.5])
    b = riemlin.arora_theorem1(Phi, 0.25, 4)
    fro = np.linalg.norm(Phi)
    np.testing.assert_allclose(b.delta, 0.25**2 / (256 * 64 * fro ** (6 / 4)), rtol=1e-13)
    np.testing.assert_allclose(b.step, 0.25 ** (14 / 4) / (6144 * 64 * fro ** (20 / 4)), rtol=1e-13)
    assert riemlin.arora_iterations(2.0, 1e-3, 1e-2, 0.5, 3) == math.ceil(
        math.log(2e3) / (1e-2 * 0.5 ** (4 / 3))
    )


@pytest.mark.parametrize("rtol", [1e-12, 1e-9, 1e-6])
@pytest.mark.parametrize("integrator", ["DOP853", "LSODA"])
def test_depth_one_factored_flow_stops_early_when_rank_is_lost(rtol, integrator):
    # Target of rank 1, k = 2, depth 1: s_2 -> 0 like e^{-t}. In the factored coordinates
    # the velocities of U, V carry rounding errors eps s_1 / s_2 relative, and from
    # s_2 / s_1 ~ eps / rtol on the step size shrinks like s_2: before the stop the runs
    # took 4.7e5 evaluations to t = 28 and minutes for longer spans. Now they stop with
    # -3 at s_2 / s_1 <= eps / (100 rtol); the budget below is 20x the evaluations measured.
    g = _gen(0)
    loss = RegressionLoss(np.eye(N), np.outer(g.standard_normal(M), g.standard_normal(N)))
    counted, calls = _counting(loss)
    res = riemlin.riemannian_gradient_flow(
        _matrix(),
        counted,
        1,
        np.linspace(0, 200, 5),
        "manifold",
        rtol=rtol,
        atol=rtol * 1e-3,
        k=K,
        integrator=integrator,
    )
    assert res.status == -3 and "eps / (100 rtol)" in res.message
    assert calls["gradient"] < 2 * 10**4
    # the dense formulation follows the same flow through the drop without trouble
    dense = riemlin.riemannian_gradient_flow(_matrix(), loss, 1, [0.0, 200.0], "dense", k=K)
    assert dense.status in (0, -3) and dense.nfev < 5000


@pytest.mark.parametrize("scale, t_end", [(1e150, 1e-3), (1.0, 1e150)])
def test_flows_that_would_crawl_stop_with_a_status(scale, t_end):
    # an extreme scale (steps ~ 1e-150) or span (1e150 time units at the stability
    # limit): more than 1e7 steps ahead ends the run with -1 instead of running forever
    counted, calls = _counting(_loss())
    res = riemlin.riemannian_gradient_flow(scale * _matrix(), counted, 2, [0.0, t_end])
    # one window of 1000 steps (12 evaluations each for DOP853) before the test
    assert res.status == -1 and "steps" in res.message and calls["gradient"] < 2 * 10**4
    calls.clear()
    layers = [scale ** (1 / 3) * W for W in _layers()]
    res = riemlin.factor_gradient_flow(layers, counted, [0.0, t_end])
    assert res.status in (-1, -2) and calls["gradient"] < 2 * 10**4
