r"""Input checks shared by riemlin's public entry points: the one validation layer.

Every check raises ``TypeError`` or ``ValueError`` with a message that names the
argument, says what was passed and what is allowed. The rules, the same everywhere:

* **Real numbers only.** Arrays (and nested lists, which are converted) of a real
  floating or integer dtype are accepted and converted to ``float64``; complex, boolean,
  object, string and other dtypes raise ``TypeError`` (a complex array is never silently
  cut to its real part). Ragged nested lists raise ``TypeError``.
* **Shapes** are checked against what the argument means (``ndim``, exact sizes, no
  empty matrices).
* **Finite entries**: ``nan`` and ``inf`` raise ``ValueError`` unless a caller says
  otherwise.
* **Points** ``(u, s, vt)`` of :math:`\mathcal M_k` have positive ``s`` and orthonormal
  frames: :math:`\max_{ij} |(u^\top u - I)_{ij}| \le \tau(m)` and the same for
  ``vt`` with ``n``, where :math:`\tau(r) = 100\sqrt{r}\,\varepsilon`
  (:func:`orthonormality_tolerance`).

Inner numerical code stays free of checks (autograd must trace it).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

EPS = float(np.finfo(float).eps)


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
    return int(np.sum(sv > max(shape) * EPS * sv[0]))


def check_int(value, name: str, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int; got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def check_real(x, name: str, *, finite: bool = True) -> float:
    """A real number (a Python or numpy int or float; bools are refused) as a float."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {x!r} ({type(x).__name__})")
    try:
        value = float(x)
    except OverflowError:
        raise ValueError(f"{name} is too large for a float; got {x!r}") from None
    if finite and not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    return value


def check_positive(x, name: str, *, allow_inf: bool = False) -> float:
    """A positive real number (finite unless ``allow_inf``); bools are refused."""
    value = check_real(x, name, finite=False)
    if not (value > 0 and (allow_inf or np.isfinite(value))):
        what = "positive number (inf allowed)" if allow_inf else "positive finite number"
        raise ValueError(f"{name} must be a {what}; got {value!r}")
    return value


def check_nonnegative(x, name: str) -> float:
    """A finite real number ``>= 0``."""
    value = check_real(x, name)
    if not value >= 0:
        raise ValueError(f"{name} must be a non-negative number; got {value!r}")
    return value


