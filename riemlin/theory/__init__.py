"""The papers' statements as checkable functions (issue 7).

One module per source: :mod:`~riemlin.theory.aligned` (the aligned, whitened flow),
:mod:`~riemlin.theory.critical` (critical points of the whitened loss on ``M_k`` and their
index), :mod:`~riemlin.theory.arora` (Arora, Cohen, Golowich, Hu, arXiv:1810.02281),
:mod:`~riemlin.theory.limits` (where descent and flows end: Nguegnang, Rauhut, Terstiege,
arXiv:2108.02040; Bah et al., arXiv:1910.05505) and :mod:`~riemlin.theory.one_neuron`
(one-neuron-wide layers). ``tests/test_theorems.py`` checks each statement.
"""

from riemlin.theory.aligned import aligned_singular_values

__all__ = ["aligned_singular_values"]
