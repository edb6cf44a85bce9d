"""What `fraudstream invoke` scores: raw transactions (their features computed here, over the file's
own history, with the offline feature code) or rows of features that are already computed.

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
    """Feature rows to score, their transaction ids when known, and whether they came from transactions."""

    features: pd.DataFrame
    ids: list[str] | None
    from_transactions: bool


def read_input_rows(file: Path | None, *, label_delay_days: float = 7.0) -> InputRows:
    """Read a file of transactions or feature rows (stdin: CSV) into feature rows.

    Raises:
        TransactionEventError: a transaction event breaks the contract (the message names it).
        FeatureColumnsError: the file cannot be read, or is neither kind.
        BatchFileError: a CSV of transactions breaks the batch-input schema.
    """
    source = str(file) if file is not None else "stdin"
    try:
        if file is None or file.suffix.lower() == ".csv":
            text = sys.stdin.read() if file is None else file.read_text(encoding="utf-8")
            return _from_csv(text, file, source, label_delay_days)
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
        return _from_events(events, source, where, label_delay_days)
    # A key absent from one object is a missing value there; absent from every object, an error (when scoring).
    features = pd.DataFrame.from_records(records)
    ids = features.pop(ID_COLUMN).astype(str).tolist() if ID_COLUMN in features.columns else None
    return InputRows(features, ids, from_transactions=False)


def _from_csv(text: str, file: Path | None, source: str, label_delay_days: float) -> InputRows:
    header = pd.read_csv(io.StringIO(text), nrows=0).columns
    if "event_time" not in header:
        frame = pd.read_csv(io.StringIO(text))
        ids = frame.pop(ID_COLUMN).astype(str).tolist() if ID_COLUMN in frame.columns else None
        return InputRows(frame, ids, from_transactions=False)
    from fraudstream.batch_files import read_batch_file
    from ml_model.features import compute_features

    if file is None:
        raise FeatureColumnsError("transactions on stdin are not supported: pass them with --file")
    transactions = read_batch_file(file)
    features = compute_features(transactions, label_delay_days=label_delay_days)
    return InputRows(features, transactions[ID_COLUMN].tolist(), from_transactions=True)


def _from_events(events: list[dict[str, Any]], source: str, where: str, label_delay_days: float) -> InputRows:
    from ml_model.features import compute_features

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
    features = compute_features(transactions, label_delay_days=label_delay_days)
    return InputRows(features, transactions[ID_COLUMN].tolist(), from_transactions=True)