def check_real_dtype(x, name: str) -> None:
    """Refuse an array whose dtype is not real (``O(1)``: the entries are not read)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        raise TypeError(f"{name} must be a numpy array; got {type(x).__name__}")
    if dtype.kind not in "fiu":
        raise TypeError(_dtype_message(name, dtype))


def _dtype_message(name: str, dtype) -> str:
    what = {
        "c": "complex",
        "b": "boolean",
        "O": "object",
        "U": "string",
        "S": "bytes",
    }.get(dtype.kind, str(dtype))
    return f"{name} must hold real numbers (a float or int dtype); got {what} dtype {dtype}" + (
        "; pass the real part explicitly if that is what you mean" if what == "complex" else ""
    )


def real_array(x, name: str) -> np.ndarray:
    """``x`` as a ``float64`` array: real float/int arrays or nested lists, nothing else.

    Raises
    ------
    TypeError
        For ``None``, complex, boolean, object or string data, sparse matrices, ragged
        nested lists and anything numpy cannot read as an array of real numbers.
    """
    if x is None:
        raise TypeError(f"{name} must be an array of real numbers; got None")
    if hasattr(x, "tocsr") and hasattr(x, "nnz"):  # scipy.sparse, without importing it
        raise TypeError(f"{name} must be a dense array; got the sparse {type(x).__name__}")
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:  # ragged nested lists, odd objects
            raise TypeError(
                f"{name} must be an array of real numbers (a regular nested list is "
                f"converted); got {type(x).__name__} that numpy cannot read: {exc}"
            ) from None
    if arr.dtype.kind not in "fiu":
        raise TypeError(_dtype_message(name, arr.dtype))
    return arr.astype(float, copy=False)


def check_array(
    x,
    name: str,
    shape=None,
    ndim=None,
    *,
    finite: bool = True,
    allow_empty: bool = False,
) -> np.ndarray:
    """A ``float64`` array with the given shape (``None`` entries are free).

    Parameters
    ----------
    x : array_like
        Real numbers (see :func:`real_array`).
    name : str
        The argument's name, for the messages.
    shape : tuple, optional
        Required shape; ``None`` entries match any size.
    ndim : int, optional
        Required number of dimensions.
    finite : bool, default True
        Refuse ``nan`` and ``inf`` entries.
    allow_empty : bool, default False
        Accept arrays with a zero-length axis.
    """
    arr = real_array(x, name)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(
            want is not None and have != want for have, want in zip(arr.shape, shape)
        ):
            want = tuple("*" if w is None else w for w in shape)
            raise ValueError(f"{name} must have shape {want}; got {arr.shape}")
    if not allow_empty and arr.ndim > 0 and arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has non-finite entries (nan or inf)")
    return arr


def check_shape(x, name: str, shape: tuple) -> None:
    """Shape and dtype check only (no copy, no scan of the entries)."""
    got = getattr(x, "shape", None)
    if got is None:
        raise TypeError(f"{name} must be an ndarray of shape {shape}; got {type(x).__name__}")
    if got != shape:
        raise ValueError(f"{name} must have shape {shape}; got {got}")
    check_real_dtype(x, name)


# ---------------------------------------------------------------------- points
def orthonormality_tolerance(rows: int) -> float:
    r"""Tolerance :math:`\tau(r) = 100\sqrt{r}\,\varepsilon` on :math:`|(Q^\top Q - I)_{ij}|`.

    For ``Q`` with ``r`` rows from a backward-stable orthogonalization (Householder QR,
    an SVD, a product of such factors) each entry of :math:`Q^\top Q - I` is a sum of
    ``r`` rounded products: its rounding error grows like :math:`\sqrt r\,\varepsilon`
    (probabilistic rounding analysis, Higham and Mary, SIAM J. Sci. Comput. 41 (2019)),
    plus a small multiple of :math:`\varepsilon` from the orthogonalization. Measured on
    QR and SVD factors with ``r`` from 3 to 200000 and after 50 retractions: at most
    :math:`13\varepsilon`, i.e. at most :math:`4\sqrt r\,\varepsilon`. The factor 100
    leaves room for accumulated products while still refusing frames that were scaled,
    zeroed or computed in single precision (errors of ``1e-7`` and above).
    """
    return 100.0 * np.sqrt(max(int(rows), 1)) * EPS


def orthonormality_error(Q: np.ndarray) -> float:
    """``max |Q^T Q - I|`` entrywise, for ``Q`` with orthonormal columns (``O(r k^2)``)."""
    gram = Q.T @ Q
    gram[np.diag_indices_from(gram)] -= 1.0
    return float(np.max(np.abs(gram))) if gram.size else 0.0


def check_point(point, name: str = "point", shape=None, *, convert: bool = True):
    r"""Validate a point ``(u, s, vt)`` of :math:`\mathcal M_k`; return ``(u, s, vt)``.

    Checks: a triple; real dtypes (converted to ``float64`` when ``convert``, which also
    accepts nested lists); shapes ``(m, k)``, ``(k,)``, ``(k, n)`` (and ``shape = (m, n,
    k)`` when given); finite entries; ``s > 0``; orthonormal ``u`` columns and ``vt``
    rows to :func:`orthonormality_tolerance`. Cost :math:`O((m+n)k^2)`.

    Parameters
    ----------
    point : tuple (u, s, vt)
    name : str
    shape : tuple (m, n, k), optional
        Required sizes (``None`` entries are free).
    convert : bool, default True
        Convert the arrays to ``float64``; ``False`` only checks dtypes (hot paths that
        keep the caller's arrays).

    Raises
    ------
    TypeError
        If ``point`` is not a triple or holds non-real data.
    ValueError
        For wrong shapes, non-finite entries, non-positive ``s`` or frames that are not
        orthonormal.
    """
    if not isinstance(point, (tuple, list)) or len(point) != 3:
        raise TypeError(
            f"{name} must be a point: a triple (u, s, vt) (a thin SVD: u (m, k), s (k,), "
            f"vt (k, n)) as returned by point_from_matrix or to_point; got "
            f"{type(point).__name__}"
            + (f" of length {len(point)}" if isinstance(point, (tuple, list)) else "")
        )
    parts = []
    for part, x in zip(("u", "s", "vt"), point):
        if convert:
            parts.append(real_array(x, f"{name}.{part}"))
        else:
            check_real_dtype(x, f"{name}.{part}")
            parts.append(x)
    u, s, vt = parts
    if u.ndim != 2 or s.ndim != 1 or vt.ndim != 2 or u.shape[1] != s.size or vt.shape[0] != s.size:
        raise ValueError(
            f"{name}: a point is (u, s, vt) with shapes (m, k), (k,), (k, n); got "
            f"{u.shape}, {s.shape}, {vt.shape}"
        )
    if shape is not None:
        got = (u.shape[0], vt.shape[1], s.size)
        if any(w is not None and g != w for g, w in zip(got, shape)):
            want = "x".join("*" if w is None else str(w) for w in shape[:2])
            raise ValueError(
                f"{name} must be a point of rank {shape[2]} {want} matrices; got a rank-{got[2]} "
                f"point of {got[0]}x{got[1]} matrices"
            )
    if s.size == 0 or u.shape[0] == 0 or vt.shape[1] == 0:
        raise ValueError(f"{name}: a point needs m, n, k >= 1; got shapes {u.shape}, {vt.shape}")
    for part, x in zip(("u", "s", "vt"), (u, s, vt)):
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name}.{part} has non-finite entries (nan or inf)")
    if not np.all(s > 0):
        raise ValueError(
            f"{name}.s must hold the {s.size} positive singular values of a rank-{s.size} "
            f"matrix; got {s}"
        )
    for part, Q, rows in (("u", u, u.shape[0]), ("vt", vt.T, vt.shape[1])):
        err = orthonormality_error(np.asarray(Q, dtype=float))
        tol = orthonormality_tolerance(rows)
        if not err <= tol:
            what = "columns" if part == "u" else "rows"
            raise ValueError(
                f"{name}.{part} must have orthonormal {what} (a thin SVD); "
                f"max |{part}{'^T u' if part == 'u' else ' vt^T'} - I| = {err:.3g} > "
                f"{tol:.3g} = 100 sqrt({rows}) eps. Build points with point_from_matrix, "
                "to_point or a retraction, or re-orthonormalize (e.g. an SVD of u diag(s) vt)"
            )
    return u, s, vt


# ---------------------------------------------------------------------- runs
def check_times(t_eval, name: str = "t_eval") -> np.ndarray:
    """A non-empty, finite, strictly increasing 1-D array of times."""
    t = real_array(t_eval, name)
    if t.ndim != 1 or t.size < 1:
        raise ValueError(f"{name} must be a non-empty 1-D array of times; got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name} has non-finite entries (nan or inf)")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{name} must be strictly increasing; got {t}")
    return t


def check_optional_step(x, name: str) -> float | None:
    """``None`` or a positive finite step size."""
    return None if x is None else check_positive(x, name)


# ---------------------------------------------------------------------- layers
def check_factors(factors, name: str = "factors") -> list[np.ndarray]:
    """A non-empty list ``[W_1, ..., W_N]`` of finite 2-D arrays whose shapes chain."""
    if isinstance(factors, np.ndarray) or not isinstance(factors, Sequence):
        raise TypeError(
            f"{name} must be a list [W_1, ..., W_N] of 2-D arrays; got {type(factors).__name__}"
        )
    if isinstance(factors, (str, bytes)):
        raise TypeError(f"{name} must be a list [W_1, ..., W_N] of 2-D arrays; got a string")
    if len(factors) == 0:
        raise ValueError(f"{name} is empty; a network needs at least one layer W_1")
    out = [check_array(W, f"{name}[{j}] (W_{j + 1})", ndim=2) for j, W in enumerate(factors)]
    for j in range(1, len(out)):
        if out[j].shape[1] != out[j - 1].shape[0]:
            raise ValueError(
                f"{name}: shapes do not chain at index {j}: W_{j + 1} = {name}[{j}] has "
                f"shape {out[j].shape}, so it needs {out[j].shape[1]} rows in "
                f"W_{j} = {name}[{j - 1}], which has shape {out[j - 1].shape} "
                f"(W_j must be d_j x d_(j-1))"
            )
    return out


def final_matrix(result, name: str = "result") -> np.ndarray:
    """The last end-to-end matrix of a run (a ``FlowResult``, matrices or points) or a matrix.

    ``result.W`` may be an array ``(T, m, n)``, a list of points ``(u, s, vt)`` (runs with
    ``output="point"``) or one matrix; ``result`` itself may be such an object.
    """
    W = getattr(result, "W", result)
    if isinstance(W, list) and W and all(isinstance(p, tuple) and len(p) == 3 for p in W):
        u, s, vt = check_point(W[-1], f"{name}.W[-1]")
        return (u * s) @ vt
    if isinstance(W, tuple) and len(W) == 3:
        u, s, vt = check_point(W, name)
        return (u * s) @ vt
    W = real_array(W, f"{name}.W" if W is not result else name)
    if W.ndim == 3 and W.shape[0] > 0:
        W = W[-1]
    return check_array(W, f"{name}.W[-1]" if W is not result else name, ndim=2)
