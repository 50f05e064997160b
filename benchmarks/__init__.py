"""riemlin's benchmark suite: ``python -m benchmarks [--quick] [--only NAME] [--json PATH]``.

Every benchmark times the compared operations side by side in one run, interleaved,
and reports ratios of medians (absolute seconds on a shared machine are noise).
"""
