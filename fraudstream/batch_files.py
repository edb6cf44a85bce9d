"""Batch input files (training, scoring, replay): CSV or Parquet with the transaction fields, plus
an optional `is_fraud` (0/1). Other column names are mapped explicitly, never guessed.

A row is valid when the transaction event with its values is: the file's columns are checked with
the event contract's own rules (`fraudstream.contracts.transaction_rules`, each distinct value once),
and an invalid row gets the reason the stream would quarantine the event with. What is particular to
files is only how they store values: an empty CSV cell (or a null) is an absent field, CSV numbers are
text until read, and a Parquet integer id column is read as its digits. Event times need their UTC
offset, as in the event; a file of offset-less times may be declared UTC (`naive_times_utc`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from fraudstream.contracts import TRANSACTION_ARROW_SCHEMA, InvalidRecord, transaction_rules
from fraudstream.exceptions import BatchFileError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = [
    "REQUIRED_COLUMNS",
    "BatchFile",
    "InvalidRows",
    "batch_file_format",
    "load_batch_file",
    "parse_column_map",
    "read_batch_file",
    "write_batch_file",
]

REQUIRED_COLUMNS: Final = ("transaction_id", "event_time", "card_id", "terminal_id", "amount")
OPTIONAL_COLUMNS: Final = ("currency", "merchant_category", "channel", "country", "lat", "lon", "is_fraud", "scenario")
_ID_COLUMNS: Final = ("transaction_id", "card_id", "terminal_id")
_NUMBER_COLUMNS: Final = ("amount", "lat", "lon")
# Read from CSV as text: ids keep their leading zeros, and event times are parsed by the contract
# (not by pyarrow's own timestamp inference).
_STRING_COLUMNS: Final = (
    "event_time",
    "transaction_id",
    "card_id",
    "terminal_id",
    "currency",
    "merchant_category",
    "channel",
    "country",
)
# A row that repeats an earlier row's transaction_id. The other reasons are the event contract's
# (`fraudstream.contracts.transaction_rules`, the processor's quarantine reasons).
DUPLICATE_ID: Final = "duplicate_transaction_id"
_SHOWN_ROWS: Final = 3
_SKIP_HINT: Final = (
    "fix the file, or leave out its invalid rows and have them reported with --skip-invalid "
    "(train, score, produce --from)"
)
_NAIVE_TIMES_HINT: Final = (
    "if the file's event times are UTC written without an offset, read them as UTC with --naive-times-utc "
    "(train, score, produce --from, invoke, process --history)"
)
# The event time's rule with offset-less times read as UTC: what tells a refusal that flag would fix.
_EVENT_TIME_AS_UTC: Final = next(r.check for r in transaction_rules(naive_times_utc=True) if r.name == "event_time")


@dataclass(frozen=True)
class InvalidRows:
    """The rows of a batch-input file left out because they break the contract.

    Attributes:
        total: rows in the file.
        counts: rows left out per reason code.
        first_rows: per reason, the first few row numbers (as `read_batch_file` numbers rows).
    """

    total: int
    counts: dict[str, int] = field(default_factory=dict)
    first_rows: dict[str, list[int]] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        """Rows left out."""
        return sum(self.counts.values())

    def summary(self) -> str:
        """One line, e.g. `skipped 3 invalid rows of 1,000: out_of_range 2 (rows 5, 17), bad_timestamp 1 (row 9)`."""
        if not self.skipped:
            return f"no invalid rows among {self.total:,}"
        parts = []
        for reason, count in sorted(self.counts.items(), key=lambda item: (-item[1], item[0])):
            rows = self.first_rows[reason]
            more = ", ..." if count > len(rows) else ""
            parts.append(f"{reason} {count:,} ({'rows' if count > 1 else 'row'} {', '.join(map(str, rows))}{more})")
        return f"skipped {self.skipped:,} invalid row{'s' if self.skipped > 1 else ''} of {self.total:,}: " + ", ".join(
            parts
        )


@dataclass(frozen=True)
class BatchFile:
    """A batch-input file's valid rows, sorted by event time, and what was left out."""

    frame: pd.DataFrame
    invalid: InvalidRows


