"""Sweep declarations: a TOML file or a dict, checked key by key, expanded into runs.

A sweep has three tables::

    [sweep]                      # required
    name = "reach-global-minimum"
    kind = "factor_descent"      # or a list of kinds run on the same grid
    seeds = 20                   # replicates per grid point
    seed = 2024                  # the sweep seed (default 0)
    record = ["gap", "rank_reached"]   # optional subset of what the kinds measure
    description = "..."          # optional

    [fixed]                      # parameters shared by every run (optional)
    m = 6

    [grid]                       # parameters to cross (optional), each a non-empty list
    depth = [1, 2, 3]

Every run is identified by its kind, its parameters (defaults filled in), its replicate
and the sweep seed; its random draws come from a :class:`numpy.random.SeedSequence` built
from the sweep seed, the replicate and a SHA-256 digest of the parameters that the kind
declares as *draws* -- never from Python's ``hash`` (salted per process) nor from the
order of the runs, so any process reproduces any run from its row alone.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import numbers
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from riemlin.experiments.kinds import KINDS, RunKind

__all__ = ["SweepError", "Sweep", "Run", "load_sweep", "run_seed"]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Columns written before the parameters, and after the records.
META_COLUMNS = ("run_id", "sweep", "kind", "replicate", "sweep_seed", "riemlin_version")
TAIL_COLUMNS = ("status", "message", "runtime", "checksum")

_TOP = ("sweep", "fixed", "grid")
_SWEEP_KEYS = ("name", "kind", "seeds", "seed", "record", "description")


class SweepError(ValueError):
    """A sweep declaration that cannot be run; the message names the offending key."""


@dataclass(frozen=True)
class Run:
    """One run of a sweep.

    Attributes
    ----------
    run_id : str
        16 hex digits, a digest of kind, parameters, replicate and sweep seed.
    kind : str
        Name of the run kind.
    replicate : int
        Index of the seed, ``0 <= replicate < seeds``.
    params : dict
        Every parameter of the kind, defaults filled in.
    seed : numpy.random.SeedSequence
        Source of all the run's random draws.
    """

    run_id: str
    kind: str
    replicate: int
    params: dict
    seed: np.random.SeedSequence


def _canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def run_seed(sweep_seed: int, replicate: int, draws: dict) -> np.random.SeedSequence:
    """The seed of a run: ``SeedSequence([sweep_seed, replicate, *digest(draws)])``.

    Parameters
    ----------
    sweep_seed : int
        The sweep's ``seed``.
    replicate : int
        Index of the replicate.
    draws : dict
        The run's values of the kind's draw parameters.

    Returns
    -------
    numpy.random.SeedSequence
        Equal for equal arguments in every process (the digest is SHA-256 of the
        canonical JSON of ``draws``, read as four 32-bit words).
    """
    digest = hashlib.sha256(_canonical(draws)).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.SeedSequence([int(sweep_seed), int(replicate), *words])


@dataclass(frozen=True)
class Sweep:
    """A checked sweep declaration (build it with :func:`load_sweep`).

    Attributes
    ----------
    name : str
        The sweep's name (recorded in every row of its results).
    kinds : tuple of str
        The run kinds; each grid point and replicate runs once per kind.
    seeds : int
        Replicates per grid point.
    seed : int
        The sweep seed.
    fixed : dict
        Parameters shared by every run.
    grid : dict of str to tuple
        Parameters crossed with each other (Cartesian product, in declaration order).
    record : tuple of str
        The measured quantities written to the results.
    description : str
        Free text from the declaration.
    source : str
        Where the declaration came from (a path, or ``"<dict>"``).
    """

    name: str
    kinds: tuple
    seeds: int
    seed: int
    fixed: dict
    grid: dict
    record: tuple
    description: str = ""
    source: str = "<dict>"

    @property
    def parameters(self) -> tuple:
        """Names of all the parameters of the kinds, in declaration order."""
        names = {}
        for kind in self.kinds:
            names.update(dict.fromkeys(KINDS[kind].parameters))
        return tuple(names)

    @property
    def columns(self) -> tuple:
        """Columns of the results table."""
        return META_COLUMNS + self.parameters + self.record + TAIL_COLUMNS

    def __len__(self) -> int:
        points = int(np.prod([len(v) for v in self.grid.values()])) if self.grid else 1
        return points * self.seeds * len(self.kinds)

    def runs(self) -> list[Run]:
        """Every run, replicate by replicate (an interrupted sweep covers the grid evenly).

        Returns
        -------
        list of Run
            For each replicate, each grid point (Cartesian product in declaration order)
            and each kind, one run with its parameters and seed.
        """
        names = list(self.grid)
        out = []
        for replicate in range(self.seeds):
            for values in itertools.product(*(self.grid[k] for k in names)):
                point = dict(self.fixed, **dict(zip(names, values)))
                for kind_name in self.kinds:
                    kind = KINDS[kind_name]
                    params = {p: point.get(p, spec.default) for p, spec in kind.parameters.items()}
                    ident = {
                        "kind": kind_name,
                        "params": params,
                        "replicate": replicate,
                        "seed": self.seed,
                    }
                    run_id = hashlib.sha256(_canonical(ident)).hexdigest()[:16]
                    seed = run_seed(self.seed, replicate, {d: params[d] for d in kind.draws})
                    out.append(Run(run_id, kind_name, replicate, params, seed))
        return out


def _table(obj, key, where):
    value = obj.get(key, {})
    if not isinstance(value, dict):
        raise SweepError(f"{where}: [{key}] must be a table; got {type(value).__name__}")
    return value


def _kind_param(kinds: list[RunKind], key: str, where: str):
    for kind in kinds:
        if key not in kind.parameters:
            allowed = ", ".join(kind.parameters)
            raise SweepError(
                f"{where}: unknown key {key!r}: kind {kind.name!r} has no parameter of that "
                f"name (allowed: {allowed})"
            )
    return kinds[0].parameters[key]


def _check(param, value, name, where):
    try:
        return param.check(value, name)
    except (TypeError, ValueError) as exc:
        raise SweepError(f"{where}: {exc}") from None


def load_sweep(source) -> Sweep:
    """Read and check a sweep declaration.

    Parameters
    ----------
    source : str, path-like or dict
        A TOML file, or a dict with the same tables (``sweep``, ``fixed``, ``grid``).

    Returns
    -------
    Sweep
        The checked declaration: kinds, seeds, fixed parameters, grid and records.

    Raises
    ------
    SweepError
        For a file that is not TOML, an unknown key, a value of the wrong type or out of
        range, a key both fixed and in the grid, or a grid point the kind cannot run; the
        message names the file and the key (``grid.depth[2]``, ``sweep.seeds``, ...).
    """
    if isinstance(source, dict):
        data, where = source, "sweep <dict>"
    elif isinstance(source, (str, Path)):
        path = Path(source)
        where = f"sweep file {path}"
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise SweepError(f"{where}: no such file") from None
        except tomllib.TOMLDecodeError as exc:
            raise SweepError(f"{where}: not valid TOML: {exc}") from None
    else:
        raise TypeError(f"source must be a path or a dict; got {type(source).__name__}")
    for key in data:
        if key not in _TOP:
            raise SweepError(f"{where}: unknown key {key!r} (allowed tables: {', '.join(_TOP)})")
    if "sweep" not in data:
        raise SweepError(f"{where}: missing the [sweep] table (name, kind, seeds)")
    head = _table(data, "sweep", where)
    for key in head:
        if key not in _SWEEP_KEYS:
            raise SweepError(
                f"{where}: unknown key 'sweep.{key}' (allowed: {', '.join(_SWEEP_KEYS)})"
            )
    for key in ("name", "kind", "seeds"):
        if key not in head:
            raise SweepError(f"{where}: missing key 'sweep.{key}'")
    name = head["name"]
    if not isinstance(name, str) or not name:
        raise SweepError(f"{where}: sweep.name must be a non-empty string; got {name!r}")
    kinds = head["kind"] if isinstance(head["kind"], list) else [head["kind"]]
    if not kinds or not all(isinstance(k, str) for k in kinds):
        raise SweepError(f"{where}: sweep.kind must be a string or a list of strings")
    for k in kinds:
        if k not in KINDS:
            raise SweepError(
                f"{where}: sweep.kind {k!r} is not a run kind (known: {', '.join(KINDS)})"
            )
    if len(set(kinds)) != len(kinds):
        raise SweepError(f"{where}: sweep.kind lists a kind twice: {kinds}")
    kind_objs = [KINDS[k] for k in kinds]
    seeds, seed = head["seeds"], head.get("seed", 0)
    for key, value, low in (("seeds", seeds, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise SweepError(f"{where}: sweep.{key} must be an int >= {low}; got {value!r}")
    description = head.get("description", "")
    if not isinstance(description, str):
        raise SweepError(f"{where}: sweep.description must be a string")
    measured = list(dict.fromkeys(r for k in kind_objs for r in k.records))
    record = head.get("record", measured)
    if not isinstance(record, list) or not all(isinstance(r, str) for r in record):
        raise SweepError(f"{where}: sweep.record must be a list of strings; got {record!r}")
    for r in record:
        if r not in measured:
            raise SweepError(
                f"{where}: sweep.record names {r!r}, which the kinds do not measure "
                f"(they measure: {', '.join(measured)}; status, message and runtime are "
                "always recorded)"
            )

    fixed_in, grid_in = _table(data, "fixed", where), _table(data, "grid", where)
    fixed = {}
    for key, value in fixed_in.items():
        param = _kind_param(kind_objs, key, f"{where}: fixed.{key}")
        fixed[key] = _check(param, value, f"fixed.{key}", where)
    grid = {}
    for key, values in grid_in.items():
        param = _kind_param(kind_objs, key, f"{where}: grid.{key}")
        if key in fixed:
            raise SweepError(f"{where}: key {key!r} is both in [fixed] and in [grid]")
        if not isinstance(values, list) or not values:
            raise SweepError(
                f"{where}: grid.{key} must be a non-empty list; got {values!r} "
                f"(put single values in [fixed])"
            )
        checked = tuple(_check(param, v, f"grid.{key}[{i}]", where) for i, v in enumerate(values))
        if len(set(checked)) != len(checked):
            raise SweepError(f"{where}: grid.{key} has repeated values: {list(values)}")
        grid[key] = checked
    sweep = Sweep(
        name, tuple(kinds), int(seeds), int(seed), fixed, grid, tuple(record), description
    )
    sweep = Sweep(**{**sweep.__dict__, "source": where.removeprefix("sweep file ")})
    for run in sweep.runs()[: len(sweep) // sweep.seeds]:  # one replicate covers the grid
        check = KINDS[run.kind].check
        if check is not None:
            try:
                check(run.params)
            except ValueError as exc:
                point = ", ".join(f"{k}={run.params[k]!r}" for k in grid) or "fixed values"
                raise SweepError(
                    f"{where}: kind {run.kind!r} cannot run at {point}: {exc}"
                ) from None
    return sweep
