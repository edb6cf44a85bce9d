"""The producer's time model: a history ends at the present, a live run is stamped on the wall clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from producer.timeline import EventTimeError, LiveClock, history_span, live_rate
from synthetic.generator import GeneratorConfig, TransactionGenerator

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


def _days(start: date, n: int) -> list[pd.DataFrame]:
    gen = TransactionGenerator(GeneratorConfig(seed=3, n_cards=200, n_terminals=400), start)
    return [gen.next_day() for _ in range(n)]


def test_a_history_ends_at_the_present_never_after_it() -> None:
    # --days alone: the last N days
    assert history_span(NOW, start=None, days=3) == history_span(NOW, start=NOW - timedelta(days=3), days=None)
    span = history_span(NOW, start=None, days=3)
    assert (span.start, span.end) == (NOW - timedelta(days=3), NOW)
    # a span that would reach past the present is cut at it
    late = history_span(NOW, start=NOW - timedelta(hours=5), days=14)
    assert (late.start, late.end) == (NOW - timedelta(hours=5), NOW)
    # a span wholly in the past keeps its end
    past = history_span(NOW, start=NOW - timedelta(days=30), days=2)
    assert past.end == NOW - timedelta(days=28)
    # a start after the present is refused
    with pytest.raises(EventTimeError, match="after the present"):
        history_span(NOW, start=NOW + timedelta(minutes=1), days=None)


def test_a_live_world_is_compressed_onto_the_wall_clock_from_its_start() -> None:
    # GIVEN two generated days whose first starts before the run
    frames = _days(NOW.date(), 2)
    # WHEN they are stamped for a live run at x60
    stamped = list(LiveClock(NOW, speedup=60).stamp(frames))
    # THEN only the world from the run's start on is played, each stamp (start + world time / 60)
    world = pd.concat(frames, ignore_index=True)
    world = world[world["event_time"] >= NOW].reset_index(drop=True)
    out = pd.concat(stamped, ignore_index=True)
    assert len(out) == len(world) > 0
    assert out["transaction_id"].tolist() == world["transaction_id"].tolist()
    expected = (world["event_time"] - NOW).dt.total_seconds() / 60
    offset = (out["event_time"] - NOW).dt.total_seconds()
    np.testing.assert_allclose(offset, expected, atol=0.001)
    assert out["event_time"].is_monotonic_increasing
    # a day of the world goes by in 24 minutes of wall time
    assert offset.max() < 2 * 86_400 / 60


def test_a_live_rate_spaces_transactions_evenly_across_days() -> None:
    frames = _days(NOW.date(), 2)
    out = pd.concat(list(LiveClock(NOW, speedup=None, rate=50.0).stamp(frames)), ignore_index=True)
    offset_ms = (out["event_time"] - NOW).dt.total_seconds().to_numpy() * 1000
    np.testing.assert_allclose(offset_ms, np.floor(np.arange(len(out)) * 1000.0 / 50.0), atol=0.5)


def test_a_live_rate_leaves_room_for_duplicates_and_malformed_records() -> None:
    # 100 records/s on the stream: 2% of them malformed, and 1 duplicate per 100 valid transactions
    rate = live_rate(100.0, duplicate_share=0.01, malformed_share=0.02)
    assert rate * 1.01 / 0.98 == pytest.approx(100.0)


def test_a_live_clock_needs_one_pace() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        LiveClock(NOW, speedup=None)
    with pytest.raises(ValueError, match="exactly one"):
        LiveClock(NOW, speedup=0.0)
