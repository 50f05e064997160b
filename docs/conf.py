"""Sphinx configuration for the riemlin documentation (build: sphinx-build -W -b html docs out).

The gallery runs every example at full size unless ``RIEMLIN_FAST=1`` is set in the
environment; the test suite sets it (``tests/test_docs.py``) to build quickly, the
published documentation does not.
"""

import os
import re
import shutil
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

# stubs are regenerated on every build: stale pages of renamed or removed names would
# fail the -W build
shutil.rmtree(Path(__file__).resolve().parent / "generated", ignore_errors=True)
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

# numpydoc validation: every docstring autodoc renders is checked, and with -W a violation
# fails the build (tests/test_docstrings.py applies the same settings without Sphinx).
# All checks except four: ES01 (an extended summary) and EX01 (an Examples section) would
# demand prose and examples of every small helper; SA01 (See Also) cross-links by hand;
# SS05 takes a summary's first word ending in "s" for a third-person verb, but riemlin's
# summaries are noun phrases ("Weights ...", "Coefficients ...", "Iterations ...").
numpydoc_validation_checks = {"all", "ES01", "EX01", "SA01", "SS05"}
numpydoc_validation_exclude = {
    # Module constants: numpydoc would validate the docstring of their type (int, dict).
    r"\.[A-Z][A-Z0-9_]+$",
    # An enum's call signature is the enum machinery's (value, names, module, ...).
    r"^riemlin\.dynamics\.result\.Status$",
    # A Protocol is never constructed; its signature is typing's (*args, **kwargs).
    r"^riemlin\.losses\.base\.Loss$",
    # pymanopt's point and tangent-vector named tuples, re-exported under riemlin names
    # (their docstrings and fields are pymanopt's).
    r"^riemlin\.geometry\.manifold\.FixedRank(Point|TangentVector)$",
}
numpydoc_validation_overrides = {
    # Records (dataclasses, named tuples) document their fields under Attributes, not
    # Parameters; tests/test_docstrings.py checks that every field is there.
    "PR01": [r"(?m)^Attributes\n-{3,}$"],
    # Python's own docstrings of named-tuple fields.
    "SS03": [r"^Alias for field number \d+$"],
}
#: Public names whose docstrings another change is completing; the build skips them until
#: then, and tests/test_docstrings.py fails as soon as one of them passes.
docstrings_pending = []
numpydoc_validation_exclude |= {rf"^{re.escape(name)}$" for name in docstrings_pending}
