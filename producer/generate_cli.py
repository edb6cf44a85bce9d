"""`fraudstream generate`: the synthetic world's transactions as a batch-input file (CSV or Parquet),
for `produce --from`, `train --data`, `score --data`, `process --history` and `invoke --file`."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from producer.cli import WorldCards, WorldFraudRate, WorldSeed, WorldTerminals, parse_start, producer_settings

if TYPE_CHECKING:
    import pandas as pd

    from producer.config import ProducerSettings

__all__ = ["generate"]


def generate(
    days: Annotated[int, typer.Option(min=1, help="Days of event time in the file.")],
    out: Annotated[
        Path, typer.Option(help="The file to write: its suffix picks the format, .csv or .parquet (also .pq).")
    ],
    start: Annotated[
        str | None,
        typer.Option(
            help="First event time, an ISO-8601 date or time (UTC without an offset), in the past; the file ends "
            "DAYS later or at the present, whichever is first [default: DAYS before the end of yesterday]."
        ),
    ] = None,
    # As on `produce`: unset, their FRAUD_PRODUCER__* variable applies; their help shows the setting's default.
    seed: WorldSeed = None,
    cards: WorldCards = None,
    terminals: WorldTerminals = None,
    fraud_rate: WorldFraudRate = None,
) -> None:
    """Write the synthetic world's transactions to a batch-input file: the event fields plus is_fraud
    (1 for the five fraud scenarios' transactions), sorted by event time.

    The world is the one `produce` streams, deterministic for --seed (with the same --cards and
    --terminals). As a `produce` history, it ends at the present at the latest: by default the DAYS
    whole days up to the end of yesterday (UTC). The file feeds `produce --from`, `train --data`,
    `score --data`, `process --history` and `invoke --file`.
    """
    from fraudstream.batch_files import batch_file_format, write_batch_file
    from fraudstream.output import print_summary

    settings = producer_settings(seed=seed, cards=cards, terminals=terminals, fraud_rate=fraud_rate)
    batch_file_format(out)  # an unsupported suffix is refused before any generating
    first, end = _span(datetime.now(UTC), days, parse_start(start))
    frame = _transactions(settings, first, end)
    rows = write_batch_file(frame, out)
    print_summary(
        f"wrote {rows:,} transactions ({int(frame['is_fraud'].sum()):,} fraudulent) of {settings.cards:,} cards, "
        f"{first:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC, seed {settings.seed}: {out}",
        "generated",
        rows=rows,
        start=first.isoformat(),
        end=end.isoformat(),
        seed=settings.seed,
        out=str(out),
    )


def _span(now: datetime, days: int, start: datetime | None) -> tuple[datetime, datetime]:
    """The event times to write, from the first up to (not including) the second, as `produce` would
    stamp a history: never after `now`.

    Raises:
        EventTimeError: `start` is after `now`.
    """
    from producer.timeline import history_span

    if start is None:
        end_of_yesterday = datetime.combine(now.date(), time(), tzinfo=UTC)
        return end_of_yesterday - timedelta(days=days), end_of_yesterday
    span = history_span(now, start=start, days=days)
    return span.start, span.end


def _transactions(settings: ProducerSettings, first: datetime, end: datetime) -> pd.DataFrame:
    """The world's transactions from `first` to `end`, without the generator's scenario column."""
    import pandas as pd

    from synthetic.generator import TransactionGenerator

    # The generator makes whole UTC days from its start date, as `produce` runs it for a history.
    generator = TransactionGenerator(settings.generator_config(), first.date())
    day_zero = datetime.combine(first.date(), time(), tzinfo=UTC)
    frames = [generator.next_day() for _ in range(max(1, math.ceil((end - day_zero) / timedelta(days=1))))]
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[(frame["event_time"] >= pd.Timestamp(first)) & (frame["event_time"] < pd.Timestamp(end))]
    return frame.drop(columns=["scenario"]).reset_index(drop=True)
