"""Per-card sliding windows of the aggregates: which windows an event belongs to, which have closed.

A window is `[end - window, end)`, one ending every `slide` (10 minutes, sliding every 5, by
default). An event at `t` belongs to the windows whose end is in `(t, t + window]` on the slide grid.
A window is final once the watermark has reached its end: every later event of it would be late.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["AGGREGATE_SLIDE_MS", "AGGREGATE_WINDOW_MS", "closed_windows", "first_open_end", "last_end"]

AGGREGATE_WINDOW_MS: Final = 600_000
AGGREGATE_SLIDE_MS: Final = 300_000

IntArray = npt.NDArray[np.int64]


def _first_end(event_ms: IntArray, slide_ms: int) -> IntArray:
    return (event_ms // slide_ms + 1) * slide_ms


def last_end(event_ms: IntArray, *, window_ms: int, slide_ms: int) -> IntArray:
    """The end of the last window of each event."""
    return _first_end(event_ms, slide_ms) + (window_ms // slide_ms - 1) * slide_ms


def first_open_end(event_ms: IntArray, after_ms: int, *, window_ms: int, slide_ms: int) -> int | None:
    """The earliest end after `after_ms` among the events' windows (None: no such window)."""
    if len(event_ms) == 0:
        return None
    first = _first_end(event_ms, slide_ms)
    # The first window end after `after_ms` on each event's grid, if the event has one.
    candidate = np.maximum(first, (after_ms // slide_ms + 1) * slide_ms)
    open_ = candidate <= last_end(event_ms, window_ms=window_ms, slide_ms=slide_ms)
    return int(candidate[open_].min()) if open_.any() else None


def closed_windows(
    card_ids: npt.NDArray[np.object_],
    event_ms: IntArray,
    amounts: npt.NDArray[np.float64],
    *,
    since_ms: int | None,
    until_ms: int,
    window_ms: int,
    slide_ms: int,
) -> pd.DataFrame:
    """The windows ending in `(since_ms, until_ms]`, per card: count, sum, mean and max amount.

    Returns:
        Columns `card_id`, `end_ms`, `tx_count`, `amount_sum`, `amount_mean`, `amount_max`, sorted
        by card, then end.
    """
    repeat = window_ms // slide_ms
    first = _first_end(event_ms, slide_ms)
    ends = np.concatenate([first + j * slide_ms for j in range(repeat)])
    member = pd.DataFrame({"card_id": np.tile(card_ids, repeat), "end_ms": ends, "amount": np.tile(amounts, repeat)})
    closed = member["end_ms"] <= until_ms
    if since_ms is not None:
        closed &= member["end_ms"] > since_ms
    return (
        member[closed]
        .groupby(["card_id", "end_ms"], sort=True)["amount"]
        .agg(tx_count="count", amount_sum="sum", amount_mean="mean", amount_max="max")
        .reset_index()
    )
