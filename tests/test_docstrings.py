"""Every public docstring passes numpydoc's validation, without building the docs.

The docs build validates what autodoc renders, with the checks, exclusions and overrides
set in ``docs/conf.py``. This module reads those settings from ``docs/conf.py`` and
applies them to every name in the API reference's autosummary lists (``docs/api.rst``)
and to every public method of the public classes, so a violation fails the suite in
seconds even when the docs build is skipped. It also sees what the docs build cannot:
autodoc leaves out methods without a docstring, which numpydoc then never validates.

Beyond numpydoc's checks:

* every name in a public module's ``__all__`` is in the API reference;
* records (dataclasses and named tuples) document each field in their Attributes
  section (the docs build accepts an Attributes section in place of Parameters);
* a public function or class that validates its input (a ``raise`` statement, or a call
  of a raising check from ``riemlin._validation`` or of a ``check_*`` helper) has a
  Raises section;
* every name the docs build skips as pending still has a violation (the list only
  shrinks).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import inspect
import pkgutil
import re
import runpy
import textwrap
from pathlib import Path

import pytest

import riemlin

numpydoc_docscrape = pytest.importorskip("numpydoc.docscrape")
numpydoc_validate = pytest.importorskip("numpydoc.validate")

ROOT = Path(__file__).resolve().parent.parent
CONF = runpy.run_path(str(ROOT / "docs" / "conf.py"))
CHECKS = numpydoc_validate.get_validation_checks(set(CONF["numpydoc_validation_checks"]))
EXCLUDE = re.compile("|".join(CONF["numpydoc_validation_exclude"]) or r"(?!)")
OVERRIDES = {
    code: re.compile("|".join(patterns))
    for code, patterns in CONF["numpydoc_validation_overrides"].items()
}
PENDING = CONF["docstrings_pending"]


def _resolve(dotted: str):
    """The object ``dotted`` names: attributes first, as autosummary's ``riemlin.`` prefix."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


def _api_entries() -> list[str]:
    """The autosummary entries of docs/api.rst, with the ``riemlin.`` prefix."""
    text = (ROOT / "docs" / "api.rst").read_text()
    assert ".. currentmodule:: riemlin\n" in text
    return ["riemlin." + name for name in re.findall(r"^   ([A-Za-z_][\w.]*)$", text, re.M)]


def _own_methods(cls):
    """Public functions defined in the class body (inherited ones belong to their class)."""
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            yield attr, value


@functools.cache
def public_objects() -> dict[str, object]:
    """Qualified name -> object for every documented callable, class and method."""
    objects = {}
    for name in _api_entries():
        obj = _resolve(name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # module constants: numpydoc would read the docstring of their type
        objects[name] = obj
        if inspect.isclass(obj):
            for attr, method in _own_methods(obj):
                objects[f"{name}.{attr}"] = method
    return objects


def _is_record(obj) -> bool:
    return inspect.isclass(obj) and (
        dataclasses.is_dataclass(obj) or (issubclass(obj, tuple) and hasattr(obj, "_fields"))
    )


def _record_fields(cls) -> list[str]:
    if dataclasses.is_dataclass(cls):
        return [field.name for field in dataclasses.fields(cls) if field.init]
    return list(cls._fields)


def numpydoc_errors(name: str, obj) -> list[str]:
    """The docs build's numpydoc errors for one object (checks, overrides as in conf.py)."""
    if isinstance(obj, property):
        doc = numpydoc_docscrape.get_doc_object(obj, what="attribute")
    else:
        doc = numpydoc_docscrape.get_doc_object(obj)
    report = numpydoc_validate.validate(doc)
    errors = []
    for code, message in report["errors"]:
        if code not in CHECKS:
            continue
        override = OVERRIDES.get(code)
        if override is not None and override.search(report["docstring"]):
            # The docs build accepts a record's Attributes section in place of Parameters;
            # here that holds for records only (their fields are checked separately).
            if not (code == "PR01" and not _is_record(obj)):
                continue
        errors.append(f"{code}: {message}")
    if _is_record(obj):
        documented = {
            name.strip()
            for section in ("Attributes", "Parameters")
            for param in doc[section]
            for name in param.name.split(",")
        }
        missing = [field for field in _record_fields(obj) if field not in documented]
        if missing:
            errors.append(f"fields {missing} documented neither as Attributes nor Parameters")
    return errors


# --- the Raises rule --------------------------------------------------------------------


class _Calls(ast.NodeVisitor):
    """``raise`` statements and called names in one function body (not nested ones)."""

    def __init__(self):
        self.raises = False
        self.called: set[str] = set()
        self.self_called: set[str] = set()

    def visit_FunctionDef(self, node):  # nested functions run later, if at all
        pass

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def visit_Raise(self, node):
        self.raises = True
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Name):
            self.called.add(func.id)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id == "self":
                self.self_called.add(func.attr)
        self.generic_visit(node)


