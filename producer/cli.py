"""`fraudstream produce`: stream synthetic or replayed card transactions into Kinesis."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from fraudstream._help import shown_default
from fraudstream.config import ResourceSettings
from producer.config import ProducerSettings

__all__ = ["WorldCards", "WorldFraudRate", "WorldSeed", "WorldTerminals", "parse_start", "produce", "producer_settings"]

# The synthetic world's options, shared by `produce` and `generate`.
WorldSeed = Annotated[
    int | None,
    typer.Option(
        help=f"Random seed: the same seed gives the same transactions {shown_default(ProducerSettings, 'seed')}."
    ),
]
WorldCards = Annotated[
    int | None, typer.Option(help=f"Number of card holders {shown_default(ProducerSettings, 'cards')}.")
]
WorldTerminals = Annotated[
    int | None, typer.Option(help=f"Number of terminals {shown_default(ProducerSettings, 'terminals')}.")
]
WorldFraudRate = Annotated[
    float | None,
    typer.Option(help=f"Target share of fraudulent transactions {shown_default(ProducerSettings, 'fraud_rate')}."),
]


def producer_settings(**options: Any) -> ProducerSettings:
    """The settings with the options given on the command line (None: not given, the environment's
    or the default applies).

    Raises:
        typer.BadParameter: a value out of its range.
    """
    try:
        return ProducerSettings(**{k: v for k, v in options.items() if v is not None})
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e


def parse_start(value: str | None) -> datetime | None:
    """The `--start` option of `produce` and `generate`: an ISO-8601 date or time, UTC when it has no offset.

    Raises:
        typer.BadParameter: the value is not ISO-8601.
    """
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO-8601 date or time (e.g. 2026-01-01 or 2026-01-01T12:00Z)"
        ) from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def produce(
    from_file: Annotated[
        Path | None,
        typer.Option("--from", help="Replay a CSV/Parquet file in the batch-input schema instead of generating."),
    ] = None,
    redrive: Annotated[
        Path | None,
        typer.Option(help="Re-send the records of a dead-letter file to their streams, then stop."),
    ] = None,
    column_map: Annotated[
        list[str] | None,
        typer.Option("--column-map", help="With --from: FIELD=COLUMN for a file with other column names (repeat)."),
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="With --from: skip rows that break the batch-input contract instead of refusing the file, and "
            "report them (count per reason, first row numbers).",
        ),
    ] = False,
    naive_times_utc: Annotated[
        bool,
        typer.Option(
            "--naive-times-utc",
            help="With --from: read event times written without a UTC offset (text like 2026-01-01T10:00:00, or a "
            "Parquet timestamp without a zone) as UTC, instead of refusing the file.",
        ),
    ] = False,
    count: Annotated[
        int | None,
        typer.Option(help="Stop after this many records on the transactions stream [default: no limit]."),
    ] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds [default: no limit].")] = None,
    days: Annotated[
        float | None,
        typer.Option(help="A history of this many days of event time, ending at the present at the latest."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            help="A history from this event time, ISO-8601, up to the present at the latest (default with --days: "
            "now - DAYS). Without --days or --start the run is live."
        ),
    ] = None,
    speedup: Annotated[
        float | None,
        typer.Option(
            help="Event time runs this many times faster than wall time: 1 = real time, 0 = as fast as possible "
            "(a history or a replay only). Live: the world plays this many times faster, each transaction "
            "stamped as it is sent (default: 1, or 0 when --tps is given)."
        ),
    ] = None,
    tps: Annotated[
        float | None, typer.Option(help="Cap on transactions per second; live without --speedup: the pace.")
    ] = None,
    # The settings' options default to None, so that unset their FRAUD_PRODUCER__* variable applies;
    # their help shows the setting's default.
    seed: WorldSeed = None,
    cards: WorldCards = None,
    terminals: WorldTerminals = None,
    fraud_rate: WorldFraudRate = None,
    label_delay_days: Annotated[
        float | None,
        typer.Option(
            help=f"Chargebacks arrive within this many days {shown_default(ProducerSettings, 'label_delay_days')}."
        ),
    ] = None,
    late_share: Annotated[
        float | None,
        typer.Option(
            help=f"Share of transactions delivered late (out of order) {shown_default(ProducerSettings, 'late_share')}."
        ),
    ] = None,
    max_lateness: Annotated[
        float | None,
        typer.Option(
            help=f"Largest lateness of a late delivery, seconds {shown_default(ProducerSettings, 'max_lateness_s')}."
        ),
    ] = None,
    duplicate_share: Annotated[
        float | None,
        typer.Option(
            help=f"Share of transactions delivered twice {shown_default(ProducerSettings, 'duplicate_share')}."
        ),
    ] = None,
    malformed_share: Annotated[
        float | None,
        typer.Option(
            help="Share of records on the stream that are malformed (for quarantine) "
            f"{shown_default(ProducerSettings, 'malformed_share')}."
        ),
    ] = None,
    dead_letter: Annotated[
        Path | None,
        typer.Option(
            help="File for records that still fail after all retries (JSON lines) "
            f"{shown_default(ProducerSettings, 'dead_letter')}."
        ),
    ] = None,
    max_attempts: Annotated[
        int | None,
        typer.Option(
            help=f"Attempts per record before it is dead-lettered {shown_default(ProducerSettings, 'max_attempts')}."
        ),
    ] = None,
    stream: Annotated[
        str | None,
        typer.Option(help=f"Transactions stream name {shown_default(ResourceSettings, 'transactions_stream')}."),
    ] = None,
    labels_stream: Annotated[
        str | None,
        typer.Option(help=f"Labels (chargebacks) stream name {shown_default(ResourceSettings, 'labels_stream')}."),
    ] = None,
) -> None:
    """Stream card transactions into Kinesis (and chargebacks into the labels stream).

    Generates a deterministic synthetic world with five labelled fraud scenarios, or replays a
    file. Records go out in PutRecords batches of up to 500, partition key = card id; failed
    entries are retried with backoff, and what still fails lands in the dead-letter file.
    Ctrl-C flushes what is buffered and prints a summary.

    Event time is never ahead of the clock. A history (--days and/or --start) ends at the present,
    never after it. A live run (neither) stamps each transaction with the moment it is sent, at the
    world's own pace, --speedup times faster, or at --tps. A replay keeps the file's times.
    """
    settings = producer_settings(
        seed=seed,
        cards=cards,
        terminals=terminals,
        fraud_rate=fraud_rate,
        label_delay_days=label_delay_days,
        late_share=late_share,
        max_lateness_s=max_lateness,
        duplicate_share=duplicate_share,
        malformed_share=malformed_share,
        dead_letter=dead_letter,
        max_attempts=max_attempts,
    )
    resources = ResourceSettings(
        **{k: v for k, v in {"transactions_stream": stream, "labels_stream": labels_stream}.items() if v is not None}
    )
    if speedup is None:
        speedup = 0.0 if tps else 1.0
    if speedup < 0 or (tps is not None and tps <= 0):
        raise typer.BadParameter("--speedup must be >= 0 and --tps > 0")

    if redrive is not None:
        from producer.app import redrive as redrive_file

        _, failed = redrive_file(redrive, max_attempts=settings.max_attempts)
        if failed:
            raise typer.Exit(1)
        return

    from producer.app import run_producer

    run_producer(
        settings,
        resources,
        from_file=from_file,
        column_map=column_map,
        skip_invalid=skip_invalid,
        naive_times_utc=naive_times_utc,
        count=count,
        duration=duration,
        days=days,
        start_at=parse_start(start),
        speedup=speedup,
        tps=tps,
    )
