"""Throttling and partial failures injected on Kinesis writes and reads and on DynamoDB writes,
through a real HTTP proxy in front of the emulator: nothing lost, nothing duplicated."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config

from fraudstream.local.provision import provision
from processor.kinesis_source import KinesisDataSource
from processor.sinks import DynamoDBAlertSink
from producer.dead_letter import DeadLetterFile
from producer.kinesis_writer import KinesisWriter
from tests.fault_proxy import FaultProxy, Faults
from tests.kinesis_reader import read_stream
from tests.scored_rows import scored_rows

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from fraudstream.config import ResourceSettings
    from fraudstream.local.emulator import EmbeddedAws
    from tests.fault_figures import FaultFigures


# Few botocore retries, so that most injected failures reach the code under test.
FEW_RETRIES = Config(retries={"mode": "standard", "max_attempts": 2})


def _injected(proxy: FaultProxy) -> str:
    """What the proxy injected: there is no outage to recover from, each fault is retried within its call."""
    calls = sum(proxy.counts.throttled.values())
    entries = sum(proxy.counts.failed_entries.values())
    return f"none: faults retried per call ({calls} calls throttled, {entries} entries failed)"


def test_producer_under_throttling_and_partial_failures(
    embedded_aws: EmbeddedAws,
    boto_session: boto3.Session,
    stream_factory: Callable[..., str],
    tmp_path: Path,
    fault_figures: FaultFigures,
) -> None:
    stream = stream_factory(shards=2)
    sent = [(f"card-{i % 400}", json.dumps({"n": i}).encode()) for i in range(4_000)]
    faults = Faults(throttle={"PutRecords": 0.2}, partial={"PutRecords": 0.2})
    with FaultProxy(embedded_aws.endpoint_url, faults) as proxy:
        writer = KinesisWriter(
            stream,
            dead_letter=DeadLetterFile(tmp_path / "dl.jsonl"),
            client=boto3.client("kinesis", endpoint_url=proxy.url, config=FEW_RETRIES),
            max_attempts=40,
            backoff_cap_s=0.05,
        )
        for key, data in sent:
            writer.put(key, data)
        writer.flush()
        writer.close()
    assert proxy.counts.throttled.get("PutRecords", 0) > 0 and proxy.counts.failed_entries["PutRecords"] > 300
    read = read_stream(boto_session.client("kinesis"), stream)
    out = [r["Data"] for r in read]
    fault_figures.record(
        "kinesis PutRecords throttled + partial",
        sent=[d for _, d in sent],
        received=out,
        recovery=_injected(proxy),
    )
    assert sorted(out) == sorted(d for _, d in sent)  # none lost, none twice
    per_key: dict[str, list[int]] = defaultdict(list)
    for r in sorted(read, key=lambda r: (r["ShardId"], int(r["SequenceNumber"]))):
        per_key[r["PartitionKey"]].append(json.loads(r["Data"])["n"])
    assert all(ns == sorted(ns) for ns in per_key.values())
    assert writer.stats.dead_lettered == 0


def test_alert_sink_under_throttling_and_unprocessed_items(
    embedded_aws: EmbeddedAws,
    boto_session: boto3.Session,
    unique_resources: ResourceSettings,
    fault_figures: FaultFigures,
) -> None:
    provision(unique_resources, shards=1, session=boto_session)
    batch = scored_rows(300)
    faults = Faults(throttle={"BatchWriteItem": 0.2}, partial={"BatchWriteItem": 0.3})
    with FaultProxy(embedded_aws.endpoint_url, faults) as proxy:
        sink = DynamoDBAlertSink(
            unique_resources.alerts_table,
            client=boto3.client("dynamodb", endpoint_url=proxy.url, config=FEW_RETRIES),
            max_attempts=40,
            backoff_cap_s=0.05,
        )
        written = sink.write(1, batch)
    assert proxy.counts.failed_entries["BatchWriteItem"] > 10
    items = boto_session.client("dynamodb").scan(TableName=unique_resources.alerts_table)["Items"]
    expected = sorted(r["transaction_id"] for r in batch.to_pylist() if r["is_alert"])
    out = [i["transaction_id"]["S"] for i in items]
    fault_figures.record(
        "dynamodb BatchWriteItem throttled + unprocessed",
        sent=expected,
        received=out,
        recovery=_injected(proxy),
    )
    assert sorted(out) == expected and written == len(expected)


@pytest.mark.integration
def test_kinesis_source_under_read_throttling(
    spark: Any,
    embedded_aws: EmbeddedAws,
    boto_session: boto3.Session,
    stream_factory: Callable[..., str],
    tmp_path: Path,
    fault_figures: FaultFigures,
) -> None:
    stream = stream_factory(shards=2)
    writer = KinesisWriter(
        stream, dead_letter=DeadLetterFile(tmp_path / "dl.jsonl"), client=boto_session.client("kinesis")
    )
    sent = [json.dumps({"n": i}).encode() for i in range(800)]
    for i, data in enumerate(sent):
        writer.put(f"k{i % 11}", data)
    writer.flush()
    writer.close()
    spark.dataSource.register(KinesisDataSource)
    rows: list[bytes] = []
    with FaultProxy(embedded_aws.endpoint_url, Faults(throttle={"GetRecords": 0.3, "GetShardIterator": 0.1})) as proxy:
        query = (
            spark.readStream.format("fraudstream-kinesis")
            .option("streamName", stream)
            .option("endpointUrl", proxy.url)
            .option("maxRecordsPerBatch", "300")
            .option("minGetRecordsIntervalMs", "0")
            .load()
            .writeStream.foreachBatch(lambda df, _: rows.extend(bytes(r["data"]) for r in df.collect()))
            .option("checkpointLocation", str(tmp_path / "cp"))
            .start()
        )
        try:
            query.processAllAvailable()
        finally:
            query.stop()
    fault_figures.record(
        "kinesis GetRecords throttled",
        sent=sent,
        received=rows,
        recovery=_injected(proxy),
    )
    assert proxy.counts.throttled.get("GetRecords", 0) > 0
    assert sorted(rows) == sorted(sent)
