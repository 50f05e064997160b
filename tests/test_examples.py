"""Every script under examples/ runs (so none can rot)."""

import os
import runpy
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path, monkeypatch):
    monkeypatch.setenv("RIEMLIN_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    runpy.run_path(str(path), run_name="__main__")
    plt.close("all")


def test_examples_exist():
    assert EXAMPLES, "examples/ must hold at least one example"
    assert os.path.exists(EXAMPLES[0])
