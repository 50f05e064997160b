"""Every script under examples/ runs (so none can rot), and every figure it draws is
complete where the gallery captures it.

sphinx-gallery runs a script one cell (``# %%`` block) at a time and saves, then closes,
every open figure at the end of each cell. A panel drawn in a later cell is therefore
never shown: the page shows an empty axes instead. The test runs the cells the same way
and fails on an axes without data at the end of its cell.
"""

import os
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))
CELL = re.compile(r"^# %%.*$", re.MULTILINE)


def run_cells(path):
    """Run a script cell by cell as sphinx-gallery does; return the figures per cell."""
    source = path.read_text()
    namespace = {"__name__": "__main__", "__file__": str(path)}
    shown = []
    for number, cell in enumerate(CELL.split(source)):
        exec(compile(cell, f"{path.name} (cell {number})", "exec"), namespace)
        figures = [plt.figure(i) for i in plt.get_fignums()]
        for figure in figures:
            for ax in figure.axes:
                assert ax.has_data(), (
                    f"{path.name}, cell {number}: an axes of figure {figure.number} "
                    f"({ax.get_title()!r}) is empty when the gallery captures it; draw every "
                    "panel in the cell that creates the figure"
                )
        shown.append(len(figures))
        plt.close("all")
    return shown


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_and_shows_complete_figures(path, monkeypatch):
    monkeypatch.setenv("RIEMLIN_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    shown = run_cells(path)
    assert sum(shown) >= 1, f"{path.name} draws no figure for its gallery page"


def test_the_figure_check_catches_a_panel_drawn_in_a_later_cell(tmp_path):
    script = tmp_path / "plot_late_panel.py"
    script.write_text(
        "import matplotlib.pyplot as plt\n"
        "fig, axes = plt.subplots(1, 2)\n"
        "axes[0].plot([0, 1])\n"
        "# %%\n"
        "axes[1].plot([1, 0])\n"
    )
    with pytest.raises(AssertionError, match="cell 0"):
        run_cells(script)
    plt.close("all")


def test_examples_exist():
    assert EXAMPLES, "examples/ must hold at least one example"
    assert os.path.exists(EXAMPLES[0])
