"""Input checks shared by riemlin's public entry points.

Every check raises ``TypeError`` or ``ValueError`` with a message that names the
argument, says what was passed and what is allowed.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_generator(rng) -> np.random.Generator:
    """A ``numpy.random.Generator`` from ``None``, a seed, a SeedSequence or a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (numbers.Integral, np.random.SeedSequence)):
        if isinstance(rng, numbers.Integral) and rng < 0:
            raise ValueError(f"rng: a seed must be non-negative; got {rng}")
        return np.random.default_rng(rng)
    raise TypeError(
        "rng must be None, a non-negative int seed, a numpy.random.SeedSequence or a "
        f"numpy.random.Generator; got {type(rng).__name__}"
    )


def numerical_rank(singular_values, shape) -> int:
    """Count of singular values above ``max(shape) * eps * s_1`` (as ``np.linalg.matrix_rank``)."""
    sv = np.asarray(singular_values)
    if sv.size == 0 or not sv[0] > 0:
        return 0
    return int(np.sum(sv > max(shape) * np.finfo(float).eps * sv[0]))


def check_int(value, name: str, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int; got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def check_array(x, name: str, shape=None, ndim=None) -> np.ndarray:
    """A finite float64 array with the given shape (``None`` entries are free)."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real numeric array; got {type(x).__name__}") from exc
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(
            want is not None and have != want for have, want in zip(arr.shape, shape)
        ):
            want = tuple("*" if w is None else w for w in shape)
            raise ValueError(f"{name} must have shape {want}; got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has non-finite entries (nan or inf)")
    return arr


def check_shape(x, name: str, shape: tuple) -> None:
    """Shape check only (no copy, no scan of the entries)."""
    got = getattr(x, "shape", None)
    if got is None:
        raise TypeError(f"{name} must be an ndarray of shape {shape}; got {type(x).__name__}")
    if got != shape:
        raise ValueError(f"{name} must have shape {shape}; got {got}")
