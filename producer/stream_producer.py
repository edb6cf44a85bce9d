"""The producer's main loop: paces deliveries by event time (`speedup`) and/or a fixed rate
(`tps`), routes them to the transactions and labels writers, and stops cleanly on a limit or a
signal, flushing what it has buffered."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from producer.delivery import Delivery, RecordKind, StreamKind

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from producer.kinesis_writer import KinesisWriter, WriterStats

__all__ = ["Pacing", "ProducerRun", "RunSummary"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pacing:
    """How fast records go out.

    Args:
        speedup: event time runs this many times faster than wall time (1 = real time);
            None or 0: event time does not pace the run.
        tps: at most this many records per second on the transactions stream; None: no cap.
        origin: the event time (epoch seconds) that the run's first moment stands for: a record is
            due `(at - origin) / speedup` seconds after the start. None: the first record's `at`
            (a replay starts at once); a generated run passes its start, so that a world whose first
            event comes later waits for it.
    """

    speedup: float | None = 1.0
    tps: float | None = None
    origin: float | None = None


@dataclass
class RunSummary:
    """What a run did."""

    kinds: Counter[str] = field(default_factory=Counter)
    streams: dict[str, WriterStats] = field(default_factory=dict)
    elapsed_s: float = 0.0
    first_event_at: float | None = None
    last_event_at: float | None = None
    stopped_by: str = "end of input"

    @property
    def transactions_put(self) -> int:
        return sum(n for k, n in self.kinds.items() if k != RecordKind.LABEL)

    @property
    def rate(self) -> float:
        return self.transactions_put / self.elapsed_s if self.elapsed_s > 0 else 0.0


class ProducerRun:
    """One run of the producer over a sequence of deliveries.

    Args:
        writers: one writer per stream.
        pacing: speed-up and/or rate cap.
        count: stop after this many records on the transactions stream.
        duration_s: stop after this many seconds of wall time.
        linger_s: the longest a buffered record waits before a partial batch is sent.
        stop: set it (from a signal handler) to stop after flushing.
        on_progress: called about twice a second with the running summary.
    """

    def __init__(
        self,
        writers: dict[StreamKind, KinesisWriter],
        *,
        pacing: Pacing,
        count: int | None = None,
        duration_s: float | None = None,
        linger_s: float = 0.1,
        stop: threading.Event | None = None,
        on_progress: Callable[[RunSummary], None] | None = None,
    ) -> None:
        self.writers = writers
        self.pacing = pacing
        self.count = count
        self.duration_s = duration_s
        self.linger_s = linger_s
        self.stop = stop or threading.Event()
        self.on_progress = on_progress
        self.summary = RunSummary(streams={k.value: w.stats for k, w in writers.items()})

    def run(self, records: Iterable[Delivery]) -> RunSummary:
        """Send `records` until they end, a limit is reached or `stop` is set; always flushes."""
        summary = self.summary
        wall0 = time.monotonic()
        event0 = self.pacing.origin
        deadline = math.inf if self.duration_s is None else wall0 + self.duration_s
        tx_sent = 0
        last_progress = wall0
        speedup = self.pacing.speedup or None
        try:
            for record in records:
                if self.stop.is_set():
                    summary.stopped_by = "signal"
                    break
                if self.count is not None and tx_sent >= self.count and record.stream is StreamKind.TRANSACTIONS:
                    summary.stopped_by = "count"
                    break
                now = time.monotonic()
                if now >= deadline:
                    summary.stopped_by = "duration"
                    break
                if event0 is None:
                    event0 = record.at
                due = now
                if speedup is not None:
                    due = max(due, wall0 + (record.at - event0) / speedup)
                if self.pacing.tps and record.stream is StreamKind.TRANSACTIONS:
                    due = max(due, wall0 + tx_sent / self.pacing.tps)
                wait = due - now
                if wait > 0:
                    if wait >= self.linger_s:
                        self._flush()  # idle until the next record: send what is buffered now
                    # NOTE: the wait ends at the deadline: a record due after it is never sent.
                    if self.stop.wait(max(0.0, min(due, deadline) - time.monotonic())):
                        summary.stopped_by = "signal"
                        break
                    if due >= deadline:
                        summary.stopped_by = "duration"
                        break
                for writer in self._flush_order():
                    writer.flush_if_idle(self.linger_s)
                writer = self.writers[record.stream]
                labels = self.writers.get(StreamKind.LABELS)
                if labels is not None and labels is not writer and labels.pending:
                    if writer.fills_batch(record.partition_key, record.data):
                        # The processor reads both streams in arrival order: a chargeback written
                        # after transactions delivered later than it would reach their terminal
                        # features late (the labels writer fills its batches far slower; run as
                        # fast as possible, that is days of event time). Its buffer goes first.
                        labels.flush()
                writer.put(record.partition_key, record.data)
                summary.kinds[record.kind.value] += 1
                if record.stream is StreamKind.TRANSACTIONS:
                    tx_sent += 1
                    if summary.first_event_at is None:
                        summary.first_event_at = record.at
                    summary.last_event_at = record.at
                if self.on_progress is not None and now - last_progress >= 0.5:
                    summary.elapsed_s = now - wall0
                    self.on_progress(summary)
                    last_progress = now
        finally:
            self._flush()
            summary.elapsed_s = time.monotonic() - wall0
            if self.on_progress is not None:
                self.on_progress(summary)
        return summary

    def _flush(self) -> None:
        for writer in self._flush_order():
            writer.flush()

    def _flush_order(self) -> list[KinesisWriter]:
        """The writers, labels first: buffered chargebacks go out before the transactions after them."""
        return sorted(self.writers.values(), key=lambda w: w is not self.writers.get(StreamKind.LABELS))
