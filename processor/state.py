"""Keyed event-time state of the stream (transformWithStateInPandas, RocksDB state store).

Two stages, chained in one query:

card stage (key: card)      drops a transaction id delivered again within the watermark, marks
                            events older than the watermark as `late` (they go to quarantine, never
                            silently lost), passes invalid records through untouched, and computes
                            the card features of each accepted event from the card's last 30 days.
terminal stage (key: term.) joins the chargebacks of the `labels` stream and computes the terminal
                            features (counts and known-fraud rates, shifted back by the label delay).

Both call `ml_model.features`, the code that computes the training features, so that the stream's
features equal the offline ones on the same events.

The stages are keyed by a hash bucket of the card (terminal), not by the card itself: Spark calls
a stateful processor once per key and micro-batch, so per-card keys would pay pandas' and the
state API's fixed costs (about a millisecond per state call) once per card. Per bucket, the
features of every card in the batch come from one vectorised call, and the state is one value:
the retained events of all the bucket's cards as a compact Arrow table, read and written once per
micro-batch. A card not seen for `state_ttl` expires (a card gone quiet): pruned on every write,
and by a daily event-time timer of a bucket gone quiet.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql.streaming.stateful_processor import StatefulProcessor, StatefulProcessorHandle
from pyspark.sql.types import (
    BinaryType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ml_model.features import (
    CARD_FEATURES,
    DAY,
    TERMINAL_FEATURES,
    card_features_streaming,
    epoch_seconds,
    group_order,
    terminal_features,
)
from processor.parsing import PARSED_SCHEMA

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql.streaming.stateful_processor import ExpiredTimerInfo, TimerValues

__all__ = [
    "AGGREGATE_SLIDE_MS",
    "AGGREGATE_WINDOW_MS",
    "CARD_STAGE_SCHEMA",
    "INVALID_ROUTE",
    "STAGED_SCHEMA",
    "TERMINAL_STAGE_INPUT_SCHEMA",
    "CardStage",
    "DEFAULT_STATE_BUCKETS",
    "RecordStatus",
    "TerminalStage",
]

# Invalid records have no trustworthy card id: they travel under one key of their own.
INVALID_ROUTE: Final = "\x00invalid"
# Keys of each stage: a few per shuffle partition. Fixed by the checkpoint (state lives under them).
DEFAULT_STATE_BUCKETS: Final = 32
_DAY_MS: Final = 86_400_000
# The per-card aggregates' windows: 10 minutes, one starting every 5.
AGGREGATE_WINDOW_MS: Final = 600_000
AGGREGATE_SLIDE_MS: Final = 300_000


class RecordStatus(StrEnum):
    """What the stages decided about a record."""

    OK = "ok"
    DUPLICATE = "duplicate"
    LATE = "late"
    INVALID = "invalid"
    AGGREGATE = "aggregate"  # a closed window of a card (the window columns), not a transaction
    LABEL = "label"  # a chargeback on its way to the terminal stage; never leaves it


# A closed window's figures, on rows of status `aggregate` (the lake's aggregates/ columns).
_WINDOW_FIELDS: Final = [
    StructField("window_start", TimestampType()),
    StructField("window_end", TimestampType()),
    StructField("tx_count", LongType()),
    StructField("amount_sum", DoubleType()),
    StructField("amount_mean", DoubleType()),
    StructField("amount_max", DoubleType()),
]
_FEATURE_FIELDS: Final = [StructField(n, DoubleType()) for n in CARD_FEATURES if n not in PARSED_SCHEMA.names]
CARD_STAGE_SCHEMA: Final = StructType(
    [
        *PARSED_SCHEMA.fields,
        StructField("route", StringType(), False),
        StructField("status", StringType(), False),
        # The stage's output event time for Spark: the event time, or just after the watermark for a
        # late or invalid record (Spark refuses to see a stage emit a row at or before the watermark).
        StructField("emit_time", TimestampType(), False),
        *_FEATURE_FIELDS,
        *_WINDOW_FIELDS,
    ]
)
# The terminal stage reads the card stage's rows and the labels, one shape for both.
TERMINAL_STAGE_INPUT_SCHEMA: Final = StructType([*CARD_STAGE_SCHEMA.fields, StructField("is_fraud", IntegerType())])
# What leaves the stages for the sinks: every record with its status, accepted ones with all features.
STAGED_SCHEMA: Final = StructType(
    [*CARD_STAGE_SCHEMA.fields, *[StructField(n, DoubleType()) for n in TERMINAL_FEATURES]]
)
_CARD_COLUMNS: Final = CARD_STAGE_SCHEMA.fieldNames()
_STAGED_COLUMNS: Final = STAGED_SCHEMA.fieldNames()
# A bucket's state: the retained events of its cards (terminals), and the terminals' known frauds.
_CARD_STATE: Final = StructType([StructField("events", BinaryType())])
# Up to which window end (ms) a bucket's closed windows have been emitted.
_EMITTED: Final = StructType([StructField("until_ms", LongType())])
_TERMINAL_STATE: Final = StructType([StructField("events", BinaryType()), StructField("frauds", BinaryType())])
# What a card keeps of each event: what the card features read, and the id (duplicates).
_CARD_EVENTS: Final = pa.schema(
    [
        ("card_id", pa.string()),
        ("transaction_id", pa.string()),
        ("event_s", pa.float64()),
        ("amount", pa.float64()),
        ("terminal_id", pa.string()),
        ("channel", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
    ]
)
_TERMINAL_EVENTS: Final = pa.schema([("terminal_id", pa.string()), ("id", pa.string()), ("event_s", pa.float64())])
_FRAUDS: Final = _TERMINAL_EVENTS


def _encode(frame: pd.DataFrame, schema: pa.Schema) -> bytes:
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _decode(blob: bytes | None, schema: pa.Schema) -> pd.DataFrame:
    if not blob:
        return schema.empty_table().to_pandas()
    frame: pd.DataFrame = pa.ipc.open_stream(blob).read_all().to_pandas()
    return frame


_STAGED_TYPES: Final = {f.name: f.dataType for f in STAGED_SCHEMA.fields}


def _missing(dtype: Any, n: int) -> pd.Series:
    """An all-null column of Spark type `dtype` that Arrow converts as such."""
    if isinstance(dtype, TimestampType):
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[us]")
    if isinstance(dtype, IntegerType | LongType):
        return pd.Series(pd.NA, index=range(n), dtype="Int64")
    if isinstance(dtype, DoubleType):
        return pd.Series(np.nan, index=range(n), dtype="float64")
    return pd.Series(None, index=range(n), dtype=object)


def _conform(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`frame` with exactly `columns`, in order; a column it lacks is all null, of its Spark type."""
    frame = frame.reset_index(drop=True)
    return pd.DataFrame(
        {name: frame[name] if name in frame.columns else _missing(_STAGED_TYPES[name], len(frame)) for name in columns}
    )


