"""Running the producer: from settings and a source to records on the streams, with progress and a summary."""

from __future__ import annotations

import itertools
import math
import signal
import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from fraudstream.batch_files import load_batch_file, parse_column_map
from fraudstream.exceptions import FraudstreamError
from fraudstream.output import print_notice, print_summary
from producer.dead_letter import DeadLetterFile
from producer.delivery import DeliveryConfig, StreamKind, deliveries
from producer.kinesis_writer import KinesisWriter
from producer.stream_producer import Pacing, ProducerRun, RunSummary
from producer.timeline import EventTimeError, LiveClock, history_span, live_rate
from synthetic.generator import TransactionGenerator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import pandas as pd

    from fraudstream.config import ResourceSettings
    from producer.config import ProducerSettings

__all__ = ["run_producer"]

console = Console(stderr=True)


def _file_frames(frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
    # One frame per UTC day keeps the delivery scheduler's memory small on long files.
    days = frame["event_time"].dt.floor("D")
    for _, chunk in frame.groupby(days, sort=True):
        yield chunk.reset_index(drop=True)


def _observed(frames: Iterator[pd.DataFrame], observer: Callable[[pd.DataFrame], None]) -> Iterator[pd.DataFrame]:
    for frame in frames:
        observer(frame)
        yield frame


def run_producer(
    settings: ProducerSettings,
    resources: ResourceSettings,
    *,
    from_file: Path | None = None,
    column_map: list[str] | None = None,
    skip_invalid: bool = False,
    naive_times_utc: bool = False,
    count: int | None = None,
    duration: float | None = None,
    days: float | None = None,
    start_at: datetime | None = None,
    speedup: float = 1.0,
    tps: float | None = None,
    on_progress: Callable[[RunSummary], None] | None = None,
    on_frame: Callable[[pd.DataFrame], None] | None = None,
) -> RunSummary:
    """Generate (or replay `from_file`) and send until the input ends, a limit is hit or a signal arrives.

    Args:
        settings: generator, messiness and retry settings.
        resources: the stream names.
        from_file: replay this batch-input file instead of generating.
        column_map: `FIELD=COLUMN` entries for a file with other column names.
        skip_invalid: leave out `from_file`'s invalid rows and print what was left out (count per
            reason, first rows); otherwise its first invalid row refuses the file.
        naive_times_utc: read `from_file`'s event times that have no UTC offset as UTC; by default
            they refuse the file.
        count: stop after this many records on the transactions stream.
        duration: stop after this many seconds.
        days: a history of this many days of event time, ending at the present at the latest.
        start_at: a history from this event time (default with `days`: now - days), up to the present
            at the latest; neither `days` nor `start_at`: a live run, stamped with the time sent
            (see `producer.timeline`).
        speedup: event time runs this many times faster than wall time; 0 = as fast as possible (a
            history or a replay only). Live: the world plays this many times faster, stamped as sent.
        tps: cap on transactions-stream records per second; live without `speedup`: the pace.
        on_progress: the caller shows progress (called about twice a second): nothing is printed.
        on_frame: called with each day of transactions (and their `is_fraud`, when known) before
            it is sent: the demo keeps the generator's truth this way.

    Returns:
        What was sent; the summary is also printed.

    Raises:
        EventTimeError: a `start_at` after the present, or a live run with neither pace.
    """
    delivery_config = DeliveryConfig(
        seed=settings.seed,
        label_delay_days=settings.label_delay_days,
        late_share=settings.late_share,
        max_lateness_s=settings.max_lateness_s,
        duplicate_share=settings.duplicate_share,
        malformed_share=settings.malformed_share,
    )
    end_at: float | None = None
    origin: float | None = None
    frames: Iterator[pd.DataFrame]
    now = datetime.now(UTC)
    if from_file is not None:
        loaded = load_batch_file(
            from_file, parse_column_map(column_map), skip_invalid=skip_invalid, naive_times_utc=naive_times_utc
        )
        if skip_invalid:
            print_summary(f"{from_file}: {loaded.invalid.summary()}")
        frame = loaded.frame
        delivery_config = replace(delivery_config, emit_labels="is_fraud" in frame)
        frames = _file_frames(frame)
        source = f"{from_file} ({len(frame):,} transactions)"
        ahead = int((frame["event_time"] > now).sum()) if len(frame) else 0
        if ahead:
            print_notice(
                f"{ahead:,} row(s) of {from_file} are dated after now: sent as they are, the ones more than 5 "
                "minutes ahead of the clock are quarantined as future_timestamp"
            )
    else:
        gen_config = settings.generator_config()
        if days is not None or start_at is not None:
            span = history_span(now, start=start_at, days=days)
            gen = TransactionGenerator(gen_config, span.start.date())
            delivery_config = replace(delivery_config, start_at=span.start)
            end_at, origin = span.end.timestamp(), span.start.timestamp()
            frames = itertools.islice(gen.days(), (span.end.date() - span.start.date()).days + 1)
            source = (
                f"synthetic history (seed {settings.seed}, {settings.cards:,} cards, "
                f"{span.start:%Y-%m-%d %H:%M} .. {span.end:%Y-%m-%d %H:%M} UTC)"
            )
        else:
            if speedup:
                clock = LiveClock(now, speedup=speedup)
                pace = f"the world at x{speedup:g}"
            elif tps:
                shares = {"duplicate_share": settings.duplicate_share, "malformed_share": settings.malformed_share}
                clock = LiveClock(now, speedup=None, rate=live_rate(tps, **shares))
                pace = f"{tps:g} tx/s"
            else:
                raise EventTimeError("a live run cannot go as fast as possible (--speedup 0): it has no pace")
            frames = clock.stamp(TransactionGenerator(gen_config, now.date()).days())
            delivery_config = replace(delivery_config, start_at=now)
            # The stamps are the wall clock's: they go out in real time (within the --tps cap, if any).
            origin, speedup = now.timestamp(), 1.0
            source = f"synthetic, live (seed {settings.seed}, {settings.cards:,} cards, {pace}, stamped as sent)"

    if on_frame is not None:
        frames = _observed(frames, on_frame)
    dead = DeadLetterFile(settings.dead_letter)
    writers = {
        StreamKind.TRANSACTIONS: KinesisWriter(
            resources.transactions_stream, dead_letter=dead, max_attempts=settings.max_attempts
        ),
        StreamKind.LABELS: KinesisWriter(resources.labels_stream, dead_letter=dead, max_attempts=settings.max_attempts),
    }
    for writer in writers.values():
        writer.setup()

    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    pacing = Pacing(speedup=speedup or None, tps=tps, origin=origin)
    quiet = on_progress is not None
    if not quiet:
        print_summary(
            f"producing to {resources.transactions_stream} / {resources.labels_stream} "
            f"from {source}; "
            f"{'as fast as possible' if not speedup else 'in real time' if speedup == 1 else f'speed-up x{speedup:g}'}"
            f"{f', at most {tps:g} tx/s' if tps else ''}. Ctrl-C stops after a flush.",
            "producer started",
            stream=resources.transactions_stream,
            labels_stream=resources.labels_stream,
            source=source,
            speedup=speedup,
            tps=tps,
        )
    live = None if quiet or not console.is_terminal else Live(Text(""), console=console, refresh_per_second=4)
    last_log = [0.0]

    def show_progress(summary: RunSummary) -> None:
        line = _progress_line(summary)
        if live is not None:
            live.update(Text(line))
        elif summary.elapsed_s - last_log[0] >= 10:
            last_log[0] = summary.elapsed_s
            print_summary(line)

    run = ProducerRun(
        writers,
        pacing=pacing,
        count=count,
        duration_s=duration,
        linger_s=settings.linger_s,
        stop=stop,
        on_progress=on_progress or show_progress,
    )
    try:
        if live is not None:
            live.start()
        summary = run.run(deliveries(frames, delivery_config, end_at=end_at))
    except FraudstreamError:
        for writer in writers.values():
            writer.abort("Aborted", "the run stopped on an error before this record was sent")
        raise
    finally:
        if live is not None:
            live.stop()
        for writer in writers.values():
            writer.close()
        dead.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not quiet:
        _print_summary(summary, dead)
    return summary


def _progress_line(s: RunSummary) -> str:
    tx = s.streams.get(StreamKind.TRANSACTIONS.value)
    labels = s.streams.get(StreamKind.LABELS.value)
    sent = tx.sent if tx else 0
    retried = (tx.retried if tx else 0) + (labels.retried if labels else 0)
    failed = (tx.dead_lettered if tx else 0) + (labels.dead_lettered if labels else 0)
    event = datetime.fromtimestamp(s.last_event_at, UTC).strftime("%Y-%m-%d %H:%M:%S") if s.last_event_at else "-"
    return (
        f"sent {sent:,}  labels {labels.sent if labels else 0:,}  retried {retried:,}  failed {failed:,}  "
        f"{s.rate:,.0f} rec/s  event time {event}"
    )


def _print_summary(s: RunSummary, dead: DeadLetterFile) -> None:
    table = Table(title=f"produced in {s.elapsed_s:.1f}s ({s.stopped_by})", show_edge=False)
    for column in ("stream", "sent", "retried", "throttled", "dead-lettered", "calls"):
        table.add_column(column, justify="right" if column != "stream" else "left")
    for name, st in s.streams.items():
        table.add_row(
            name, f"{st.sent:,}", f"{st.retried:,}", f"{st.throttled:,}", f"{st.dead_lettered:,}", f"{st.calls:,}"
        )
    out = Console()
    out.print(table)
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(s.kinds.items()))
    out.print(f"records: {kinds or 'none'}; {s.rate:,.0f} transactions-stream records/s", highlight=False)
    if dead.count:
        out.print(f"[yellow]{dead.count:,} record(s) dead-lettered to {dead.path}[/]", highlight=False)
    if s.first_event_at is not None and s.last_event_at is not None and not math.isnan(s.last_event_at):
        first = datetime.fromtimestamp(s.first_event_at, UTC)
        last = datetime.fromtimestamp(s.last_event_at, UTC)
        out.print(f"event time {first:%Y-%m-%d %H:%M:%S} .. {last:%Y-%m-%d %H:%M:%S} UTC", highlight=False)


