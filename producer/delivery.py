"""From transactions to the records a card network actually delivers.

Turns frames of transactions (generated, or replayed from a file) into `Delivery` records in the
order they reach Kinesis: each transaction at its event time; chargeback labels after the label
delay; and, on demand, real-world messiness: late (out-of-order) deliveries, duplicate deliveries
of the same `transaction_id`, and an exact share of malformed records for the processor's
quarantine.
"""

from __future__ import annotations

import heapq
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import orjson
import pandas as pd

from fraudstream.contracts import SCHEMA_VERSION, format_event_time

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = [
    "MALFORMED_KINDS",
    "Delivery",
    "DeliveryConfig",
    "RecordKind",
    "StreamKind",
    "deliveries",
    "encode_transactions",
]

DAY_S: Final = 86_400.0
_OPTIONAL_FIELDS: Final = ("currency", "merchant_category", "channel", "country", "lat", "lon")


class StreamKind(StrEnum):
    """Which Kinesis stream a record goes to."""

    TRANSACTIONS = "transactions"
    LABELS = "labels"


class RecordKind(StrEnum):
    """What a delivered record is, for counting and for tests."""

    TRANSACTION = "transaction"
    DUPLICATE = "duplicate"
    MALFORMED = "malformed"
    LABEL = "label"


# The ways a record can be malformed, and the quarantine reason each one must produce.
MALFORMED_KINDS: Final = {
    "truncated_json": "bad_json",
    "not_an_object": "not_an_object",
    "missing_card_id": "missing_field",
    "missing_amount": "missing_field",
    "amount_as_string": "wrong_type",
    "negative_amount": "out_of_range",
    "absurd_amount": "out_of_range",
    "bad_timestamp": "bad_timestamp",
    "timestamp_without_offset": "bad_timestamp",
    "unknown_schema_version": "unknown_schema_version",
}


@dataclass(frozen=True, slots=True)
class Delivery:
    """One record to put on a stream at event-clock time `at` (epoch seconds)."""

    at: float
    stream: StreamKind
    partition_key: str
    data: bytes
    kind: RecordKind
    transaction_id: str | None = None


@dataclass(frozen=True)
class DeliveryConfig:
    """How records reach the stream.

    Args:
        seed: makes the messiness reproducible.
        label_delay_days: chargebacks arrive within this many days of the transaction.
        late_share: share of transactions delivered late (after later events).
        max_lateness_s: how late a late transaction can be, in seconds of event time.
        duplicate_share: share of transactions delivered a second time.
        malformed_share: share of all records on the transactions stream that are malformed.
        emit_labels: whether fraud labels are emitted at all (a file without `is_fraud` has none).
        start_at: records before this event time are skipped (the first day may start mid-day).
    """

    seed: int = 42
    label_delay_days: float = 7.0
    late_share: float = 0.0
    max_lateness_s: float = 600.0
    duplicate_share: float = 0.0
    malformed_share: float = 0.0
    emit_labels: bool = True
    start_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("late_share", "duplicate_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        if not 0.0 <= self.malformed_share < 1.0:
            raise ValueError("malformed_share must be within 0..1 (exclusive of 1)")
        if self.label_delay_days <= 0 or self.max_lateness_s < 0:
            raise ValueError("label_delay_days must be > 0 and max_lateness_s >= 0")


def encode_transactions(frame: pd.DataFrame) -> list[bytes]:
    """The contract's JSON for each row: optional fields that are missing are left out."""
    utc = frame["event_time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ms]")
    times = [f"{t}Z" for t in np.datetime_as_string(utc, unit="ms").tolist()]
    n = len(frame)
    columns = {
        c: frame[c].tolist() if c in frame else [None] * n
        for c in ("transaction_id", "card_id", "terminal_id", "amount", *_OPTIONAL_FIELDS)
    }
    optional = [(name, columns[name]) for name in _OPTIONAL_FIELDS]
    out = []
    for i, (tx_id, card, terminal, amount) in enumerate(
        zip(columns["transaction_id"], columns["card_id"], columns["terminal_id"], columns["amount"], strict=True)
    ):
        event: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "transaction_id": tx_id,
            "event_time": times[i],
            "card_id": card,
            "terminal_id": terminal,
            "amount": float(amount),
        }
        for name, values in optional:
            value = values[i]
            # None, NaN (value != value) and pandas' NA are all "absent".
            if value is not None and value == value and value is not pd.NA:
                event[name] = value
        out.append(orjson.dumps(event))
    return out


@dataclass
class _Scheduler:
    config: DeliveryConfig
    heap: list[tuple[float, int, Delivery]] = field(default_factory=list)
    seq: int = 0
    valid_on_stream: int = 0
    malformed_emitted: int = 0

    def push(self, d: Delivery) -> None:
        heapq.heappush(self.heap, (d.at, self.seq, d))
        self.seq += 1

    def pop_until(self, horizon: float) -> Iterator[Delivery]:
        while self.heap and self.heap[0][0] < horizon:
            yield heapq.heappop(self.heap)[2]


