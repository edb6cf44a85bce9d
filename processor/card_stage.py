"""The card stage: per card, de-duplication, lateness, the card features, chargebacks and windows.

Keyed by a hash bucket of the card (one call per bucket and micro-batch serves all of its cards);
inside a bucket, each card's state is one entry of a MapState, read and written only when the card
has a transaction or a chargeback in the batch. A batch therefore costs in proportion to the cards
it touches and their own last 30 days, never to the other cards' history.

Per card the entry holds, compactly (numpy records, no pandas objects):
- its events of the 30 days before its newest one: time, amount, terminal key, location (what the
  card features read), a 64-bit key of the transaction id (de-duplication and chargebacks) and the
  transaction's current verdict;
- chargebacks that arrived before their transaction (rare), until it comes.

A record is late when its event time is at or before the watermark at the start of the micro-batch
(Spark's own definition); a duplicate when its id was seen for this card at an event time the
watermark has not passed yet (after that Spark could not have kept it either: "duplicates within
the watermark"). Late records go to quarantine, never silently lost.

Chargebacks (the labels stream) come here keyed by their card, so that a verdict counts only for a
transaction the stream accepted: a change of verdict becomes a fraud mark (+1 or -1) for the
terminal stage's hourly fraud counts. Each chargeback also leaves the stage once, as a row of status
`label` under a pass-through key, for the lake's labels/.

With `window_ms`, closed windowed aggregates of each card are emitted as rows of status
`aggregate`: the bucket appends each batch's accepted events to a ListState (one element per
batch) and reads it back only when the watermark passes the next window end, by event-time timer
when no batch comes. A card whose newest event is `state_ttl` behind the watermark is dropped by a
daily event-time sweep of the bucket (features never read it: only memory is at stake).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.streaming.stateful_processor import StatefulProcessor, StatefulProcessorHandle
from pyspark.sql.types import BinaryType, LongType, StringType, StructField, StructType

from ml_model.features import DAY, card_features_streaming, terminal_keys
from processor.records import (
    CARD_STAGE_INPUT_SCHEMA,
    CARD_STAGE_SCHEMA,
    INVALID_ROUTE,
    RecordStatus,
    bucket_routes,
    column,
    emit_floor,
    epoch_us,
    ipc,
    packed,
    read_packed,
    table_of,
)
from processor.spark import prepare_worker_task
from processor.state_calls import get_values, update_values
from processor.windows import AGGREGATE_SLIDE_MS, closed_windows, first_open_end, last_end

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql.streaming.stateful_processor import ExpiredTimerInfo, TimerValues

__all__ = ["CARD_EVENT", "CardStage", "transaction_keys"]

_DAY_MS: Final = 86_400_000
_HISTORY_S: Final = 30 * DAY  # the longest card window
# One retained event of a card.
CARD_EVENT: Final = np.dtype(
    [
        ("event_s", "<f8"),
        ("amount", "<f8"),
        ("terminal_key", "<u8"),
        ("lat", "<f8"),
        ("lon", "<f8"),
        ("tx_key", "<u8"),
        ("fraud", "i1"),
    ]
)
_EVENT_FIELDS: Final = tuple(CARD_EVENT.names or ())
# A chargeback whose transaction has not come (yet).
_PENDING: Final = np.dtype([("tx_key", "<u8"), ("fraud", "i1"), ("event_s", "<f8")])
_CARD_KEY: Final = StructType([StructField("card_id", StringType())])
_CARD_VALUE: Final = StructType([StructField("events", BinaryType()), StructField("pending", BinaryType())])
_WINDOW_BLOB: Final = StructType([StructField("events", BinaryType())])
_WINDOW_EVENTS: Final = pa.schema([("card_id", pa.string()), ("event_ms", pa.int64()), ("amount", pa.float64())])
# Per bucket: up to which time windows were emitted, the next window end, the timers set (-1: none).
_META: Final = StructType(
    [
        StructField("emitted_until_ms", LongType()),
        StructField("next_end_ms", LongType()),
        StructField("window_timer_ms", LongType()),
        StructField("sweep_timer_ms", LongType()),
    ]
)
_NO_TIME: Final = -1
# The card features the stage adds to a row (the others are event fields).
_ADDED_FEATURES: Final = tuple(
    f.name
    for f in CARD_STAGE_SCHEMA.fields
    if f.name not in CARD_STAGE_INPUT_SCHEMA.names and f.name.startswith(("card_", "is_", "channel_"))
)


def transaction_keys(ids: Any) -> np.ndarray:
    """The 64-bit key a card keeps of each transaction id (a collision within one card's 30 days is
    about as likely as 1 in 10^15)."""
    return terminal_keys(np.asarray(ids, dtype=object))


class _Card:
    """One card's entry, decoded."""

    __slots__ = ("events", "pending")

    def __init__(self, value: tuple[Any, ...] | None) -> None:
        self.events = np.frombuffer(value[0], CARD_EVENT).copy() if value else np.zeros(0, CARD_EVENT)
        self.pending = np.frombuffer(value[1], _PENDING).copy() if value and value[1] else np.zeros(0, _PENDING)

    def value(self) -> tuple[bytes, bytes]:
        return self.events.tobytes(), self.pending.tobytes()