def _body(func) -> _Calls | None:
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return None  # generated code (dataclass __init__) or a builtin
    tree = ast.parse(source).body[0]
    calls = _Calls()
    for statement in tree.body:
        calls.visit(statement)
    return calls


def _is_validator(func) -> bool:
    module = getattr(func, "__module__", "") or ""
    name = getattr(func, "__name__", "")
    return inspect.isfunction(func) and (
        module == "riemlin._validation"
        or (module.startswith("riemlin.") and name.lstrip("_").startswith("check_"))
    )


def _owner(func):
    """The class whose body defines the method ``func`` (``None`` for a function)."""
    path = func.__qualname__.split(".")
    if len(path) < 2 or "<locals>" in path:
        return None
    owner = func.__globals__.get(path[0])
    for part in path[1:-1]:
        owner = getattr(owner, part, None)
    return owner if inspect.isclass(owner) else None


@functools.cache
def validates(func) -> bool:
    """Whether ``func`` raises itself or calls a check (``check_*``) that raises."""
    calls = _body(func)
    if calls is None:
        return False
    if calls.raises:
        return True
    callees = [func.__globals__.get(name) for name in calls.called]
    owner = _owner(func)
    if owner is not None:  # self._check_point(...) and the like
        callees += [inspect.getattr_static(owner, name, None) for name in calls.self_called]
        callees = [getattr(c, "__func__", c) for c in callees]
    return any(
        callee is not func and _is_validator(callee) and validates(callee) for callee in callees
    )


def raises_errors(name: str, obj) -> list[str]:
    """A 'Raises' error when a public function or class checks its input undocumented."""
    if isinstance(obj, property):
        return []
    if inspect.isclass(obj):
        hooks = [vars(obj).get(hook) for hook in ("__init__", "__post_init__", "__new__")]
        raising = any(inspect.isfunction(hook) and validates(hook) for hook in hooks)
    else:
        raising = validates(obj)
    if raising and not numpydoc_docscrape.get_doc_object(obj)["Raises"]:
        return ["Raises: checks its input but has no Raises section"]
    return []


# --- the tests --------------------------------------------------------------------------


def _violations(check) -> dict[str, list[str]]:
    found = {}
    for name, obj in public_objects().items():
        if name in PENDING or EXCLUDE.search(name):
            continue
        errors = check(name, obj)
        if errors:
            found[name] = errors
    return found


def _listing(found: dict[str, list[str]]) -> str:
    lines = [f"{len(found)} public names fail:"]
    for name, errors in sorted(found.items()):
        lines += [name] + [f"    {error}" for error in errors]
    return "\n".join(lines)


def test_checks_cover_parameters_and_returns():
    assert {"GL08", "PR01", "PR02", "RT01"} <= CHECKS


def test_every_public_name_is_in_the_api_reference():
    documented = {id(_resolve(name)) for name in _api_entries()}
    missing = []
    for info in pkgutil.walk_packages(riemlin.__path__, "riemlin."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if inspect.ismodule(obj) or attr.startswith("__"):
                continue
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and id(obj) not in documented:
                missing.append(f"{info.name}.{attr}")
    assert not missing, "add to docs/api.rst: " + ", ".join(sorted(missing))


def test_public_docstrings_pass_numpydoc_validation():
    objects = public_objects()
    assert len(objects) > 200  # the API reference was read (functions, classes, methods)
    found = _violations(numpydoc_errors)
    assert not found, _listing(found)


def test_functions_that_check_their_input_document_raises():
    found = _violations(raises_errors)
    assert not found, _listing(found)


def test_pending_names_still_fail():
    """A pending name that passes leaves the list (the docs build validates it again)."""
    objects = public_objects()
    unknown = [name for name in PENDING if name not in objects]
    assert not unknown, f"not public names: {unknown}"
    passing = [
        name
        for name in PENDING
        if not (numpydoc_errors(name, objects[name]) or raises_errors(name, objects[name]))
    ]
    assert not passing, f"remove from docstrings_pending in docs/conf.py: {passing}"


def test_every_exclusion_names_something():
    """An exclusion that matches no name in the API reference is stale."""
    names = _api_entries() + list(public_objects())
    stale = [
        pattern
        for pattern in CONF["numpydoc_validation_exclude"]
        if not any(re.search(pattern, name) for name in names)
    ]
    assert not stale, f"remove from numpydoc_validation_exclude in docs/conf.py: {stale}"


def test_validation_flags_a_bad_docstring():
    """The checks see missing parameters, returns and raises (so a pass means something)."""

    def undocumented(x, y):
        """Sum of two numbers."""
        if x is None:
            raise ValueError("x")
        return x + y

    errors = numpydoc_errors("undocumented", undocumented)
    assert any(error.startswith("PR01") for error in errors)
    assert any(error.startswith("RT01") for error in errors)
    assert raises_errors("undocumented", undocumented)
