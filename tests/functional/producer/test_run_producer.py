"""`run_producer` called from code (as the demo does): what it shows its caller of the generated days."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from fraudstream.config import ResourceSettings
from producer.app import run_producer
from producer.config import ProducerSettings
from tests.kinesis_reader import read_stream

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import boto3


def test_every_sent_transaction_was_shown_to_the_caller_with_its_truth_first(
    aws_env: dict[str, str], boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN two streams and a caller that keeps each generated day
    resources = ResourceSettings(transactions_stream=stream_factory(), labels_stream=stream_factory())
    days: list[pd.DataFrame] = []
    sent_before_seen: list[int] = []

    def keep(frame: pd.DataFrame) -> None:
        # the day is shown before any of its records is sent
        sent_before_seen.append(len(read_stream(boto_session.client("kinesis"), resources.transactions_stream)))
        days.append(frame)

    # WHEN 300 transactions of a 40-day synthetic history (fraud made common) are sent, from a fixed
    # start: from now - 40 days, how much of a day the caller sees would depend on the time of day
    settings = ProducerSettings(cards=300, terminals=100, fraud_rate=0.05, dead_letter=tmp_path / "dl.jsonl")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    run_producer(
        settings, resources, count=300, days=40, start_at=start, speedup=0, on_progress=lambda _: None, on_frame=keep
    )

    # THEN every sent transaction is in a day the caller saw, with the generator's is_fraud
    seen = pd.concat(days, ignore_index=True).set_index("transaction_id")
    sent = [
        json.loads(r["Data"])["transaction_id"]
        for r in read_stream(boto_session.client("kinesis"), resources.transactions_stream)
    ]
    assert len(sent) == 300
    assert set(sent) <= set(seen.index)
    assert set(seen["is_fraud"].unique()) == {0, 1}  # the days seen hold frauds
    assert sent_before_seen[0] == 0
