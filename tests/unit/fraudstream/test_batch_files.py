"""Reading batch-input files (CSV and Parquet) with explicit column mapping and clear errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pytest

from fraudstream.batch_files import parse_column_map, read_batch_file
from fraudstream.exceptions import BatchFileError

if TYPE_CHECKING:
    from pathlib import Path

ROWS = pd.DataFrame(
    {
        "transaction_id": ["b", "a", "c"],
        "event_time": ["2026-01-01T10:00:00Z", "2026-01-01T09:00:00+01:00", "2026-01-02T00:00:00Z"],
        "card_id": ["0001", "0002", "0001"],
        "terminal_id": ["t1", "t2", "t3"],
        "amount": [10.0, 20.5, 3.0],
        "is_fraud": [0, 1, 0],
    }
)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_reads_sorts_and_normalises(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"tx{suffix}"
    ROWS.to_csv(path, index=False) if suffix == ".csv" else ROWS.to_parquet(path)
    frame = read_batch_file(path)
    assert frame["transaction_id"].tolist() == ["a", "b", "c"]  # event-time order, UTC
    assert str(frame["event_time"].dt.tz) == "UTC"
    assert frame["card_id"].tolist() == ["0002", "0001", "0001"]  # ids stay strings
    assert frame["currency"].unique().tolist() == ["USD"]
    assert frame["is_fraud"].tolist() == [1, 0, 0]


def test_column_map_renames_explicitly(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    ROWS.rename(columns={"transaction_id": "TX", "amount": "AMT"}).to_csv(path, index=False)
    with pytest.raises(BatchFileError, match=r"missing required column\(s\) \['transaction_id', 'amount'\]"):
        read_batch_file(path)
    frame = read_batch_file(path, parse_column_map(["transaction_id=TX", "amount=AMT"]))
    assert frame["amount"].sum() == pytest.approx(33.5)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("amount", -1, r"row 3, column 'amount': -1.0 must be > 0"),
        ("amount", "abc", r"row 3, column 'amount': 'abc' is not a number"),
        ("event_time", "tomorrow", r"row 3, column 'event_time': 'tomorrow' is not an ISO-8601 time"),
        ("is_fraud", 2, r"row 3, column 'is_fraud': 2 must be 0 or 1"),
        ("transaction_id", "b", r"column 'transaction_id': 'b' appears more than once"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, column: str, value: object, message: str) -> None:
    rows = ROWS.copy().astype({column: object})
    rows.loc[1, column] = value
    path = tmp_path / "bad.csv"
    rows.to_csv(path, index=False)
    with pytest.raises(BatchFileError, match=message):
        read_batch_file(path)


def test_bad_files_and_maps(tmp_path: Path) -> None:
    with pytest.raises(BatchFileError, match="no such file"):
        read_batch_file(tmp_path / "missing.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(BatchFileError, match="unsupported file type"):
        read_batch_file(tmp_path / "x.json")
    with pytest.raises(BatchFileError, match="NAME=COLUMN"):
        parse_column_map(["amount"])
    with pytest.raises(BatchFileError, match="not a field"):
        parse_column_map(["price=AMT"])