def _emit_times(times: pd.Series, floor: pd.Timestamp) -> pd.Series:
    naive = pd.to_datetime(times, utc=True).dt.tz_convert(None)
    return naive.where(naive >= floor, floor)


def _stored(state: Any) -> tuple[Any, ...]:
    value: tuple[Any, ...] = state.get() if state.exists() else ()
    return value or ()


class CardStage(StatefulProcessor):
    """Per card: de-duplicate transaction ids within the watermark, mark late events, compute the card features.

    A record is late when its event time is at or before the watermark at the start of the
    micro-batch (Spark's own definition); a duplicate when its id was seen for this card at an
    event time the watermark has not passed yet (after that, Spark could not have kept it either:
    that is the contract of "duplicates within the watermark").

    With `window_ms`, it also emits the windowed aggregates of each card (count, sum, mean, max
    amount over `[start, start + window)`, a window starting every `slide_ms`) as rows of status
    `aggregate`, once the watermark has passed a window's end: the events are in the card's state
    already, and a window closed this way is final, since every later event of it would be late.

    Args:
        state_ttl_ms: forget a card whose newest event is this far behind the watermark (None: never).
        window_ms: the aggregates' window length (None: no aggregates).
        slide_ms: how often a window starts.
    """

    def __init__(
        self, *, state_ttl_ms: int | None = None, window_ms: int | None = None, slide_ms: int = AGGREGATE_SLIDE_MS
    ) -> None:
        self.state_ttl_ms = state_ttl_ms
        self.window_ms = window_ms
        self.slide_ms = slide_ms

    def close(self) -> None:
        pass

    def init(self, handle: StatefulProcessorHandle) -> None:
        # Spark allows TTL only in processing time; in event time a timer plays that part (and a
        # replay expires exactly what the first run did).
        self.handle = handle
        self.state = handle.getValueState("cards", _CARD_STATE)
        self.emitted = handle.getValueState("emitted", _EMITTED)

    def _retained(self) -> pd.DataFrame:
        """The bucket's retained events."""
        return _decode(next(iter(_stored(self.state)), None), _CARD_EVENTS)

    def handleExpiredTimer(
        self, key: Any, timerValues: TimerValues, expiredTimerInfo: ExpiredTimerInfo
    ) -> Iterator[pd.DataFrame]:
        # A bucket gone quiet: its windows close and its cards expire without a batch to notice.
        events = self._retained()
        watermark_ms = int(timerValues.getCurrentWatermarkInMs())
        yield from self._closed_windows(events, watermark_ms)
        self._wake_when_a_window_closes(events, watermark_ms)
        if self.state_ttl_ms is not None:
            kept = self._unexpired(events, expiredTimerInfo.getExpiryTimeInMs())
            if len(kept) < len(events):
                self._save(kept, watermark_ms)

    def _unexpired(self, events: pd.DataFrame, now_ms: int) -> pd.DataFrame:
        """The events of the cards whose newest event is less than `state_ttl` behind `now_ms`."""
        if self.state_ttl_ms is None or events.empty:
            return events
        newest_ms = events.groupby("card_id")["event_s"].transform("max") * 1000
        return events[newest_ms + self.state_ttl_ms > now_ms]

    def _window_ends(self, events: pd.DataFrame, window_ms: int) -> np.ndarray:
        """The end (ms) of every window of every event: window/slide per event, the first at the
        slide boundary after it."""
        event_ms = np.round(events["event_s"].to_numpy() * 1000).astype(np.int64)
        first_end = (event_ms // self.slide_ms + 1) * self.slide_ms
        return np.concatenate([first_end + j * self.slide_ms for j in range(window_ms // self.slide_ms)])

    def _wake_when_a_window_closes(self, events: pd.DataFrame, watermark_ms: int) -> None:
        # A timer at the next window end: a bucket without new events still emits its windows on
        # time, one timer call per bucket and batch however many windows are open.
        if self.window_ms is None or events.empty:
            return
        ends = self._window_ends(events, self.window_ms)
        open_ends = ends[ends > watermark_ms]
        if len(open_ends):
            self.handle.registerTimer(int(open_ends.min()))

    def _closed_windows(self, events: pd.DataFrame, watermark_ms: int) -> Iterator[pd.DataFrame]:
        """The windows whose end the watermark has passed since the last call, once each."""
        if self.window_ms is None:
            return
        stored = _stored(self.emitted)
        since_ms = stored[0] if stored else None
        if since_ms is not None and watermark_ms <= since_ms:
            return
        self.emitted.update((watermark_ms,))
        if events.empty:
            return
        ends = self._window_ends(events, self.window_ms)
        repeat = self.window_ms // self.slide_ms
        member = pd.DataFrame(
            {
                "card_id": np.tile(events["card_id"].to_numpy(), repeat),
                "end_ms": ends,
                "amount": np.tile(events["amount"].to_numpy(), repeat),
            }
        )
        closed = member["end_ms"] <= watermark_ms
        if since_ms is not None:
            closed &= member["end_ms"] > since_ms
        if not closed.any():
            return
        windows = (
            member[closed]
            .groupby(["card_id", "end_ms"], sort=True)["amount"]
            .agg(tx_count="count", amount_sum="sum", amount_mean="mean", amount_max="max")
            .reset_index()
        )
        end = pd.to_datetime(windows["end_ms"], unit="ms")
        emit_time = pd.Timestamp(max(watermark_ms, 0) + 1, unit="ms")
        # The record columns that may not be null get placeholders: an aggregate is no record.
        yield _conform(
            windows.assign(
                window_start=end - pd.Timedelta(milliseconds=self.window_ms),
                window_end=end,
                status=RecordStatus.AGGREGATE.value,
                route=INVALID_ROUTE,
                emit_time=emit_time,
                stream_name="",
                shard_id="",
                sequence_number="0",
                arrival_time=emit_time,
            ),
            _CARD_COLUMNS,
        )

    def handleInputRows(
        self, key: Any, rows: Iterator[pd.DataFrame], timerValues: TimerValues
    ) -> Iterator[pd.DataFrame]:
        batch = pd.concat(list(rows), ignore_index=True)
        watermark_ms = int(timerValues.getCurrentWatermarkInMs())
        emit_floor = pd.Timestamp(max(watermark_ms, 0) + 1, unit="ms")
        if key[0] == INVALID_ROUTE:
            yield _conform(batch.assign(status=RecordStatus.INVALID.value, emit_time=emit_floor), _CARD_COLUMNS)
            return
        # Deterministic order within the batch: event time, then where the record sat in its shard.
        batch = batch.assign(_seq=batch["sequence_number"].map(int)).sort_values(
            ["event_time", "shard_id", "_seq"], kind="stable"
        )
        batch["event_s"] = epoch_seconds(batch["event_time"])
        watermark_s = watermark_ms / 1000
        retained = self._retained()
        # Windows closed by the watermark hold only retained events: a new one is after the watermark.
        yield from self._closed_windows(retained, watermark_ms)
        # The ids of events the watermark has not passed yet (a card keeps 30 days of events: the
        # longest window, and far more than any sensible allowed lateness).
        recent = retained[retained["event_s"] > watermark_s]
        known = set(zip(recent["card_id"], recent["transaction_id"], strict=True))
        status = []
        for card, tx_id, t in zip(batch["card_id"], batch["transaction_id"], batch["event_s"], strict=True):
            if t <= watermark_s:
                status.append(RecordStatus.LATE.value)
            elif (card, tx_id) in known:
                status.append(RecordStatus.DUPLICATE.value)
            else:
                known.add((card, tx_id))
                status.append(RecordStatus.OK.value)
        batch["status"] = status
        accepted = batch[batch["status"] == RecordStatus.OK.value]
        if not accepted.empty:
            # Only the cards of this batch are computed; the bucket's other cards are kept as they are.
            touched = retained["card_id"].isin(set(accepted["card_id"]))
            features, kept = card_features_streaming(retained[touched], accepted[_CARD_EVENTS.names])
            self._save(pd.concat([retained[~touched], kept], ignore_index=True), watermark_ms)
            batch = batch.join(features.drop(columns=[c for c in features.columns if c in batch.columns]))
        batch = batch.assign(emit_time=_emit_times(batch["event_time"], emit_floor))
        yield _conform(batch, _CARD_COLUMNS)

    def _save(self, events: pd.DataFrame, watermark_ms: int) -> None:
        """Keep the bucket's unexpired events, and wake the bucket when it next has work."""
        events = self._unexpired(events, watermark_ms)
        if events.empty:
            self.state.clear()
            return
        self.state.update((_encode(events, _CARD_EVENTS),))
        newest_ms = int(events["event_s"].max() * 1000)
        self._wake_when_a_window_closes(events, watermark_ms)
        if self.state_ttl_ms is not None:
            # One sweep per bucket and day: a quiet card is dropped at most a day late.
            expiry_ms = newest_ms + self.state_ttl_ms
            self.handle.registerTimer(-(-expiry_ms // _DAY_MS) * _DAY_MS)


class TerminalStage(StatefulProcessor):
    """Per terminal: record the chargebacks of the labels stream and compute the terminal features.

    A label may arrive before or after its transaction: the terminal keeps the ids of known frauds
    and the times of its transactions for the label delay plus 30 days, what any window reaches.
    Records that are not accepted transactions pass through untouched.

    Args:
        label_delay_days: the label delay of the terminal features.
    """

    def __init__(self, *, label_delay_days: float) -> None:
        self.label_delay_days = label_delay_days

    def close(self) -> None:
        pass

    def init(self, handle: StatefulProcessorHandle) -> None:
        # No timers and no TTL here: either would need a time mode, and processing time makes Spark
        # run an empty batch on every trigger. A terminal's state is bounded by the pruning below,
        # and terminals, unlike cards, are a fleet that changes slowly.
        self.state = handle.getValueState("terminals", _TERMINAL_STATE)

    def handleInputRows(
        self, key: Any, rows: Iterator[pd.DataFrame], timerValues: TimerValues
    ) -> Iterator[pd.DataFrame]:
        batch = pd.concat(list(rows), ignore_index=True)
        emit_floor = pd.Timestamp(max(int(timerValues.getCurrentWatermarkInMs()), 0) + 1, unit="ms")
        status = batch["status"]
        if key[0] == INVALID_ROUTE:
            yield _conform(batch.assign(emit_time=_emit_times(batch["emit_time"], emit_floor)), _STAGED_COLUMNS)
            return
        labels = batch[status == RecordStatus.LABEL.value]
        accepted = batch[status == RecordStatus.OK.value]
        stored = _stored(self.state)
        history = _decode(stored[0] if stored else None, _TERMINAL_EVENTS)
        frauds = _decode(stored[1] if stored else None, _FRAUDS)
        if not labels.empty:
            # The newest verdict per transaction wins (a chargeback may be reversed).
            verdicts = labels.assign(id=labels["transaction_id"], event_s=epoch_seconds(labels["event_time"]))
            verdicts = verdicts.drop_duplicates("id", keep="last")
            frauds = frauds[~frauds["id"].isin(verdicts["id"])]
            frauds = pd.concat([frauds, verdicts[verdicts["is_fraud"] == 1][_FRAUDS.names]], ignore_index=True)
        if not accepted.empty:
            new = accepted.assign(id=accepted["transaction_id"], event_s=epoch_seconds(accepted["event_time"]))
            # Only the terminals of this batch are computed. `_row`: where a new event sits in the
            # batch (-1 for the retained history).
            touched = history["terminal_id"].isin(set(new["terminal_id"]))
            combined = pd.concat(
                [history[touched].assign(_row=-1), new[_TERMINAL_EVENTS.names].assign(_row=accepted.index)],
                ignore_index=True,
            )
            order, terminals = group_order(combined["terminal_id"], combined["event_s"].to_numpy())
            combined = combined.iloc[order]
            combined["known_fraud"] = combined["id"].isin(set(frauds["id"])).astype(np.float64)
            features = terminal_features(combined, label_delay_days=self.label_delay_days, groups=terminals)
            is_new = (combined["_row"] >= 0).to_numpy()
            batch = batch.join(features[is_new].set_axis(combined.loc[is_new, "_row"].to_numpy()))
            history = pd.concat([history[~touched], combined[_TERMINAL_EVENTS.names]], ignore_index=True)
        self._save(history, frauds)
        out = batch[batch["status"] != RecordStatus.LABEL.value]
        if not out.empty:
            yield _conform(out.assign(emit_time=_emit_times(out["emit_time"], emit_floor)), _STAGED_COLUMNS)

    def _save(self, history: pd.DataFrame, frauds: pd.DataFrame) -> None:
        # What any window of a later event can reach: the label delay plus 30 days before the
        # terminal's newest transaction (the frauds of a terminal without any are kept).
        horizon = history.groupby("terminal_id")["event_s"].max() - (self.label_delay_days + 30) * DAY
        history = history[history["event_s"] > history["terminal_id"].map(horizon)]
        frauds = frauds[~(frauds["event_s"] <= frauds["terminal_id"].map(horizon))]
        if history.empty and frauds.empty:
            self.state.clear()
        else:
            self.state.update((_encode(history, _TERMINAL_EVENTS), _encode(frauds, _FRAUDS)))