def _events_frame(cards: list[str], entries: list[np.ndarray]) -> pd.DataFrame:
    """The cards' retained events as one frame with a `card_id` column."""
    events = np.concatenate(entries) if entries else np.zeros(0, CARD_EVENT)
    frame = pd.DataFrame({name: events[name] for name in _EVENT_FIELDS})
    frame.insert(0, "card_id", np.repeat(np.asarray(cards, dtype=object), [len(e) for e in entries]))
    frame["channel"] = None  # only the current row's channel is a feature
    return frame


def _records(frame: pd.DataFrame) -> np.ndarray:
    out = np.zeros(len(frame), CARD_EVENT)
    for name in _EVENT_FIELDS:
        out[name] = frame[name].to_numpy()
    return out


def _arrival_order(table: pa.Table, time_column: str) -> np.ndarray:
    """Rows in a deterministic order: by `time_column`, then where each sat in its shard (sequence
    numbers are decimal strings beyond 64 bits: by length, then text)."""
    seq = column(table, "sequence_number").astype(str)
    return np.lexsort((seq, np.char.str_len(seq), column(table, "shard_id").astype(str), epoch_us(table, time_column)))


class CardStage(StatefulProcessor):
    """See the module doc.

    Input and output rows are packed (`processor.records`); the output goes to the terminal stage,
    under the terminal's bucket for accepted transactions and fraud marks, and under the pass-through
    key of its own partition for every other row (chargebacks, as rows of status `label`, among them).

    Args:
        state_ttl_ms: forget a card whose newest event is this far behind the watermark (None: never).
        window_ms: the aggregates' window length (None: no aggregates).
        slide_ms: how often a window starts.
        terminal_keys: the terminal stage's keys (`processor.records.StageKeys`).
        through_keys: the pass-through keys, one per partition (`processor.records.StageKeys`).
    """

    def __init__(
        self,
        *,
        state_ttl_ms: int | None = None,
        window_ms: int | None = None,
        slide_ms: int = AGGREGATE_SLIDE_MS,
        terminal_keys: tuple[str, ...],
        through_keys: tuple[str, ...],
    ) -> None:
        self.state_ttl_ms = state_ttl_ms
        self.window_ms = window_ms
        self.slide_ms = slide_ms
        self.terminal_keys = terminal_keys
        self.through_keys = through_keys

    def init(self, handle: StatefulProcessorHandle) -> None:
        from pyspark import TaskContext

        prepare_worker_task()
        context = TaskContext.get()  # None where Spark only asks the processor for its state's schema
        self.through_route = self.through_keys[context.partitionId() % len(self.through_keys) if context else 0]
        self.handle = handle
        self.cards = handle.getMapState("cards", _CARD_KEY, _CARD_VALUE)
        self.window_events = handle.getListState("window_events", _WINDOW_BLOB)
        self.meta = handle.getValueState("meta", _META)

    def close(self) -> None:
        pass

    # -- the bucket's bookkeeping -------------------------------------------------------------------

    def _load_meta(self) -> list[int]:
        stored = self.meta.get() if self.meta.exists() else None
        return list(stored) if stored else [_NO_TIME] * 4

    def _save_meta(self, meta: list[int], before: list[int]) -> None:
        if meta != before:
            self.meta.update(tuple(meta))

    def _schedule(self, meta: list[int], watermark_ms: int) -> None:
        """Timers: at the next window end (a quiet bucket still closes its windows on time), and the
        daily sweep of expired cards."""
        _, next_end, window_timer, sweep_timer = meta
        if next_end != _NO_TIME and (
            window_timer == _NO_TIME or window_timer <= watermark_ms or next_end < window_timer
        ):
            self.handle.registerTimer(next_end)
            meta[2] = next_end
        if self.state_ttl_ms is not None and (sweep_timer == _NO_TIME or sweep_timer <= watermark_ms):
            meta[3] = (max(watermark_ms, 0) // _DAY_MS + 1) * _DAY_MS
            self.handle.registerTimer(meta[3])

    def _out(self, tables: list[pa.Table], watermark_ms: int) -> pd.DataFrame:
        """The stage's output rows, packed per key of the terminal stage."""
        rows = pa.concat_tables(tables)
        status = column(rows, "status")
        to_terminal = (status == RecordStatus.OK.value) | (status == RecordStatus.FRAUD_MARK.value)
        routes = np.full(rows.num_rows, self.through_route, dtype=object)
        if to_terminal.any():
            routes[to_terminal] = bucket_routes(column(rows, "terminal_id")[to_terminal], self.terminal_keys)
        return packed(rows, routes, emit_floor(watermark_ms))

    # -- windows ------------------------------------------------------------------------------------

    def _close_windows(self, meta: list[int], watermark_ms: int) -> pa.Table | None:
        """The windows the watermark has closed since the last emission (each once), as rows of status `aggregate`."""
        emitted, next_end = meta[0], meta[1]
        if self.window_ms is None or next_end == _NO_TIME or watermark_ms < next_end:
            return None
        tables = [pa.ipc.open_stream(blob).read_all() for (blob,) in self.window_events.get()]
        events = pa.concat_tables(tables) if tables else _WINDOW_EVENTS.empty_table()
        event_ms = column(events, "event_ms").astype(np.int64)
        windows = closed_windows(
            column(events, "card_id"),
            event_ms,
            column(events, "amount").astype(np.float64),
            since_ms=None if emitted == _NO_TIME else emitted,
            until_ms=watermark_ms,
            window_ms=self.window_ms,
            slide_ms=self.slide_ms,
        )
        still_open = last_end(event_ms, window_ms=self.window_ms, slide_ms=self.slide_ms) > watermark_ms
        if not still_open.any():
            self.window_events.clear()
        elif not still_open.all():
            self.window_events.put([(ipc(events.filter(pa.array(still_open))),)])
        meta[0] = watermark_ms
        following = first_open_end(event_ms[still_open], watermark_ms, window_ms=self.window_ms, slide_ms=self.slide_ms)
        meta[1] = _NO_TIME if following is None else following
        if windows.empty:
            return None
        end_us = windows["end_ms"].to_numpy(dtype=np.int64) * 1000
        n = len(windows)
        # The record columns that may not be null get placeholders: an aggregate is no record.
        return table_of(
            CARD_STAGE_SCHEMA,
            columns={
                "card_id": windows["card_id"].to_numpy(dtype=object),
                "window_start": pa.array(end_us - self.window_ms * 1000, pa.timestamp("us", tz="UTC")),
                "window_end": pa.array(end_us, pa.timestamp("us", tz="UTC")),
                "tx_count": windows["tx_count"].to_numpy(),
                "amount_sum": windows["amount_sum"].to_numpy(),
                "amount_mean": windows["amount_mean"].to_numpy(),
                "amount_max": windows["amount_max"].to_numpy(),
                "status": np.full(n, RecordStatus.AGGREGATE.value, dtype=object),
                "route": np.full(n, INVALID_ROUTE, dtype=object),
                "stream_name": np.full(n, "", dtype=object),
                "shard_id": np.full(n, "", dtype=object),
                "sequence_number": np.full(n, "0", dtype=object),
                "arrival_time": pa.array(np.full(n, max(watermark_ms, 0) * 1000 + 1000), pa.timestamp("us", tz="UTC")),
            },
            rows=n,
        )

    def _open_windows(
        self, meta: list[int], card_ids: np.ndarray, event_s: np.ndarray, amounts: np.ndarray, watermark_ms: int
    ) -> None:
        if self.window_ms is None or len(card_ids) == 0:
            return
        event_ms = np.round(event_s * 1000).astype(np.int64)
        events = pa.Table.from_arrays(
            [pa.array(card_ids, pa.string()), pa.array(event_ms), pa.array(amounts, pa.float64())],
            schema=_WINDOW_EVENTS,
        )
        self.window_events.appendValue((ipc(events),))
        first = first_open_end(event_ms, watermark_ms, window_ms=self.window_ms, slide_ms=self.slide_ms)
        if first is not None and (meta[1] == _NO_TIME or first < meta[1]):
            meta[1] = first

    # -- Spark's callbacks --------------------------------------------------------------------------

    def handleExpiredTimer(
        self, key: Any, timerValues: TimerValues, expiredTimerInfo: ExpiredTimerInfo
    ) -> Iterator[pd.DataFrame]:
        watermark_ms = int(timerValues.getCurrentWatermarkInMs())
        meta = self._load_meta()
        before = list(meta)
        windows = self._close_windows(meta, watermark_ms)
        if self.state_ttl_ms is not None and meta[3] != _NO_TIME and meta[3] <= watermark_ms:
            self._sweep(watermark_ms)
        self._schedule(meta, watermark_ms)
        self._save_meta(meta, before)
        if windows is not None:
            yield self._out([windows], watermark_ms)

    def _sweep(self, watermark_ms: int) -> None:
        """Drop the cards whose newest event is `state_ttl` behind the watermark."""
        assert self.state_ttl_ms is not None  # noqa: S101 - only called with a TTL
        expired = []
        for (card,), (events, _) in self.cards.iterator():
            newest = np.frombuffer(events, CARD_EVENT)["event_s"].max(initial=-np.inf)
            if newest * 1000 + self.state_ttl_ms <= watermark_ms:
                expired.append(card)
        for card in expired:
            self.cards.removeKey((card,))

    def handleInitialState(self, key: Any, initialState: pd.DataFrame, timerValues: TimerValues) -> None:
        """A new checkpoint's history (`processor.history`): each card's last 30 days, with the
        history's verdicts, as if the stream had seen them."""
        table = read_packed(initialState["rows"], CARD_STAGE_INPUT_SCHEMA)
        card_ids = column(table, "card_id")
        codes = pd.factorize(card_ids)[0]
        event_s = epoch_us(table, "event_time") / 1e6
        order = np.lexsort((event_s, codes))
        events = np.zeros(table.num_rows, CARD_EVENT)
        events["event_s"] = event_s
        events["amount"] = column(table, "amount")
        events["terminal_key"] = terminal_keys(column(table, "terminal_id"))
        events["lat"] = column(table, "lat")
        events["lon"] = column(table, "lon")
        events["tx_key"] = transaction_keys(column(table, "transaction_id"))
        events["fraud"] = column(table, "is_fraud")
        events, codes = events[order], codes[order]
        starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]])) if len(codes) else codes
        ends = np.append(starts[1:], len(codes))
        newest = np.repeat(events["event_s"][ends - 1], ends - starts)
        kept = events["event_s"] > newest - _HISTORY_S
        bounds = np.concatenate([[0], np.cumsum(np.add.reduceat(kept, starts))]) if len(codes) else [0]
        events = events[kept]
        update_values(
            self.cards,
            [
                ((card_ids[order[start]],), (events[low:high].tobytes(), b""))
                for start, low, high in zip(starts, bounds[:-1], bounds[1:], strict=True)
            ],
        )

    def handleInputRows(
        self, key: Any, rows: Iterator[pd.DataFrame], timerValues: TimerValues
    ) -> Iterator[pd.DataFrame]:
        table = read_packed([blob for frame in rows for blob in frame["rows"]], CARD_STAGE_INPUT_SCHEMA)
        watermark_ms = int(timerValues.getCurrentWatermarkInMs())
        if key[0] == INVALID_ROUTE:
            invalid = np.full(table.num_rows, RecordStatus.INVALID.value, dtype=object)
            yield self._out([table_of(CARD_STAGE_SCHEMA, table, {"status": invalid})], watermark_ms)
            return
        meta = self._load_meta()
        before = list(meta)
        # Windows closed by the watermark hold only earlier events: a new one is after the watermark.
        windows = self._close_windows(meta, watermark_ms)

        is_label = table.column("is_fraud").is_valid()
        txs = table.filter(pc.invert(is_label))
        txs = txs.take(pa.array(_arrival_order(txs, "event_time")))
        labels = table.filter(is_label)
        labels = labels.take(pa.array(_arrival_order(labels, "arrival_time")))
        card_ids = column(txs, "card_id")
        event_s = epoch_us(txs, "event_time") / 1e6
        tx_keys = transaction_keys(column(txs, "transaction_id"))
        on_time = event_s > watermark_ms / 1000
        touched = list(dict.fromkeys([*card_ids[on_time], *column(labels, "card_id")]))
        stored = get_values(self.cards, [(card,) for card in touched])
        cards = {card: _Card(value) for card, value in zip(touched, stored, strict=True)}

        status = self._judge(card_ids, tx_keys, on_time, cards, watermark_ms)
        accepted = np.flatnonzero(status == RecordStatus.OK.value)
        marks: list[dict[str, Any]] = []
        added: dict[str, Any] = {"status": status}
        # The chargebacks first, on the events stored before this batch (the rest wait as pending for
        # their transaction, which this batch may bring): the new events then cut each card's events to
        # the 30 days before its newest, and a batch that spans more would have cut the transaction of
        # a chargeback it holds before the chargeback was applied.
        for label in labels.to_pylist():
            self._apply_label(label, cards[label["card_id"]], marks)
        if len(accepted):
            features = self._card_features(txs, accepted, event_s, tx_keys, cards, marks)
            for name in _ADDED_FEATURES:
                values = np.full(txs.num_rows, np.nan)
                values[accepted] = features[name].to_numpy()
                added[name] = values
        update_values(self.cards, [((card,), entry.value()) for card, entry in cards.items()])

        self._open_windows(meta, card_ids[accepted], event_s[accepted], column(txs, "amount")[accepted], watermark_ms)
        self._schedule(meta, watermark_ms)
        self._save_meta(meta, before)
        out = [table_of(CARD_STAGE_SCHEMA, txs, added)]
        if labels.num_rows:  # every chargeback also goes on to the sinks (labels/), once
            as_label = np.full(labels.num_rows, RecordStatus.LABEL.value, dtype=object)
            out.append(table_of(CARD_STAGE_SCHEMA, labels, {"status": as_label}))
        if marks:
            out.append(pa.Table.from_pylist(marks, schema=table_of(CARD_STAGE_SCHEMA).schema))
        if windows is not None:
            out.append(windows)
        if sum(t.num_rows for t in out):
            yield self._out(out, watermark_ms)

    # -- the steps of a batch -----------------------------------------------------------------------

    @staticmethod
    def _judge(
        card_ids: np.ndarray, tx_keys: np.ndarray, on_time: np.ndarray, cards: dict[str, _Card], watermark_ms: int
    ) -> np.ndarray:
        """Each transaction's status: late, duplicate (of a retained event the watermark has not
        passed, or of an earlier row of the batch) or ok."""
        watermark_s = watermark_ms / 1000
        known: dict[str, set[int]] = {}
        for card, entry in cards.items():
            recent = entry.events[entry.events["event_s"] > watermark_s]
            known[card] = set(recent["tx_key"].tolist())
        status = np.empty(len(card_ids), dtype=object)
        for i, (card, tx_key, fresh) in enumerate(zip(card_ids, tx_keys.tolist(), on_time, strict=True)):
            if not fresh:
                status[i] = RecordStatus.LATE.value
            elif tx_key in known[card]:
                status[i] = RecordStatus.DUPLICATE.value
            else:
                known[card].add(tx_key)
                status[i] = RecordStatus.OK.value
        return status

    @staticmethod
    def _card_features(
        txs: pa.Table,
        accepted: np.ndarray,
        event_s: np.ndarray,
        tx_keys: np.ndarray,
        cards: dict[str, _Card],
        marks: list[dict[str, Any]],
    ) -> pd.DataFrame:
        """The accepted transactions' card features (one row each, in order); their cards' entries
        take the new events."""
        rows = txs.take(pa.array(accepted))
        new = pd.DataFrame(
            {
                "card_id": column(rows, "card_id"),
                "event_s": event_s[accepted],
                "amount": column(rows, "amount").astype(np.float64),
                "terminal_key": terminal_keys(column(rows, "terminal_id")),
                "lat": column(rows, "lat").astype(np.float64),
                "lon": column(rows, "lon").astype(np.float64),
                "tx_key": tx_keys[accepted],
                "fraud": np.zeros(len(accepted), dtype=np.int8),
                "channel": column(rows, "channel"),
            }
        )
        fraud = new["fraud"].to_numpy().copy()
        for i, (card, tx_key) in enumerate(zip(new["card_id"], new["tx_key"].tolist(), strict=True)):
            entry = cards[card]
            if not len(entry.pending):
                continue
            waiting = entry.pending["tx_key"] == tx_key
            if waiting.any():  # its chargeback came first
                fraud[i] = int(entry.pending["fraud"][waiting][-1])
                entry.pending = entry.pending[~waiting]
                if fraud[i]:
                    marks.append(_mark(rows.slice(i, 1).to_pylist()[0], +1))
        new["fraud"] = fraud
        with_new = list(dict.fromkeys(new["card_id"]))
        history = _events_frame(with_new, [cards[c].events for c in with_new])
        features, kept = card_features_streaming(history, new)
        # `kept` holds the new events' cards, sorted by card, then time.
        records = _records(kept)
        ids = kept["card_id"].to_numpy(dtype=object)
        starts = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
        for start, end in zip(starts, [*starts[1:], len(ids)], strict=True):
            cards[ids[start]].events = records[start:end]
        for card in with_new:  # chargebacks waiting for a transaction older than any window are dropped
            entry = cards[card]
            if len(entry.pending):
                newest = entry.events["event_s"].max(initial=-np.inf)
                entry.pending = entry.pending[entry.pending["event_s"] > newest - _HISTORY_S]
        return features

    @staticmethod
    def _apply_label(label: dict[str, Any], entry: _Card, marks: list[dict[str, Any]]) -> None:
        """A chargeback's verdict (the newest wins) for the card's transaction; a mark when it changes one."""
        tx_key = int(transaction_keys([label["transaction_id"]])[0])
        verdict = int(label["is_fraud"])
        match = np.flatnonzero(entry.events["tx_key"] == tx_key)
        if len(match) == 0:
            pending = np.zeros(1, _PENDING)
            pending[0] = (tx_key, verdict, label["event_time"].timestamp())
            entry.pending = np.concatenate([entry.pending[entry.pending["tx_key"] != tx_key], pending])
            return
        i = match[-1]
        if int(entry.events["fraud"][i]) == verdict:
            return
        entry.events["fraud"][i] = verdict
        at = pd.Timestamp(round(float(entry.events["event_s"][i]) * 1e6), unit="us", tz="UTC").to_pydatetime()
        marks.append(_mark({**label, "event_time": at}, +1 if verdict else -1))


def _mark(row: dict[str, Any], change: int) -> dict[str, Any]:
    """A fraud mark: +1 or -1 to the fraud count of the transaction's terminal and hour."""
    return {
        "status": RecordStatus.FRAUD_MARK.value,
        "route": INVALID_ROUTE,
        "is_fraud": change,
        **{
            name: row[name]
            for name in (
                "transaction_id",
                "card_id",
                "terminal_id",
                "event_time",
                "stream_name",
                "shard_id",
                "sequence_number",
                "arrival_time",
            )
        },
    }
