"""The papers' statements as checkable functions.

One module per source: :mod:`~riemlin.theory.aligned` (the aligned, whitened flow),
:mod:`~riemlin.theory.critical` (critical points of the loss on ``M_k`` and their index),
:mod:`~riemlin.theory.arora` (Arora, Cohen, Golowich, Hu, arXiv:1810.02281),
:mod:`~riemlin.theory.limits` (where descent and flows end: Nguegnang, Rauhut, Terstiege,
arXiv:2108.02040; Bah et al., arXiv:1910.05505), :mod:`~riemlin.theory.one_neuron`
(limits of one-neuron-wide layers) and :mod:`~riemlin.theory.stages` (their trajectory in
closed form and its stages). ``tests/test_theorems.py`` checks each statement; the user
guide's chapters "The papers' statements, checked" and "Derivations" list them and work
out the derived ones.
"""

from riemlin.theory.aligned import aligned_singular_values
from riemlin.theory.arora import (
    AroraBounds,
    AroraCounterexample,
    arora_counterexample,
    arora_iterations,
    arora_step_ratios,
    arora_theorem1,
    balancedness,
    deficiency_margin,
    margin_probability,
    margin_probability_mc,
)
from riemlin.theory.critical import (
    CriticalPoint,
    HessianIndex,
    critical_point_index,
    critical_points,
)
from riemlin.theory.limits import DescentLimit, descent_limit
from riemlin.theory.one_neuron import Limit, classify_limit, predict_limit
from riemlin.theory.stability import StepBounds, descent_step_bounds
from riemlin.theory.stages import (
    OneNeuronStages,
    OneNeuronTrajectory,
    one_neuron_stages,
    one_neuron_trajectory,
)

__all__ = [
    "AroraBounds",
    "AroraCounterexample",
    "CriticalPoint",
    "DescentLimit",
    "HessianIndex",
    "Limit",
    "OneNeuronStages",
    "OneNeuronTrajectory",
    "StepBounds",
    "aligned_singular_values",
    "arora_counterexample",
    "arora_iterations",
    "arora_step_ratios",
    "arora_theorem1",
    "balancedness",
    "classify_limit",
    "critical_point_index",
    "critical_points",
    "deficiency_margin",
    "descent_limit",
    "descent_step_bounds",
    "margin_probability",
    "margin_probability_mc",
    "one_neuron_stages",
    "one_neuron_trajectory",
    "predict_limit",
]