def redrive(path: Path, *, max_attempts: int = 8) -> tuple[int, int]:
    """Send the records of a dead-letter file again, each to the stream it was meant for.

    Records that fail again go to `<file>.failed-again.jsonl`; when every record got through, the
    file is renamed to `<file>.redriven` so that it is not sent twice.

    Returns:
        (records sent, records that failed again).
    """
    import base64
    import json

    from fraudstream.exceptions import BatchFileError, FraudstreamError

    if not path.exists():
        raise FraudstreamError(
            f"{path}: no such file",
            hint="pass the dead-letter file the producer wrote (--dead-letter; default fraudstream-dead-letter.jsonl)",
        )
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            entry = json.loads(line)
            entries.append((entry["stream"], entry["partition_key"], base64.b64decode(entry["data_base64"])))
        except (ValueError, KeyError, TypeError) as e:
            raise BatchFileError(f"{path}: line {number} is not a dead-letter entry ({e})") from e
    again = DeadLetterFile(path.with_name(path.name + ".failed-again.jsonl"))
    writers: dict[str, KinesisWriter] = {}
    try:
        for stream, key, data in entries:
            if stream not in writers:
                writers[stream] = KinesisWriter(stream, dead_letter=again, max_attempts=max_attempts)
                writers[stream].setup()
            writers[stream].put(key, data)
        for writer in writers.values():
            writer.flush()
    finally:
        for writer in writers.values():
            writer.close()
        again.close()
    sent = sum(w.stats.sent for w in writers.values())
    if again.count == 0:
        path.rename(path.with_name(path.name + ".redriven"))
    print_summary(
        f"re-sent {sent:,} of {len(entries):,} record(s) from {path}"
        + (f"; {again.count:,} failed again, see {again.path}" if again.count else ""),
        "redrive finished",
        file=str(path),
        sent=sent,
        records=len(entries),
        failed_again=again.count,
    )
    return sent, again.count