def parse_column_map(items: list[str] | None) -> dict[str, str]:
    """`["transaction_id=TX_ID", ...]` -> `{"transaction_id": "TX_ID"}` (contract name = file column)."""
    mapping: dict[str, str] = {}
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    for item in items or []:
        name, sep, column = item.partition("=")
        if not sep or not name or not column:
            raise BatchFileError(f"column map entry {item!r} is not NAME=COLUMN")
        if name not in known:
            raise BatchFileError(f"column map names {name!r}, which is not a field of the batch-input schema")
        mapping[name] = column
    return mapping


def read_batch_file(
    path: Path, column_map: dict[str, str] | None = None, *, naive_times_utc: bool = False
) -> pd.DataFrame:
    """Read and check a batch-input file, refusing it at its first invalid row; rows come back
    sorted by event time (UTC).

    Args:
        path: a `.csv` or `.parquet` file.
        column_map: contract field name -> the file's column name, for files with other names.
        naive_times_utc: read event times without a UTC offset as UTC (`load_batch_file`).

    Raises:
        BatchFileError: unreadable file, missing column, or a row that breaks the contract
            (the message names the column and the row).
    """
    return load_batch_file(path, column_map, naive_times_utc=naive_times_utc).frame


def batch_file_format(path: Path) -> Literal["csv", "parquet"]:
    """The format a batch-input file's suffix names: `.csv`, or `.parquet` (also `.pq`).

    Raises:
        BatchFileError: any other suffix.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise BatchFileError(
        f"{path}: unsupported file type {suffix!r}; use .csv or .parquet", hint="name the file *.csv or *.parquet"
    )


def write_batch_file(frame: pd.DataFrame, path: Path) -> int:
    """Write transactions as a batch-input file that `load_batch_file` reads back: the schema's
    columns that `frame` has, in the schema's order; CSV or Parquet by the file's suffix. The file
    appears whole or not at all (written beside it, then renamed).

    In CSV, `event_time` is written as the event contract writes it (`2026-11-23T19:50:04.123Z`) and a
    missing value is an empty cell; in Parquet it is a UTC timestamp and a missing value is null.

    Args:
        frame: rows with at least the required columns; `event_time` a UTC datetime column.
        path: a `.csv` or `.parquet` file; its folder is created.

    Returns:
        The number of rows written.

    Raises:
        BatchFileError: an unsupported suffix, or a required column missing.
    """
    kind = batch_file_format(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise BatchFileError(f"{path}: the rows lack required column(s) {missing}")
    columns = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in frame.columns]
    rows = frame[columns]
    if kind == "csv":
        times = pd.to_datetime(rows["event_time"], utc=True)
        rows = rows.assign(event_time=times.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z")
    # NaN (an online terminal's lat/lon) becomes null: an empty CSV cell, as an absent optional field.
    table = pa.Table.from_pandas(rows, preserve_index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        if kind == "csv":
            pa_csv.write_csv(table, partial)
        else:
            pq.write_table(table, partial, compression="zstd")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return len(rows)


def load_batch_file(
    path: Path,
    column_map: dict[str, str] | None = None,
    *,
    skip_invalid: bool = False,
    naive_times_utc: bool = False,
) -> BatchFile:
    """Read and check a batch-input file: strict (the first invalid row refuses the file), or
    leaving out the invalid rows and counting them.

    Rows are numbered as the file shows them: in a CSV the header is row 1, so the first data row
    is row 2; in Parquet the first row is row 0.

    Args:
        path: a `.csv` or `.parquet` file.
        column_map: contract field name -> the file's column name, for files with other names.
        skip_invalid: leave out rows that break the contract (each with the contract's reason code)
            instead of refusing the file; the first of several rows with one transaction_id is kept.
        naive_times_utc: read event times without a UTC offset (text, or a Parquet timestamp
            without a zone) as UTC; by default they break the contract, which requires the offset.

    Raises:
        BatchFileError: unreadable file, missing column, a row that breaks the contract when
            strict, or no valid row at all when skipping.
    """
    column_map = column_map or {}
    if not path.exists():
        raise BatchFileError(f"{path}: no such file")
    kind = batch_file_format(path)
    # CSV rows are numbered as a spreadsheet shows them: the header is row 1.
    first_row = 2 if kind == "csv" else 0
    try:
        if kind == "csv":
            string_types = {column_map.get(c, c): pa.string() for c in _STRING_COLUMNS}
            table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types=string_types))
        else:
            table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise BatchFileError(f"{path}: cannot read: {e}") from e

    frame = table.to_pandas()
    rename = {column: name for name, column in column_map.items()}
    missing_mapped = [column for column in rename if column not in frame.columns]
    if missing_mapped:
        raise BatchFileError(f"{path}: column map refers to missing column(s) {missing_mapped}")
    frame = frame.rename(columns=rename)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise BatchFileError(f"{path}: missing required column(s) {missing}; the file has {list(frame.columns)[:20]}")
    keep = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in frame.columns]
    frame = frame[keep].copy()
    total = len(frame)
    # Per row, the reason of the first rule it breaks, as its index in `reason_names` + 1 (0: none yet).
    reasons = np.zeros(total, dtype=np.int16)
    reason_names: list[str] = []

    # The file's first invalid row, for the strict error: (row index, column, value, what is wrong).
    first_bad: list[tuple[int, str, Any, str]] = []

    def fail(mask: np.ndarray, column: str, reason: str, detail: Callable[[int], str]) -> None:
        bad = np.asarray(mask, dtype=bool) & (reasons == 0)
        if not bad.any():
            return
        if reason not in reason_names:
            reason_names.append(reason)
        reasons[bad] = reason_names.index(reason) + 1
        i = int(np.flatnonzero(bad)[0])
        if not first_bad or i < first_bad[0][0]:
            value: Any = frame[column].iloc[i]
            value = value.item() if isinstance(value, np.generic) else value  # numpy scalar -> plain value
            first_bad[:] = [(i, column, value, detail(i))]

    # The event contract's rules, in its order: each distinct value of a column is checked once.
    for rule in transaction_rules(naive_times_utc=naive_times_utc):
        if rule.name not in frame:
            if rule.default is not None:
                frame[rule.name] = rule.default
            continue
        values = _file_values(frame[rule.name], kind)
        results, rows = _checked(values, rule.check, rule.default)
        broken = [r if isinstance(r, InvalidRecord) else None for r in results]
        for reason in dict.fromkeys(r.reason for r in broken if r is not None):
            of_reason = np.array([r is not None and r.reason == reason for r in broken])
            fail(of_reason[rows], rule.name, reason, partial(_detail, broken, rows))
        frame[rule.name] = _column(
            TRANSACTION_ARROW_SCHEMA.field(rule.name).type,
            [None if r is not None else v for r, v in zip(broken, results, strict=True)],
            rows,
        )
    frame["event_time"] = frame["event_time"].dt.as_unit("ms")

    if "is_fraud" in frame:
        labels = pd.to_numeric(frame["is_fraud"], errors="coerce")
        fail(~labels.isin([0, 1]).to_numpy(), "is_fraud", "bad_value", lambda _: "is_fraud must be 0 or 1")
        frame["is_fraud"] = labels.where(labels.isin([0, 1]), 0).astype("int8")
    # Among the rows valid so far only, so that an invalid row never pushes out a valid one.
    valid = reasons == 0
    repeated = np.zeros(total, dtype=bool)
    repeated[valid] = frame["transaction_id"][valid].duplicated().to_numpy()
    fail(repeated, "transaction_id", DUPLICATE_ID, lambda _: "transaction_id appears more than once")

    invalid = _invalid_rows(reasons, reason_names, first_row)
    if invalid.skipped and not skip_invalid:
        i, column, value, detail = first_bad[0]
        empty = value is None or value is pd.NA or value != value  # noqa: PLR0124
        shown = "is empty" if empty else f"= {value!r}"
        naive_time = column == "event_time" and not empty and not isinstance(_EVENT_TIME_AS_UTC(value), InvalidRecord)
        raise BatchFileError(
            f"{path}: row {i + first_row}, column {column_map.get(column, column)!r} {shown}: {detail}"
            + (f" ({invalid.skipped:,} invalid rows in all)" if invalid.skipped > 1 else ""),
            hint=_NAIVE_TIMES_HINT if naive_time else _SKIP_HINT,
        )
    if invalid.skipped:
        if invalid.skipped == total:
            raise BatchFileError(f"{path}: no valid row: {invalid.summary()}")
        frame = frame[reasons == 0]
    frame = frame.sort_values("event_time", kind="stable").reset_index(drop=True)
    return BatchFile(frame, invalid)


def _file_values(column: pd.Series, kind: str) -> pd.Series:
    """A file's column as the values of an event's field: what the file format stores, not a rule.

    CSV has no types: an empty cell is an absent field, and a number column holding some text has
    its numbers read as numbers (the text stays text, for the contract to refuse). Parquet is typed:
    its values go to the contract as they are, except an integer id column, read as its digits.
    """
    if kind == "csv":
        if column.dtype == object:
            column = column.mask(column == "", None)
            if column.name in _NUMBER_COLUMNS:
                numbers = pd.to_numeric(column, errors="coerce")
                column = numbers.astype(object).where(numbers.notna(), column)
        return column
    if column.name in _ID_COLUMNS and pd.api.types.is_integer_dtype(column):
        return column.astype(object).where(column.isna(), column.astype(str))
    return column


def _checked(values: pd.Series, check: Callable[[Any], Any], default: Any) -> tuple[list[Any], np.ndarray]:
    """`check` of each distinct value (null as the field's `default`), and each row's index into them."""
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable values (a Parquet list column): each row on its own
        codes, uniques = np.arange(len(values)), values.to_numpy()
    if isinstance(uniques, pd.DatetimeIndex):  # a timestamp column: as datetimes (to the microsecond)
        uniques = uniques.floor("us").to_pydatetime()
    results = [check(u.item() if isinstance(u, np.generic) else u) for u in uniques]
    results.append(check(default))  # the nulls' (code -1)
    return results, np.where(codes < 0, len(results) - 1, codes)


def _detail(broken: list[InvalidRecord | None], rows: np.ndarray, i: int) -> str:
    """Why row `i` breaks the contract, of a column checked by `_checked`."""
    record = broken[rows[i]]
    return record.detail if record is not None else ""


def _column(field: pa.DataType, values: list[Any], rows: np.ndarray) -> Any:
    """The normalised values (None for invalid ones) of each row, as a column of the field's type."""
    if pa.types.is_timestamp(field):
        return pd.DatetimeIndex(pd.to_datetime(values, utc=True)).take(rows)
    if pa.types.is_floating(field):
        return np.array([np.nan if v is None else v for v in values], dtype="float64")[rows]
    return np.array(values, dtype=object)[rows]


def _invalid_rows(reasons: np.ndarray, names: list[str], first_row: int) -> InvalidRows:
    counts: dict[str, int] = {}
    first_rows: dict[str, list[int]] = {}
    for code, name in enumerate(names, start=1):
        rows = np.flatnonzero(reasons == code)
        counts[name] = len(rows)
        first_rows[name] = [int(i) + first_row for i in rows[:_SHOWN_ROWS]]
    return InvalidRows(len(reasons), counts, first_rows)
