"""The layout is the architecture: imports only go down the layers, no private names cross.

Layers, bottom to top (a module may import riemlin modules of its own layer or below):

0. ``riemlin._validation``, ``riemlin.reference``: input checks, dense test formulas
1. ``riemlin.geometry``: the manifold M_k with the deep-linear metric
2. ``riemlin.networks`` (layers and the product map), ``riemlin.losses``,
   ``riemlin.diagnostics``
3. ``riemlin.dynamics``: flows and descent on both sides, the equivalence comparison
4. ``riemlin.theory``: the papers' statements as functions
5. ``riemlin.experiments``: sweeps
6. ``riemlin.cli`` and the package ``riemlin`` itself (re-exports)

and no module imports another module's underscore names.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "riemlin"

LAYERS = {
    "riemlin._validation": 0,
    "riemlin.reference": 0,
    "riemlin.geometry": 1,
    "riemlin.networks": 2,
    "riemlin.losses": 2,
    "riemlin.diagnostics": 2,
    "riemlin.dynamics": 3,
    "riemlin.theory": 4,
    "riemlin.experiments": 5,
    "riemlin.cli": 6,
    "riemlin": 6,
}


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int:
    best = None
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, layer)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best[1]


def _imports(path: pathlib.Path):
    """(imported module, imported names, line) for every riemlin import in a file."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "riemlin" or node.module.startswith("riemlin."):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    # "from riemlin.geometry import metric" imports a module
                    target = (
                        full
                        if (ROOT.parent / full.replace(".", "/")).exists()
                        or (ROOT.parent / (full.replace(".", "/") + ".py")).exists()
                        else node.module
                    )
                    yield target, alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "riemlin" or alias.name.startswith("riemlin."):
                    yield alias.name, None, node.lineno


FILES = sorted(ROOT.rglob("*.py"))


def test_every_module_is_in_a_layer():
    for path in FILES:
        _layer(_module_name(path))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_imports_go_down_the_layers(path):
    here = _module_name(path)
    mine = _layer(here)
    for target, _, line in _imports(path):
        if target == "riemlin" and here != "riemlin":
            # "from riemlin import __version__" is the one name from the top
            continue
        assert _layer(target) <= mine, (
            f"{here} (layer {mine}) imports {target} (layer {_layer(target)}) at line {line}"
        )


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_no_private_names_cross_modules(path):
    here = _module_name(path)
    for target, name, line in _imports(path):
        if name is None or target == here:
            continue
        assert not (name.startswith("_") and name != "__version__"), (
            f"{here} imports the private name {name} from {target} at line {line}"
        )


def test_the_rule_catches_an_upward_and_a_private_import(tmp_path):
    """The checks are not vacuous: a geometry module importing dynamics, or a private
    name, is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from riemlin.dynamics.riemannian import _finish\n")
    (target, name, _), *_ = list(_imports(bad))
    assert _layer(target) > _layer("riemlin.geometry.metric")
    assert name.startswith("_")
