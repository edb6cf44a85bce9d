"""Reading batch-input files (CSV and Parquet) with explicit column mapping and clear errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pytest

from fraudstream.batch_files import load_batch_file, parse_column_map, read_batch_file
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
        ("amount", -1, r"row 3, column 'amount': -1.0 must be >= 0"),
        ("currency", "usd", r"row 3, column 'currency': 'usd' is not an ISO 4217 code"),
        ("amount", "abc", r"row 3, column 'amount': 'abc' is not a number"),
        ("event_time", "tomorrow", r"row 3, column 'event_time': 'tomorrow' is not an ISO-8601 time"),
        ("is_fraud", 2, r"row 3, column 'is_fraud': 2 must be 0 or 1"),
        ("transaction_id", "b", r"column 'transaction_id': 'b' appears more than once"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, column: str, value: object, message: str) -> None:
    rows = ROWS.copy() if column in ROWS else ROWS.assign(**{column: None})
    rows = rows.astype({column: object})
    rows.loc[1, column] = value
    path = tmp_path / "bad.csv"
    rows.to_csv(path, index=False)
    with pytest.raises(BatchFileError, match=message) as refused:
        read_batch_file(path)
    assert "--skip-invalid" in refused.value.hint


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_zero_amounts_are_valid(tmp_path: Path, suffix: str) -> None:
    # GIVEN a file with a zero-amount authorisation (card verification) among other amounts
    rows = ROWS.assign(amount=[0.0, 20.5, 3.0])
    path = tmp_path / f"tx{suffix}"
    rows.to_csv(path, index=False) if suffix == ".csv" else rows.to_parquet(path)
    # WHEN it is read strictly
    frame = read_batch_file(path)
    # THEN the zero amount is a row like the others
    assert frame.set_index("transaction_id")["amount"].to_dict() == {"a": 20.5, "b": 0.0, "c": 3.0}


def test_numbers_are_not_event_times(tmp_path: Path) -> None:
    # GIVEN a Parquet file whose event times are epoch seconds (pandas would read them as nanoseconds)
    path = tmp_path / "epoch.parquet"
    ROWS.assign(event_time=[1_767_261_600, 1_767_254_400, 1_767_312_000]).to_parquet(path)
    # WHEN it is read
    # THEN it is refused, as the stream refuses a number for event_time
    with pytest.raises(BatchFileError, match=r"row 0, column 'event_time': 1767261600 is not an ISO-8601 string"):
        read_batch_file(path)
    with pytest.raises(
        BatchFileError, match=r"no valid row: skipped 3 invalid rows of 3: wrong_type 3 \(rows 0, 1, 2\)"
    ):
        load_batch_file(path, skip_invalid=True)


def _messy(n: int) -> pd.DataFrame:
    """`n` valid rows with 6 invalid ones among them, at data rows 3, 5, 8, 9, 12 and 15."""
    rows = pd.DataFrame(
        {
            "transaction_id": [f"tx-{i}" for i in range(n)],
            "event_time": [f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z" for i in range(n)],
            "card_id": [f"card-{i % 7}" for i in range(n)],
            "terminal_id": [f"term-{i % 5}" for i in range(n)],
            "amount": [float(i % 40) for i in range(n)],  # zero amounts among them
            "is_fraud": [int(i % 50 == 0) for i in range(n)],
        }
    ).astype(object)
    rows.loc[3, "amount"] = -5.0
    rows.loc[5, "event_time"] = "not a time"
    rows.loc[8, "amount"] = 2_000_000.0
    rows.loc[9, "transaction_id"] = "tx-2"  # repeats row 2's id
    rows.loc[12, "amount"] = "twelve"
    rows.loc[15, "amount"] = -1.0
    return rows


def test_invalid_rows_are_skipped_and_reported_with_the_contracts_reasons(tmp_path: Path) -> None:
    # GIVEN a CSV of 1,000 rows, 6 of them invalid in four ways
    path = tmp_path / "messy.csv"
    _messy(1000).to_csv(path, index=False)
    # WHEN it is read strictly
    # THEN it is refused at its first invalid row, with the count of all of them
    with pytest.raises(
        BatchFileError, match=r"row 5, column 'amount': '-5.0' must be >= 0 .*\(6 invalid rows in all\)"
    ):
        read_batch_file(path)
    # WHEN invalid rows are skipped
    loaded = load_batch_file(path, skip_invalid=True)
    # THEN the 994 valid rows come back, and the report counts each reason with its first rows
    # (CSV rows as a spreadsheet numbers them: data row i is row i + 2)
    assert len(loaded.frame) == 994
    assert {"tx-3", "tx-5", "tx-8", "tx-9", "tx-12", "tx-15"}.isdisjoint(loaded.frame["transaction_id"])
    assert (loaded.frame["transaction_id"] == "tx-2").sum() == 1  # the first of the repeated id is kept
    assert loaded.invalid.counts == {
        "out_of_range": 3,
        "bad_timestamp": 1,
        "duplicate_transaction_id": 1,
        "wrong_type": 1,
    }
    assert loaded.invalid.summary() == (
        "skipped 6 invalid rows of 1,000: out_of_range 3 (rows 5, 10, 17), bad_timestamp 1 (row 7), "
        "duplicate_transaction_id 1 (row 11), wrong_type 1 (row 14)"
    )
    assert (loaded.frame["amount"] == 0.0).sum() == 25  # zero amounts are valid rows


def test_skipping_shows_the_first_rows_only_and_refuses_a_file_without_a_valid_row(tmp_path: Path) -> None:
    # GIVEN a Parquet file whose rows are numbered from 0, with 5 negative amounts
    rows = _messy(40).astype({"amount": object})
    rows.loc[[3, 8, 12, 15], "amount"] = -1.0
    rows.loc[20, "amount"] = -2.0
    rows.loc[9, "transaction_id"] = "tx-9"
    path = tmp_path / "messy.parquet"
    rows.astype({"amount": "float64"}).to_parquet(path)
    # WHEN invalid rows are skipped
    loaded = load_batch_file(path, skip_invalid=True)
    # THEN the report shows the first three rows of the reason, then an ellipsis
    assert (
        loaded.invalid.summary()
        == "skipped 6 invalid rows of 40: out_of_range 5 (rows 3, 8, 12, ...), bad_timestamp 1 (row 5)"
    )
    assert len(loaded.frame) == 34
    # WHEN no row is valid
    rows["amount"] = -1.0
    rows.astype({"amount": "float64"}).to_parquet(path)
    # THEN the file is refused, with the report
    with pytest.raises(BatchFileError, match=r"no valid row: skipped 40 invalid rows of 40: out_of_range 39"):
        load_batch_file(path, skip_invalid=True)


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