def deliveries(
    frames: Iterable[pd.DataFrame], config: DeliveryConfig, *, end_at: float | None = None
) -> Iterator[Delivery]:
    """Yield the records of `frames` in delivery order.

    Args:
        frames: transactions in event-time order, frame after frame (a frame is typically one day);
            the truth column `is_fraud` (0/1) is optional.
        config: labels and messiness.
        end_at: event-clock time (epoch seconds) after which nothing more is delivered; labels due
            later are not known yet and are dropped. None: deliver everything that is due.
    """
    sched = _Scheduler(config)
    rng = np.random.default_rng([config.seed, 0xDE11])
    start = config.start_at.timestamp() if config.start_at is not None else -math.inf
    horizon = -math.inf
    for frame in frames:
        if len(frame) == 0:
            continue
        epoch = frame["event_time"].to_numpy(dtype="datetime64[ms]").astype(np.int64) / 1000.0
        keep = (epoch >= start) & (epoch < (math.inf if end_at is None else end_at))
        if not keep.all():
            frame, epoch = frame.loc[keep].reset_index(drop=True), epoch[keep]
            if len(frame) == 0:
                continue
        if epoch[0] < horizon:
            raise ValueError("frames must come in event-time order")
        _schedule_frame(sched, rng, frame, epoch)
        # Every later frame starts at or after this frame's last event: what is due before it can go.
        horizon = float(epoch[-1])
        yield from sched.pop_until(horizon if end_at is None else min(horizon, end_at))
    final = math.inf if end_at is None else end_at
    for d in sched.pop_until(final):
        yield d
    # Transactions and their messiness are delivered in full; only labels not yet due are dropped.
    if end_at is not None:
        for _, _, d in sorted(sched.heap):
            if d.stream is StreamKind.TRANSACTIONS:
                yield d


def _schedule_frame(sched: _Scheduler, rng: np.random.Generator, frame: pd.DataFrame, epoch: np.ndarray) -> None:
    config = sched.config
    n = len(frame)
    payloads = encode_transactions(frame)
    tx_ids = frame["transaction_id"].to_numpy()
    cards = frame["card_id"].to_numpy()
    at = epoch.copy()
    late = rng.random(n) < config.late_share
    at[late] += rng.uniform(0, config.max_lateness_s, int(late.sum()))
    for i in range(n):
        sched.push(
            Delivery(float(at[i]), StreamKind.TRANSACTIONS, cards[i], payloads[i], RecordKind.TRANSACTION, tx_ids[i])
        )
    for dup in np.flatnonzero(rng.random(n) < config.duplicate_share):
        again = float(at[dup] + rng.uniform(0.05, 60.0))
        sched.push(
            Delivery(again, StreamKind.TRANSACTIONS, cards[dup], payloads[dup], RecordKind.DUPLICATE, tx_ids[dup])
        )
        sched.valid_on_stream += 1
    sched.valid_on_stream += n

    if config.emit_labels and "is_fraud" in frame:
        fraud = np.flatnonzero(frame["is_fraud"].to_numpy() == 1)
        delay = config.label_delay_days * DAY_S
        label_at = epoch[fraud] + rng.uniform(0.5, 1.0, len(fraud)) * delay
        terminals = frame["terminal_id"].to_numpy()
        for j, f in enumerate(fraud):
            label = {
                "schema_version": SCHEMA_VERSION,
                "transaction_id": tx_ids[f],
                "card_id": cards[f],
                "terminal_id": terminals[f],
                "tx_event_time": format_event_time(datetime.fromtimestamp(epoch[f], UTC)),
                "label_time": format_event_time(datetime.fromtimestamp(label_at[j], UTC)),
                "is_fraud": 1,
            }
            data = json.dumps(label, separators=(",", ":")).encode()
            sched.push(Delivery(float(label_at[j]), StreamKind.LABELS, cards[f], data, RecordKind.LABEL, tx_ids[f]))

    if config.malformed_share > 0:
        # bad / (valid + bad) = share, kept exact over the whole run by rounding the running total.
        share = config.malformed_share
        target = round(share / (1.0 - share) * sched.valid_on_stream)
        n_bad = target - sched.malformed_emitted
        kinds = list(MALFORMED_KINDS)
        sources = rng.integers(0, n, n_bad)
        bad_at = rng.uniform(float(epoch[0]), float(epoch[-1]) + 1e-3, n_bad)
        for k in range(n_bad):
            kind = kinds[int(rng.integers(0, len(kinds)))]
            src = int(sources[k])
            data = malform(json.loads(payloads[src]), kind, f"bad-{rng.integers(0, 2**62):016x}")
            sched.push(Delivery(float(bad_at[k]), StreamKind.TRANSACTIONS, cards[src], data, RecordKind.MALFORMED))
        sched.malformed_emitted = target


def malform(event: dict[str, Any], kind: str, new_id: str) -> bytes:
    """Break a valid event in the way `kind` names (see MALFORMED_KINDS); it gets a fresh id."""
    event = dict(event, transaction_id=new_id)
    match kind:
        case "truncated_json":
            text = json.dumps(event)
            return text[: len(text) // 2].encode()
        case "not_an_object":
            return json.dumps([event]).encode()
        case "missing_card_id":
            del event["card_id"]
        case "missing_amount":
            del event["amount"]
        case "amount_as_string":
            event["amount"] = str(event["amount"])
        case "negative_amount":
            event["amount"] = -abs(float(event["amount"]))
        case "absurd_amount":
            event["amount"] = 5.0e7
        case "bad_timestamp":
            event["event_time"] = "2026-13-45T25:61:00Z"
        case "timestamp_without_offset":
            event["event_time"] = str(event["event_time"]).rstrip("Z")
        case "unknown_schema_version":
            event["schema_version"] = 99
        case _:
            raise ValueError(f"unknown malformed kind {kind!r}")
    return json.dumps(event, separators=(",", ":")).encode()
