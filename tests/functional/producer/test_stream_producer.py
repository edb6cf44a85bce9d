"""Across the two streams, a record never reaches Kinesis after the records delivered later on the
other one: the processor reads both in arrival order, so a chargeback written after the transactions
that follow it would reach their terminal features late."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

from producer.dead_letter import DeadLetterFile
from producer.delivery import DeliveryConfig, StreamKind, deliveries
from producer.kinesis_writer import KinesisWriter
from producer.stream_producer import Pacing, ProducerRun
from synthetic.generator import GeneratorConfig, generate_history

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import boto3


def test_as_fast_as_possible_each_chargeback_is_written_before_the_transactions_delivered_after_it(
    boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN 10 days of a small world with common fraud: a chargeback among every dozen transactions
    history = generate_history(
        GeneratorConfig(seed=4, n_cards=150, n_terminals=60, fraud_rate=0.08), date(2026, 3, 1), 10
    )
    records = list(deliveries([history], DeliveryConfig(seed=4, label_delay_days=1.0)))
    assert sum(r.stream is StreamKind.LABELS for r in records) > 100
    # ... and one client for both writers that numbers the PutRecords calls in the order they are made
    client = boto_session.client("kinesis")
    call_of: dict[str, int] = {}
    calls = [0]

    def number(params: dict[str, Any], **_: Any) -> None:
        calls[0] += 1
        for entry in params["Records"]:
            call_of[json.loads(entry["Data"])["transaction_id"] + params["StreamName"]] = calls[0]

    client.meta.events.register("provide-client-params.kinesis.PutRecords", number)
    streams = {StreamKind.TRANSACTIONS: stream_factory(shards=1), StreamKind.LABELS: stream_factory(shards=1)}
    dead = DeadLetterFile(tmp_path / "dead-letter.jsonl")
    writers = {kind: KinesisWriter(name, dead_letter=dead, client=client) for kind, name in streams.items()}
    # WHEN they are sent as fast as possible
    ProducerRun(writers, pacing=Pacing(speedup=None)).run(records)
    for writer in writers.values():
        writer.close()
    # THEN every record went out, in more than one call per stream
    order = [call_of[f"{json.loads(r.data)['transaction_id']}{streams[r.stream]}"] for r in records]
    assert len(order) == len(records) and calls[0] > 4
    # ... and no chargeback was written in a later call than a transaction delivered after it
    last_label_call = 0
    for record, call in zip(records, order, strict=True):
        if record.stream is StreamKind.LABELS:
            last_label_call = max(last_label_call, call)
        else:
            assert call > last_label_call, f"transaction {record.transaction_id} written before an earlier chargeback"
