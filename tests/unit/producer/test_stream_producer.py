"""The producer's pacing: by event time from the run's origin, and never past its deadline."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

from producer.delivery import Delivery, RecordKind, StreamKind
from producer.kinesis_writer import WriterStats
from producer.stream_producer import Pacing, ProducerRun

if TYPE_CHECKING:
    from producer.kinesis_writer import KinesisWriter


class _RecordingWriter:
    """Keeps what is put, with the monotonic time it was put (a writer's interface, no I/O)."""

    def __init__(self) -> None:
        self.stats = WriterStats()
        self.put_at: list[float] = []

    def put(self, partition_key: str, data: bytes) -> None:
        self.put_at.append(time.monotonic())

    def flush(self) -> None:
        pass

    def flush_if_idle(self, linger_s: float) -> None:
        pass


def _record(at: float) -> Delivery:
    return Delivery(at, StreamKind.TRANSACTIONS, "card-1", b"{}", RecordKind.TRANSACTION, f"tx-{at}")


def _run(pacing: Pacing, records: list[Delivery], duration_s: float | None) -> tuple[ProducerRun, _RecordingWriter]:
    writer = _RecordingWriter()
    run = ProducerRun({StreamKind.TRANSACTIONS: cast("KinesisWriter", writer)}, pacing=pacing, duration_s=duration_s)
    return run, writer


def test_a_record_due_after_the_deadline_is_not_waited_for() -> None:
    # GIVEN a run of 0.3 s whose next record is due an hour of event time after its origin
    run, writer = _run(Pacing(speedup=1.0, origin=1000.0), [_record(4600.0)], duration_s=0.3)
    # WHEN it runs
    started = time.monotonic()
    summary = run.run([_record(4600.0)])
    # THEN it stops at its deadline, having sent nothing
    assert time.monotonic() - started < 1.0
    assert summary.stopped_by == "duration" and writer.put_at == []


def test_the_first_record_waits_for_its_event_time_from_the_origin() -> None:
    # GIVEN records 0.3 s and 0.4 s of event time after the run's origin
    run, writer = _run(Pacing(speedup=1.0, origin=1000.0), [], duration_s=None)
    # WHEN it runs
    started = time.monotonic()
    summary = run.run([_record(1000.3), _record(1000.4)])
    # THEN each goes out at its time, the first one included
    assert summary.stopped_by == "end of input"
    offsets = [at - started for at in writer.put_at]
    assert 0.29 <= offsets[0] < 0.39 and 0.39 <= offsets[1] < 0.6
