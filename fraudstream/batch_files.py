"""Batch input files (training, scoring, replay): CSV or Parquet with the transaction fields, plus
an optional `is_fraud` (0/1). Other column names are mapped explicitly, never guessed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from fraudstream.contracts import CHANNELS, MAX_AMOUNT
from fraudstream.exceptions import BatchFileError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["REQUIRED_COLUMNS", "parse_column_map", "read_batch_file"]

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
    """Read and check a batch-input file; rows come back sorted by event time (UTC).

    Args:
        path: a `.csv` or `.parquet` file.
        column_map: contract field name -> the file's column name, for files with other names.

    Raises:
        BatchFileError: unreadable file, missing column, or a row that breaks the contract
            (the message names the column and the row).
    """
    column_map = column_map or {}
    if not path.exists():
        raise BatchFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    # CSV rows are numbered as a spreadsheet shows them: the header is row 1.
    first_row = 2 if suffix == ".csv" else 0
    try:
        if suffix == ".csv":
            string_types = {column_map.get(c, c): pa.string() for c in _STRING_COLUMNS}
            table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types=string_types))
        elif suffix in (".parquet", ".pq"):
            table = pq.read_table(path)
        else:
            raise BatchFileError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")
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

    def fail(mask: np.ndarray | pd.Series, column: str, rule: str) -> None:
        bad = np.flatnonzero(np.asarray(mask))
        if len(bad):
            i = int(bad[0])
            value: Any = frame[column].iloc[i] if column in frame else None
            value = value.item() if hasattr(value, "item") else value  # numpy scalar -> plain value
            raise BatchFileError(
                f"{path}: row {i + first_row}, column {column!r}: {value!r} {rule}"
                + (f" ({len(bad)} bad rows in all)" if len(bad) > 1 else "")
            )

    for c in ("transaction_id", "card_id", "terminal_id"):
        values = frame[c]
        fail(values.isna() | (values.astype(str).str.len() == 0), c, "is empty")
        frame[c] = values.astype(str)
    fail(frame["transaction_id"].str.len() > 64, "transaction_id", "is longer than 64 characters")

    times = pd.to_datetime(frame["event_time"], utc=True, errors="coerce", format="ISO8601")
    fail(times.isna(), "event_time", "is not an ISO-8601 time")
    frame["event_time"] = times.dt.as_unit("ms")

    amount = pd.to_numeric(frame["amount"], errors="coerce")
    fail(amount.isna(), "amount", "is not a number")
    fail(~((amount > 0) & (amount <= MAX_AMOUNT)), "amount", f"must be > 0 and <= {MAX_AMOUNT:,.0f}")
    frame["amount"] = amount.astype("float64")

    if "currency" not in frame:
        frame["currency"] = "USD"
    frame["currency"] = frame["currency"].fillna("USD")
    if "channel" in frame:
        fail(
            frame["channel"].notna() & ~frame["channel"].isin(list(CHANNELS)),
            "channel",
            f"is not one of {sorted(CHANNELS)}",
        )
    for c, limit in (("lat", 90.0), ("lon", 180.0)):
        if c in frame:
            values = pd.to_numeric(frame[c], errors="coerce")
            fail(frame[c].notna() & values.isna(), c, "is not a number")
            fail(values.abs() > limit, c, f"is outside -{limit:g}..{limit:g}")
            frame[c] = values.astype("float64")
    if "is_fraud" in frame:
        labels = pd.to_numeric(frame["is_fraud"], errors="coerce")
        fail(~labels.isin([0, 1]), "is_fraud", "must be 0 or 1")
        frame["is_fraud"] = labels.astype("int8")
    fail(frame["transaction_id"].duplicated(), "transaction_id", "appears more than once")

    return frame.sort_values("event_time", kind="stable").reset_index(drop=True)
