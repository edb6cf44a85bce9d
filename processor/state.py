"""Keyed event-time state of the stream (transformWithStateInPandas, RocksDB state store).

The card stage sees every parsed record, keyed by card: it drops a transaction id delivered again
within the watermark, marks events older than the watermark as `late` (they go to quarantine,
never silently lost), and passes invalid records through untouched. Its state per card is one
compact value (the ids and event times still inside the watermark), read and written once per
card and micro-batch: state calls cross to the JVM, so per-row calls would dominate the cost.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
from pyspark.sql.streaming.stateful_processor import StatefulProcessor, StatefulProcessorHandle
from pyspark.sql.types import BinaryType, StringType, StructField, StructType, TimestampType

from processor.parsing import PARSED_SCHEMA

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql.streaming.stateful_processor import TimerValues

__all__ = ["INVALID_ROUTE", "STAGED_SCHEMA", "CardStage", "RecordStatus"]

# Invalid records have no trustworthy card id: they travel under one key of their own.
INVALID_ROUTE: Final = "\x00invalid"


class RecordStatus(StrEnum):
    """What the card stage decided about a record."""

    OK = "ok"
    DUPLICATE = "duplicate"
    LATE = "late"
    INVALID = "invalid"


STAGED_SCHEMA: Final = StructType(
    [
        *PARSED_SCHEMA.fields,
        StructField("route", StringType(), False),
        StructField("status", StringType(), False),
        # The stage's output event time for Spark: the event time, or the watermark for a late or
        # invalid record (Spark refuses to see a stage emit a row older than the watermark).
        StructField("emit_time", TimestampType(), False),
    ]
)
_STATE_SCHEMA: Final = StructType([StructField("seen", BinaryType())])
_COLUMNS: Final = STAGED_SCHEMA.fieldNames()


def _encode_seen(ids: np.ndarray, times_ms: np.ndarray) -> bytes:
    order = np.argsort(times_ms, kind="stable")
    text: str = pd.DataFrame({"id": ids[order], "t": times_ms[order]}).to_json(orient="split", index=False)
    return text.encode()


def _decode_seen(blob: bytes | None) -> tuple[np.ndarray, np.ndarray]:
    if not blob:
        return np.array([], dtype=object), np.array([], dtype=np.int64)
    frame = pd.read_json(blob.decode(), orient="split", dtype={"id": str, "t": np.int64})
    if frame.empty:
        return np.array([], dtype=object), np.array([], dtype=np.int64)
    return frame["id"].to_numpy(dtype=object), frame["t"].to_numpy(dtype=np.int64)


def _epoch_ms(times: pd.Series) -> np.ndarray:
    # Spark hands timestamps over as naive UTC (the session time zone is UTC).
    naive = pd.to_datetime(times, utc=True).dt.tz_convert(None)
    return np.asarray(naive.to_numpy(dtype="datetime64[ms]").astype(np.int64))


class CardStage(StatefulProcessor):
    """Per card: de-duplicate transaction ids within the watermark and mark late events.

    A record is late when its event time is at or before the watermark at the start of the
    micro-batch (Spark's own definition); a duplicate when its id was seen for this card at an
    event time the watermark has not passed yet (after that, Spark could not have kept it either:
    that is the contract of "duplicates within the watermark").
    """

    def init(self, handle: StatefulProcessorHandle) -> None:
        self.state = handle.getValueState("seen", _STATE_SCHEMA)

    def handleInputRows(
        self, key: Any, rows: Iterator[pd.DataFrame], timerValues: TimerValues
    ) -> Iterator[pd.DataFrame]:
        batch = pd.concat(list(rows), ignore_index=True)
        watermark_ms = int(timerValues.getCurrentWatermarkInMs())
        # Spark counts an event at or before the watermark as late; what the stage emits must be after it.
        emit_floor = pd.Timestamp(max(watermark_ms, 0) + 1, unit="ms")
        if key[0] == INVALID_ROUTE:
            yield batch.assign(status=RecordStatus.INVALID.value, emit_time=emit_floor)[_COLUMNS]
            return
        # Deterministic order within the batch: event time, then where the record sat in its shard.
        batch = batch.assign(_seq=batch["sequence_number"].map(int)).sort_values(
            ["event_time", "shard_id", "_seq"], kind="stable"
        )
        event_ms = _epoch_ms(batch["event_time"])
        stored = self.state.get() if self.state.exists() else None
        seen_ids, seen_ms = _decode_seen(stored[0] if stored else None)
        keep = seen_ms > watermark_ms  # ids whose events the watermark has passed are forgotten
        seen = set(seen_ids[keep])
        status = []
        new_ids, new_ms = [], []
        for tx_id, t in zip(batch["transaction_id"], event_ms, strict=True):
            if t <= watermark_ms:
                status.append(RecordStatus.LATE.value)
            elif tx_id in seen:
                status.append(RecordStatus.DUPLICATE.value)
            else:
                seen.add(tx_id)
                new_ids.append(tx_id)
                new_ms.append(t)
                status.append(RecordStatus.OK.value)
        ids = np.concatenate([seen_ids[keep], np.array(new_ids, dtype=object)])
        times = np.concatenate([seen_ms[keep], np.array(new_ms, dtype=np.int64)])
        if len(ids):
            self.state.update((_encode_seen(ids, times),))
        else:
            self.state.clear()
        times_out = pd.to_datetime(batch["event_time"], utc=True).dt.tz_convert(None)
        yield batch.assign(status=status, emit_time=times_out.where(times_out >= emit_floor, emit_floor))[_COLUMNS]

    def close(self) -> None:
        pass
