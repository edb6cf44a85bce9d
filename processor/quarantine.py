"""Rows for the lake's `quarantine/` table: records that broke the contract, with their raw
payload and reason, and transactions that arrived after the watermark (reason `late`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import orjson
import pandas as pd
import pyarrow as pa

from fraudstream.contracts import TRANSACTION_FIELDS, format_event_time
from fraudstream.lake import QUARANTINE
from processor.records import RecordStatus

__all__ = ["LATE_REASON", "quarantine_rows"]

LATE_REASON: Final = "late"


def _event_json(row: pd.Series) -> str:
    # A late record was valid: its payload is the contract's event again.
    event = {name: row[name] for name in TRANSACTION_FIELDS if name in row and pd.notna(row[name])}
    event["event_time"] = format_event_time(
        pd.Timestamp(row["event_time"]).tz_localize("UTC").to_pydatetime()
        if pd.Timestamp(row["event_time"]).tzinfo is None
        else pd.Timestamp(row["event_time"]).to_pydatetime()
    )
    event["schema_version"] = int(event["schema_version"])
    return orjson.dumps(event).decode()


def quarantine_rows(staged: pd.DataFrame, batch_id: int, *, now: datetime | None = None) -> pa.Table:
    """The quarantine table's rows for the invalid and late records of a staged micro-batch."""
    now = now or datetime.now(UTC)
    bad = staged[staged["status"].isin([RecordStatus.INVALID.value, RecordStatus.LATE.value])]
    late = bad["status"] == RecordStatus.LATE.value
    raw = bad["raw_data"].astype(object).copy()
    if late.any():
        raw[late] = bad[late].apply(_event_json, axis=1)
    reason = bad["reason"].where(~late, LATE_REASON)
    detail = bad["detail"].where(~late, "event time at or before the watermark when it arrived")
    frame = pd.DataFrame(
        {
            "raw_data": raw,
            "reason": reason,
            "detail": detail,
            "transaction_id": bad["transaction_id"],
            "stream_name": bad["stream_name"],
            "shard_id": bad["shard_id"],
            "sequence_number": bad["sequence_number"],
            "arrival_time": pd.to_datetime(bad["arrival_time"], utc=True),
            "batch_id": batch_id,
            "quarantined_at": pd.Timestamp(now),
        }
    )
    return pa.Table.from_pandas(frame, schema=QUARANTINE.schema, preserve_index=False)
