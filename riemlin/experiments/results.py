"""The results table: an append-only CSV file, one line per finished run.

Only the driver process writes. Each record is one line (messages are kept on one line),
written with a single ``write`` call, flushed and ``fsync``-ed before the next run is
counted as done; the last column is a CRC-32 of the other fields. A file whose last line
has no newline (the writer stopped mid-record), a line with the wrong number of fields,
a checksum that does not match, a header that is not the sweep's, or two records of one
run are refused with :class:`ResultsError`, and the file is left as it is.
"""

from __future__ import annotations

import csv
import io
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from riemlin.experiments.spec import META_COLUMNS, TAIL_COLUMNS

__all__ = ["ResultsError", "Results", "read_results"]

try:  # advisory lock: two drivers must not append to one file
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None


class ResultsError(ValueError):
    """A results file that is corrupted, truncated, from another sweep or already there."""


def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value)) if math.isfinite(value) else str(float(value))
    return " ".join(str(value).split())  # one line, no control characters


def _checksum(fields) -> str:
    return format(zlib.crc32("\x1f".join(fields).encode()), "08x")


def format_record(columns, record: dict) -> str:
    """One CSV line (with its newline) for ``record``; the checksum column is computed."""
    fields = [_cell(record.get(c, "")) for c in columns[:-1]]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields + [_checksum(fields)])
    return buf.getvalue()


def _header(columns) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(columns)
    return buf.getvalue()


@dataclass
class Results:
    """A results table read back.

    Attributes
    ----------
    path : pathlib.Path
        The file read.
    columns : tuple of str
        The header, in file order.
    rows : list of dict
        The records as strings, in file order.
    """

    path: Path
    columns: tuple
    rows: list

    @property
    def run_ids(self) -> set:
        """Identifiers of the recorded runs."""
        return {r["run_id"] for r in self.rows}

    def column(self, name: str) -> np.ndarray:
        """One column as a float array when every entry parses as a number, else strings.

        Parameters
        ----------
        name : str
            A name in :attr:`columns`.

        Returns
        -------
        ndarray
            One entry per row: ``float`` (empty entries as ``nan``) when all parse as
            numbers, otherwise the strings in an ``object`` array.

        Raises
        ------
        KeyError
            If the table has no column ``name``.
        """
        if name not in self.columns:
            raise KeyError(f"no column {name!r} in {self.path} (columns: {self.columns})")
        values = [r[name] for r in self.rows]
        try:
            return np.array([float(v) if v != "" else np.nan for v in values], dtype=float)
        except ValueError:
            return np.array(values, dtype=object)


def read_results(path, columns=None) -> Results:
    """Read and validate a results file.

    Parameters
    ----------
    path : str or path-like
        The results file (CSV written by :func:`riemlin.experiments.run_sweep`).
    columns : sequence of str, optional
        The header the file must have (a sweep's :attr:`Sweep.columns`); any header with
        riemlin's fixed columns when omitted.

    Returns
    -------
    Results
        The path, the header and the records (as strings), validated line by line.

    Raises
    ------
    ResultsError
        If the file is empty, not text, truncated, has a foreign header, a malformed
        line, a bad checksum or a run recorded twice; the message gives the line.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ResultsError(f"results file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ResultsError(
            f"results file {path} is corrupted: not UTF-8 text ({exc.reason} at byte "
            f"{exc.start}); it was left untouched"
        ) from None
    where = f"results file {path}"
    if not text:
        raise ResultsError(f"{where} is empty (no header); remove it or choose another path")
    lines = text.split("\n")
    if lines[-1] != "":
        raise ResultsError(
            f"{where} is truncated: line {len(lines)} has no end (the writer stopped in the "
            f"middle of a record); the file was left untouched -- delete that last line to "
            f"resume"
        )
    lines = lines[:-1]
    header = tuple(next(csv.reader([lines[0]])))
    if columns is not None and header != tuple(columns):
        extra = [c for c in header if c not in columns]
        missing = [c for c in columns if c not in header]
        raise ResultsError(
            f"{where} was written by a different sweep (columns differ: missing {missing}, "
            f"unexpected {extra}); choose another results path"
        )
    need = [c for c in META_COLUMNS + TAIL_COLUMNS if c not in header]
    if need or header[-1] != "checksum":
        raise ResultsError(f"{where} is not a riemlin results table (header lacks {need})")
    rows, seen = [], {}
    for lineno, line in enumerate(lines[1:], start=2):
        try:
            fields = next(csv.reader([line]))
        except (csv.Error, StopIteration) as exc:
            raise ResultsError(f"{where} is corrupted at line {lineno}: {exc}") from None
        if len(fields) != len(header) or _checksum(fields[:-1]) != fields[-1]:
            raise ResultsError(
                f"{where} is corrupted at line {lineno}: "
                + (
                    f"{len(fields)} fields, expected {len(header)}"
                    if len(fields) != len(header)
                    else "checksum mismatch (the line was altered)"
                )
                + "; the file was left untouched"
            )
        row = dict(zip(header, fields))
        if row["run_id"] in seen:
            raise ResultsError(
                f"{where} records run {row['run_id']} twice (lines {seen[row['run_id']]} and "
                f"{lineno})"
            )
        seen[row["run_id"]] = lineno
        rows.append(row)
    return Results(path, header, rows)


class ResultsWriter:
    """Append records to a results file (the driver's only writer; use as a context manager).

    Parameters
    ----------
    path : path-like
    columns : tuple of str
    create : bool
        Create the file with its header (it must not exist) instead of appending.
    """

    def __init__(self, path, columns, *, create: bool):
        self.path, self.columns = Path(path), tuple(columns)
        mode = "x" if create else "a"
        try:
            self._fh = open(self.path, mode, encoding="utf-8", newline="")
        except FileExistsError:
            raise ResultsError(
                f"results file {self.path} already exists; pass --resume (resume=True) to "
                "continue it, or choose another path"
            ) from None
        if fcntl is not None:
            try:
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._fh.close()
                raise ResultsError(
                    f"results file {self.path} is in use by another sweep (locked)"
                ) from None
        if create:
            self._write(_header(self.columns))

    def _write(self, line: str) -> None:
        self._fh.write(line)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def append(self, record: dict) -> None:
        """Write one record and make it durable."""
        self._write(format_record(self.columns, record))

    def close(self) -> None:
        """Release the lock and close the file."""
        self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
