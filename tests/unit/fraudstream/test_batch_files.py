"""Reading batch-input files (CSV and Parquet) with explicit column mapping and clear errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pytest

from fraudstream.batch_files import load_batch_file, parse_column_map, read_batch_file
from fraudstream.contracts import InvalidRecord, parse_transaction
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
        ("amount", -1, r"row 3, column 'amount' = -1.0: amount -1.0 must be >= 0"),
        ("currency", "usd", r"row 3, column 'currency' = 'usd': currency must be an ISO 4217 code"),
        ("amount", "abc", r"row 3, column 'amount' = 'abc': amount must be a finite number"),
        ("event_time", "tomorrow", r"row 3, column 'event_time' = 'tomorrow': event_time 'tomorrow' is not ISO-8601"),
        ("is_fraud", 2, r"row 3, column 'is_fraud' = 2: is_fraud must be 0 or 1"),
        ("transaction_id", "b", r"row 3, column 'transaction_id' = 'b': transaction_id appears more than once"),
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
    with pytest.raises(
        BatchFileError, match=r"row 0, column 'event_time' = 1767261600: event_time must be an ISO-8601 string"
    ):
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
        BatchFileError, match=r"row 5, column 'amount' = '-5.0': amount -5.0 must be >= 0 .*\(6 invalid rows in all\)"
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


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_naive_event_times_break_the_contract_unless_declared_utc(tmp_path: Path, suffix: str) -> None:
    # GIVEN a file whose event times have no UTC offset (text in CSV, a zoneless timestamp in Parquet)
    naive = ["2026-01-01T10:00:00", "2026-01-01T09:00:00", "2026-01-02T00:00:00"]
    path = tmp_path / f"naive{suffix}"
    if suffix == ".csv":
        ROWS.assign(event_time=naive).to_csv(path, index=False)
    else:
        ROWS.assign(event_time=pd.to_datetime(naive)).to_parquet(path)
    first = 2 if suffix == ".csv" else 0
    # WHEN it is read as the contract says
    # THEN it is refused, as the stream refuses such an event, the message saying how to write one and
    # the hint naming the commands' flag that reads such times as UTC
    with pytest.raises(
        BatchFileError, match=rf"row {first}, column 'event_time' = .*must carry a UTC offset, e\.g\."
    ) as refused:
        read_batch_file(path)
    assert "--naive-times-utc" in refused.value.hint
    # WHEN the file is declared to hold UTC times
    frame = read_batch_file(path, naive_times_utc=True)
    # THEN they are read as UTC
    assert frame["event_time"].tolist() == sorted(pd.to_datetime(naive).tz_localize("UTC"))


# One value of a field per case: the event contract's verdict on it in an event, and the reason a
# batch file's row with the same value gets (Parquet keeps the value's type, as JSON does).
CONTRACT_CASES = [
    ("transaction_id", "x" * 65),
    ("card_id", 7.5),
    ("event_time", "2026-13-01T00:00:00Z"),
    ("event_time", "2026-01-01T00:00:00"),
    ("amount", float("inf")),
    ("amount", 1_000_000.5),
    ("amount", "12"),
    ("currency", "usd"),
    ("merchant_category", "541"),
    ("channel", "phone"),
    ("country", "USA"),
    ("lat", 91.0),
    ("lon", -180.5),
    ("lat", 45.0),
]


@pytest.mark.parametrize(("name", "value"), CONTRACT_CASES, ids=[f"{n}={v!r}" for n, v in CONTRACT_CASES])
def test_a_batch_file_row_gets_the_event_contracts_verdict(tmp_path: Path, name: str, value: object) -> None:
    # GIVEN a valid event, and the same event with one field changed
    event = {
        "schema_version": 1,
        "transaction_id": "tx-1",
        "event_time": "2026-01-01T10:00:00Z",
        "card_id": "c1",
        "terminal_id": "t1",
        "amount": 10.0,
    }
    changed = event | {name: value}
    verdict = parse_transaction(changed)
    # WHEN a file holds the changed event as its row
    path = tmp_path / "one.parquet"
    pd.DataFrame([changed]).drop(columns="schema_version").to_parquet(path)
    # THEN the row breaks the contract exactly when the event does, with the same reason
    if isinstance(verdict, InvalidRecord):
        with pytest.raises(BatchFileError, match=rf"no valid row: skipped 1 invalid row of 1: {verdict.reason} 1 "):
            load_batch_file(path, skip_invalid=True)
    else:
        assert load_batch_file(path, skip_invalid=True).invalid.counts == {}


def test_an_error_names_the_files_own_column_and_integer_ids_are_read_as_text(tmp_path: Path) -> None:
    # GIVEN a Parquet file with other column names and integer card ids, one amount negative
    path = tmp_path / "mapped.parquet"
    rows = ROWS.rename(columns={"amount": "AMT"}).assign(card_id=[1, 2, 1])
    rows.loc[2, "AMT"] = -3.0
    rows.to_parquet(path)
    column_map = parse_column_map(["amount=AMT"])
    # WHEN it is read strictly
    # THEN the error names the column as the file has it
    with pytest.raises(BatchFileError, match=r"row 2, column 'AMT' = -3.0: amount -3.0 must be >= 0"):
        read_batch_file(path, column_map)
    # WHEN the bad row is skipped, THEN the integer ids come back as text
    frame = load_batch_file(path, column_map, skip_invalid=True).frame
    assert frame["card_id"].tolist() == ["2", "1"]
