"""Sphinx configuration for the riemlin documentation (build: sphinx-build -W -b html docs out).

The gallery runs every example at full size unless ``RIEMLIN_FAST=1`` is set in the
environment; the test suite sets it (``tests/test_docs.py``) to build quickly, the
published documentation does not.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import riemlin  # noqa: E402

project = "riemlin"
author = "riemlin developers"
release = riemlin.__version__
version = riemlin.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
myst_enable_extensions = ["dollarmath", "amsmath"]

autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    # Re-run every example on every build: the generated pages live in the source tree
    # (docs/auto_examples), and a build in fast mode (RIEMLIN_FAST=1, the test suite)
    # must never leave its small figures behind for a full build to reuse.
    "run_stale_examples": True,
}

html_theme = "furo"
html_title = f"riemlin {release}"
