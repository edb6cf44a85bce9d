"""What `fraudstream invoke` scores: raw transactions (their features computed here with the offline
feature code, over the file's own rows or, given a history, over that history and the file's rows)
or rows of features that are already computed.

Which one a file holds is read from its content, by rules that never guess between names:
- `.json` (an object or a list of objects) or `.jsonl` (one object per line): objects carrying
  `schema_version` are transaction events and must all be valid per the event contract
  (`fraudstream.contracts.parse_transaction`); objects without it are feature rows.
- `.csv` (or stdin): a header with `event_time` is the batch-input schema (transactions, read by
  `fraudstream.batch_files`); any other header names features.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from fraudstream.contracts import InvalidRecord, parse_transaction
from ml_model.exceptions import FeatureColumnsError, TransactionEventError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ID_COLUMN", "InputRows", "read_input_rows"]

ID_COLUMN = "transaction_id"


@dataclass(frozen=True)
class InputRows:
    """Feature rows to score (in the file's order), their transaction ids when known, and whether
    they came from transactions; then, per row, how many earlier transactions of its card the
    features saw, and how many history transactions they were computed with."""

    features: pd.DataFrame
    ids: list[str] | None
    from_transactions: bool
    card_history: list[int] | None = None
    history_rows: int = 0


def read_input_rows(
    file: Path | None,
    *,
    label_delay_days: float = 7.0,
    history: pd.DataFrame | None = None,
    naive_times_utc: bool = False,
) -> InputRows:
    """Read a file of transactions or feature rows (stdin: CSV) into feature rows.

    Args:
        file: the file; None: stdin (CSV).
        label_delay_days: the terminal features' label delay.
        history: transactions the file's rows follow (as `processor.history.read_history` gives
            them); the features of the file's transactions are computed over it and the file's rows
            (a history row with a file row's transaction id is the file's). None: the file's rows only.
        naive_times_utc: read the event times of a CSV of transactions that have no UTC offset as UTC
            (`fraudstream.batch_files.load_batch_file`); by default they refuse the file.

    Raises:
        TransactionEventError: a transaction event breaks the contract (the message names it).
        FeatureColumnsError: the file cannot be read, or is neither kind.
        BatchFileError: a CSV of transactions breaks the batch-input schema.
    """
    source = str(file) if file is not None else "stdin"
    try:
        if file is None or file.suffix.lower() == ".csv":
            text = sys.stdin.read() if file is None else file.read_text(encoding="utf-8")
            return _from_csv(text, file, source, label_delay_days, history, naive_times_utc=naive_times_utc)
        text = file.read_text(encoding="utf-8")
        if file.suffix.lower() == ".jsonl":
            records: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
            where = "line"
        else:
            records = json.loads(text)
            where = "item"
    except (OSError, ValueError) as e:
        raise FeatureColumnsError(f"cannot read rows from {source}: {e}") from e
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise FeatureColumnsError(f"{source}: expected a JSON object or a list of objects")
    events = [r for r in records if "schema_version" in r]
    if events and len(events) != len(records):
        raise FeatureColumnsError(
            f"{source}: {len(events)} of {len(records)} objects are transaction events (they carry schema_version): "
            "give either transaction events or feature rows"
        )
    if events:
        return _from_events(events, source, where, label_delay_days, history)
    # A key absent from one object is a missing value there; absent from every object, an error (when scoring).
    features = pd.DataFrame.from_records(records)
    ids = features.pop(ID_COLUMN).astype(str).tolist() if ID_COLUMN in features.columns else None
    return InputRows(features, ids, from_transactions=False)


def _transaction_rows(transactions: pd.DataFrame, label_delay_days: float, history: pd.DataFrame | None) -> InputRows:
    """The features of `transactions` (in their order) over `history` and themselves."""
    from ml_model.features import compute_features

    transactions = transactions.reset_index(drop=True)
    earlier = history[~history[ID_COLUMN].isin(transactions[ID_COLUMN])] if history is not None else None
    if earlier is not None and len(earlier):
        combined = pd.concat([transactions, earlier], ignore_index=True)
        if "is_fraud" in combined:  # the file's rows without a label count no chargeback, as history rows do
            combined["is_fraud"] = pd.to_numeric(combined["is_fraud"]).fillna(0)
    else:
        combined = transactions
    features = compute_features(combined, label_delay_days=label_delay_days).iloc[: len(transactions)]
    # How many transactions of the row's card the features saw before it (ties in event time: none).
    times = pd.to_datetime(combined["event_time"], utc=True)
    ranks = times.groupby(combined["card_id"].to_numpy()).rank(method="min").iloc[: len(transactions)]
    return InputRows(
        features.reset_index(drop=True),
        transactions[ID_COLUMN].tolist(),
        from_transactions=True,
        card_history=[int(r) - 1 for r in ranks],
        history_rows=0 if earlier is None else len(earlier),
    )


def _from_csv(
    text: str,
    file: Path | None,
    source: str,
    label_delay_days: float,
    history: pd.DataFrame | None,
    *,
    naive_times_utc: bool = False,
) -> InputRows:
    header = pd.read_csv(io.StringIO(text), nrows=0).columns
    if "event_time" not in header:
        frame = pd.read_csv(io.StringIO(text))
        ids = frame.pop(ID_COLUMN).astype(str).tolist() if ID_COLUMN in frame.columns else None
        return InputRows(frame, ids, from_transactions=False)
    from fraudstream.batch_files import read_batch_file

    if file is None:
        raise FeatureColumnsError("transactions on stdin are not supported: pass them with --file")
    # Sorted by event time: back to the file's order below.
    transactions = read_batch_file(file, naive_times_utc=naive_times_utc)
    if ID_COLUMN in header:
        order = pd.read_csv(io.StringIO(text), usecols=[ID_COLUMN], dtype=str)[ID_COLUMN]
        if order.is_unique and set(order) == set(transactions[ID_COLUMN].astype(str)):
            transactions = transactions.set_index(transactions[ID_COLUMN].astype(str)).loc[order]
    return _transaction_rows(transactions, label_delay_days, history)


def _from_events(
    events: list[dict[str, Any]], source: str, where: str, label_delay_days: float, history: pd.DataFrame | None
) -> InputRows:
    parsed = []
    seen: set[str] = set()
    for i, event in enumerate(events, start=1):
        tx = parse_transaction(event)
        if isinstance(tx, InvalidRecord):
            label = f" (transaction {event.get(ID_COLUMN)!r})" if isinstance(event.get(ID_COLUMN), str) else ""
            raise TransactionEventError(f"{source}: {where} {i}{label}: {tx.reason}: {tx.detail}")
        if tx["transaction_id"] in seen:
            raise TransactionEventError(f"{source}: {where} {i}: transaction {tx['transaction_id']!r} appears twice")
        seen.add(tx["transaction_id"])
        parsed.append(tx)
    transactions = pd.DataFrame.from_records(parsed)
    transactions["event_time"] = pd.to_datetime(transactions["event_time"], utc=True)
    for column in ("lat", "lon"):
        transactions[column] = transactions[column].astype("float64")
    # Events carry no labels, so the terminal fraud rates count no chargebacks here; a CSV of transactions
    # with is_fraud uses its labels, as `fraudstream score` does.
    return _transaction_rows(transactions, label_delay_days, history)
