"""The Sphinx site builds with warnings as errors (so CI runs the docs build)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_docs_build(tmp_path):
    pytest.importorskip("sphinx")
    for module in ("numpydoc", "sphinx_gallery", "furo", "myst_parser"):
        pytest.importorskip(module)
    env = dict(os.environ, MPLBACKEND="Agg", RIEMLIN_FAST="1")
    out = tmp_path / "html"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "docs",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for page in ("index.html", "api.html", "guide/equivalence.html", "auto_examples/index.html"):
        assert (out / page).is_file(), page
