"""Batch input files (training, scoring, replay): CSV or Parquet with the transaction fields, plus
an optional `is_fraud` (0/1). Other column names are mapped explicitly, never guessed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from fraudstream.contracts import CHANNELS, COUNTRY_PATTERN, CURRENCY_PATTERN, MAX_AMOUNT, MCC_PATTERN
from fraudstream.exceptions import BatchFileError

if TYPE_CHECKING:
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
_STRING_COLUMNS: Final = (
    "transaction_id",
    "card_id",
    "terminal_id",
    "currency",
    "merchant_category",
    "channel",
    "country",
)
# A row that repeats an earlier row's transaction_id. The other reasons are the event contract's
# (`fraudstream.contracts.parse_transaction`, the processor's quarantine reasons).
DUPLICATE_ID: Final = "duplicate_transaction_id"
_SHOWN_ROWS: Final = 3
_SKIP_HINT: Final = (
    "fix the file, or leave out its invalid rows and have them reported with --skip-invalid "
    "(train, score, produce --from)"
)


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


def read_batch_file(path: Path, column_map: dict[str, str] | None = None) -> pd.DataFrame:
    """Read and check a batch-input file, refusing it at its first invalid row; rows come back
    sorted by event time (UTC).

    Args:
        path: a `.csv` or `.parquet` file.
        column_map: contract field name -> the file's column name, for files with other names.

    Raises:
        BatchFileError: unreadable file, missing column, or a row that breaks the contract
            (the message names the column and the row).
    """
    return load_batch_file(path, column_map).frame


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


def load_batch_file(path: Path, column_map: dict[str, str] | None = None, *, skip_invalid: bool = False) -> BatchFile:
    """Read and check a batch-input file: strict (the first invalid row refuses the file), or
    leaving out the invalid rows and counting them.

    Rows are numbered as the file shows them: in a CSV the header is row 1, so the first data row
    is row 2; in Parquet the first row is row 0.

    Args:
        path: a `.csv` or `.parquet` file.
        column_map: contract field name -> the file's column name, for files with other names.
        skip_invalid: leave out rows that break the contract (each with the contract's reason code)
            instead of refusing the file; the first of several rows with one transaction_id is kept.

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

    # The file's first invalid row, for the strict error: (row index, column, value, rule).
    first_bad: list[tuple[int, str, Any, str]] = []

    def fail(mask: np.ndarray | pd.Series, column: str, rule: str, reason: str) -> None:
        bad = np.asarray(mask, dtype=bool) & (reasons == 0)
        if not bad.any():
            return
        if reason not in reason_names:
            reason_names.append(reason)
        reasons[bad] = reason_names.index(reason) + 1
        i = int(np.flatnonzero(bad)[0])
        if not first_bad or i < first_bad[0][0]:
            value: Any = frame[column].iloc[i]
            value = value.item() if hasattr(value, "item") else value  # numpy scalar -> plain value
            first_bad[:] = [(i, column, value, rule)]

    for c in ("transaction_id", "card_id", "terminal_id"):
        values = frame[c]
        text = values.astype(str)
        lengths = text.str.len().to_numpy()
        fail(values.isna().to_numpy() | (lengths == 0), c, "is empty", "missing_field")
        fail(lengths > 64, c, "is longer than 64 characters", "out_of_range")
        frame[c] = text

    raw_times = frame["event_time"]
    fail(raw_times.isna(), "event_time", "is empty", "missing_field")
    if pd.api.types.is_datetime64_any_dtype(raw_times):
        times = pd.to_datetime(raw_times, utc=True)
    else:
        # Only strings are ISO-8601 times: pandas would read a number as nanoseconds since 1970.
        if raw_times.dtype != object or pd.api.types.infer_dtype(raw_times, skipna=True) not in ("string", "empty"):
            is_text = np.fromiter((isinstance(v, str) for v in raw_times), dtype=bool, count=len(raw_times))
            fail(raw_times.notna() & ~is_text, "event_time", "is not an ISO-8601 string", "wrong_type")
            raw_times = raw_times.astype(object).where(is_text, None)
        times = pd.to_datetime(raw_times, utc=True, errors="coerce", format="ISO8601")
    fail(times.isna(), "event_time", "is not an ISO-8601 time", "bad_timestamp")
    frame["event_time"] = times.dt.as_unit("ms")

    amount = pd.to_numeric(frame["amount"], errors="coerce")
    fail(frame["amount"].isna(), "amount", "is empty", "missing_field")
    fail(amount.isna(), "amount", "is not a number", "wrong_type")
    fail(~((amount >= 0) & (amount <= MAX_AMOUNT)), "amount", f"must be >= 0 and <= {MAX_AMOUNT:,.0f}", "out_of_range")
    frame["amount"] = amount.astype("float64") + 0.0  # -0.0 is 0.0

    for c in ("currency", "merchant_category", "channel", "country"):
        if c in frame:
            # An empty CSV cell of a string column reads as "": an absent optional field, as in the event.
            frame[c] = frame[c].mask(frame[c] == "", None)
    if "currency" not in frame:
        frame["currency"] = "USD"
    frame["currency"] = frame["currency"].fillna("USD")
    for c, pattern, rule in (
        ("currency", CURRENCY_PATTERN, "is not an ISO 4217 code such as USD"),
        ("merchant_category", MCC_PATTERN, "is not a 4-digit MCC"),
        ("country", COUNTRY_PATTERN, "is not an ISO 3166-1 alpha-2 code"),
    ):
        if c in frame:
            values = frame[c]
            # Codes repeat: each distinct value is checked once.
            good = [v for v in pd.unique(values.dropna()) if isinstance(v, str) and pattern.match(v)]
            fail(values.notna() & ~values.isin(good), c, rule, "bad_value")
    if "channel" in frame:
        fail(
            frame["channel"].notna() & ~frame["channel"].isin(list(CHANNELS)),
            "channel",
            f"is not one of {sorted(CHANNELS)}",
            "bad_value",
        )
    for c, limit in (("lat", 90.0), ("lon", 180.0)):
        if c in frame:
            values = pd.to_numeric(frame[c], errors="coerce")
            fail(frame[c].notna() & values.isna(), c, "is not a number", "wrong_type")
            fail(values.abs() > limit, c, f"is outside -{limit:g}..{limit:g}", "out_of_range")
            frame[c] = values.astype("float64")
    if "is_fraud" in frame:
        labels = pd.to_numeric(frame["is_fraud"], errors="coerce")
        fail(~labels.isin([0, 1]), "is_fraud", "must be 0 or 1", "bad_value")
        frame["is_fraud"] = labels.where(labels.isin([0, 1]), 0).astype("int8")
    # Among the rows valid so far only, so that an invalid row never pushes out a valid one.
    valid = reasons == 0
    repeated = np.zeros(total, dtype=bool)
    repeated[valid] = frame["transaction_id"][valid].duplicated().to_numpy()
    fail(repeated, "transaction_id", "appears more than once", DUPLICATE_ID)

    invalid = _invalid_rows(reasons, reason_names, first_row)
    if invalid.skipped and not skip_invalid:
        i, column, value, rule = first_bad[0]
        raise BatchFileError(
            f"{path}: row {i + first_row}, column {column!r}: {value!r} {rule}"
            + (f" ({invalid.skipped:,} invalid rows in all)" if invalid.skipped > 1 else ""),
            hint=_SKIP_HINT,
        )
    if invalid.skipped:
        if invalid.skipped == total:
            raise BatchFileError(f"{path}: no valid row: {invalid.summary()}")
        frame = frame[reasons == 0]
    frame = frame.sort_values("event_time", kind="stable").reset_index(drop=True)
    return BatchFile(frame, invalid)


def _invalid_rows(reasons: np.ndarray, names: list[str], first_row: int) -> InvalidRows:
    counts: dict[str, int] = {}
    first_rows: dict[str, list[int]] = {}
    for code, name in enumerate(names, start=1):
        rows = np.flatnonzero(reasons == code)
        counts[name] = len(rows)
        first_rows[name] = [int(i) + first_row for i in rows[:_SHOWN_ROWS]]
    return InvalidRows(len(reasons), counts, first_rows)
