"""The producer's time model: which event times a run stamps, so that none is ahead of the clock.

Kinesis consumers (the processor among them) reject an event dated after the moment it arrived
(`future_timestamp`, beyond a few minutes of clock skew). So every mode keeps event time at or
behind the wall clock:

- **History** (`--days N` and/or `--start T`): the generated world from `T` (default: now - N
  days) to `T + N days`, but never after the moment the run starts; a start after it is refused.
  Pacing (`--speedup`, `--tps`) only decides how fast the past goes out.
- **Live** (neither): each transaction is stamped with the moment it is due to be sent. The world
  is played at its own pace (`--speedup 1`), N times faster (`--speedup N`: its event times
  compressed N times onto the wall clock, so N times as many transactions a second), or evenly at
  a fixed rate (`--tps N`). "As fast as possible" has no wall-clock stamp and needs a history.
- **Replay** (`--from FILE`): the file's own event times; rows dated after the present go out as
  they are (the processor quarantines them), and the user is told how many.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from producer.exceptions import ProducerError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["EventTimeError", "HistorySpan", "LiveClock", "history_span", "live_rate"]


class EventTimeError(ProducerError):
    """Raised when the options would stamp events ahead of the clock (or give no pace to a live run)."""

    hint = (
        "a history ends at the present: give --days N (and/or a --start in the past); "
        "a live run is paced by --speedup N (N > 0) or --tps N"
    )


@dataclass(frozen=True)
class HistorySpan:
    """The event times of a history run: from `start` up to (not including) `end`, never after the present."""

    start: datetime
    end: datetime


def history_span(now: datetime, *, start: datetime | None, days: float | None) -> HistorySpan:
    """The history that `--start` / `--days` ask for, ending at `now` at the latest.

    Raises:
        EventTimeError: `start` is after `now`.
    """
    if start is None:
        start = now - timedelta(days=days or 0.0)
    if start > now:
        raise EventTimeError(f"--start {start:%Y-%m-%dT%H:%M:%SZ} is after the present ({now:%Y-%m-%dT%H:%M:%SZ})")
    end = now if days is None else min(now, start + timedelta(days=days))
    return HistorySpan(start, end)


@dataclass(frozen=True)
class LiveClock:
    """A live run's stamps: the synthetic world's time from `wall_start` on, mapped onto the wall clock.

    Args:
        wall_start: the run's start; the world starts at the same moment.
        speedup: world seconds per wall second (1: the world's own pace); None: use `rate`.
        rate: valid transactions per wall second, evenly spaced (the world's order kept).
    """

    wall_start: datetime
    speedup: float | None = 1.0
    rate: float | None = None

    def __post_init__(self) -> None:
        if (self.speedup is None) == (self.rate is None) or (self.speedup or self.rate or 0.0) <= 0:
            raise ValueError("a live clock needs exactly one of speedup > 0 or rate > 0")

    def stamp(self, frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """Each frame's transactions from `wall_start` on, with their event times on the wall clock.

        Frames must come in event-time order; stamps stay in that order (millisecond resolution).
        """
        origin = pd.Timestamp(self.wall_start).as_unit("ms")
        sent = 0  # transactions stamped so far (for `rate`)
        for frame in frames:
            frame = frame.loc[frame["event_time"] >= origin].reset_index(drop=True)
            n = len(frame)
            if n == 0:
                continue
            if self.rate is not None:
                offset_ms = np.floor((sent + np.arange(n, dtype=np.float64)) * 1000.0 / self.rate)
            else:
                world_s = (frame["event_time"] - origin).dt.total_seconds().to_numpy()
                offset_ms = np.floor(world_s * 1000.0 / (self.speedup or 1.0))
            sent += n
            stamped = origin + pd.to_timedelta(offset_ms.astype(np.int64), unit="ms")
            yield frame.assign(event_time=stamped.as_unit("ms"))


def live_rate(tps: float, *, duplicate_share: float, malformed_share: float) -> float:
    """Valid transactions per second that put about `tps` records a second on the stream, duplicates and
    malformed records included (so that `--tps` caps the stream and the stamps keep up with it)."""
    return tps * (1.0 - malformed_share) / (1.0 + duplicate_share) if math.isfinite(tps) else tps
