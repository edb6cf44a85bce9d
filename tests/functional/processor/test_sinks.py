"""The lake and alert sinks against the embedded emulator: layout, idempotency per batch, retries."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import pytest

from fraudstream.alerts_table import ALERTS
from fraudstream.aws import s3_filesystem
from fraudstream.lake import TRANSACTIONS
from fraudstream.local.provision import provision
from processor.exceptions import AlertSinkError
from processor.sinks import DynamoDBAlertSink, S3ParquetSink
from tests.scored_rows import T0, scored_rows

if TYPE_CHECKING:
    import boto3

    from fraudstream.config import ResourceSettings


@pytest.fixture
def resources(boto_session: boto3.Session, unique_resources: ResourceSettings) -> ResourceSettings:
    provision(unique_resources, shards=1, session=boto_session)
    return unique_resources


@pytest.mark.parametrize("upload", ["put_object", "pyarrow"])
def test_lake_files_are_partitioned_by_event_hour_and_a_replay_overwrites_them(
    resources: ResourceSettings, boto_session: boto3.Session, upload: str
) -> None:
    # GIVEN a batch of 6 rows spanning 22:30 on one day to 00:10 the next, uploaded with one
    # PutObject per file (as the job does) or through pyarrow's filesystem
    client = boto_session.client("s3") if upload == "put_object" else None
    sink = S3ParquetSink(resources.lake_bucket, TRANSACTIONS, s3_filesystem(boto_session), s3=client)
    sink.setup()
    batch = scored_rows(6)
    # WHEN it is written twice under the same batch id (a replay after a crash)
    assert sink.write(7, batch) == 3
    assert sink.write(7, batch) == 3
    # THEN there is one file per (date, hour) partition, named after the batch, rows exactly once
    s3 = boto_session.client("s3")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=resources.lake_bucket)["Contents"])
    assert keys == [
        "transactions/dt=2026-11-23/hour=22/batch-000000000007-0000.parquet",
        "transactions/dt=2026-11-23/hour=23/batch-000000000007-0000.parquet",
        "transactions/dt=2026-11-24/hour=00/batch-000000000007-0000.parquet",
    ]
    back = sink.read_all()
    assert sorted(back["transaction_id"].to_pylist()) == sorted(batch["transaction_id"].to_pylist())
    # a later batch adds its own files
    sink.write(8, scored_rows(2, start=T0 + timedelta(days=1)))
    assert sink.read_all().num_rows == 8
    # AND dictionary pages hold the text columns, never the numbers
    body = s3.get_object(Bucket=resources.lake_bucket, Key=keys[0])["Body"].read()
    first = pq.ParquetFile(io.BytesIO(body)).metadata.row_group(0)
    chunks = {first.column(i).path_in_schema: first.column(i) for i in range(first.num_columns)}
    assert chunks["card_id"].has_dictionary_page and chunks["scored_by"].has_dictionary_page
    assert not chunks["amount"].has_dictionary_page and not chunks["score"].has_dictionary_page


def _scan(client: Any, table: str) -> list[dict[str, Any]]:
    return sorted(client.scan(TableName=table)["Items"], key=lambda i: i["transaction_id"]["S"])


def test_alerts_are_the_alerting_rows_and_a_replay_writes_identical_items(
    resources: ResourceSettings, boto_session: boto3.Session
) -> None:
    client = boto_session.client("dynamodb")
    sink = DynamoDBAlertSink(resources.alerts_table, client=client, ttl_days=30)
    sink.setup()
    batch = scored_rows(80)  # 27 alerts: more than one BatchWriteItem call of 25
    assert sink.write(3, batch) == 27
    first = _scan(client, resources.alerts_table)
    assert sink.write(3, batch) == 27
    assert _scan(client, resources.alerts_table) == first
    alerting = [r for r in batch.to_pylist() if r["is_alert"]]
    assert [i["transaction_id"]["S"] for i in first] == sorted(r["transaction_id"] for r in alerting)
    item = first[0]
    # every item has exactly the attributes, with the types, of the one alerts description
    assert all({name: next(iter(v)) for name, v in i.items()} == dict(ALERTS.item) for i in first)
    row = next(r for r in alerting if r["transaction_id"] == item["transaction_id"]["S"])
    assert item["card_id"]["S"] == row["card_id"]
    assert item["event_time"]["S"] == row["event_time"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert float(item["score"]["N"]) == row["score"] and float(item["amount"]["N"]) == row["amount"]
    assert [r["S"] for r in item["reasons"]["L"]] == row["reasons"]
    assert int(item["ttl"]["N"]) == int((row["event_time"] + timedelta(days=30)).timestamp())
    # the GSI answers "alerts of this card"
    by_card = client.query(
        TableName=resources.alerts_table,
        IndexName=ALERTS.index_name,
        KeyConditionExpression="card_id = :c",
        ExpressionAttributeValues={":c": {"S": "card-0"}},
    )["Items"]
    assert len(by_card) == sum(r["card_id"] == "card-0" for r in alerting)


class UnprocessedFaults:
    """Takes chosen put requests out of BatchWriteItem calls and reports them as UnprocessedItems."""

    def __init__(self, client: Any, table: str, fail_first: int) -> None:
        self.table = table
        self.remaining = fail_first  # calls that leave their first half unprocessed
        client.meta.events.register("before-call.dynamodb.BatchWriteItem", self._before)
        client.meta.events.register("after-call.dynamodb.BatchWriteItem", self._after)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if self.remaining <= 0:
            return
        self.remaining -= 1
        body = json.loads(params["body"])
        requests = body["RequestItems"][self.table]
        held, sent = requests[: len(requests) // 2 or 1], requests[len(requests) // 2 or 1 :]
        context["held"] = held
        body["RequestItems"][self.table] = sent or requests[:0]
        params["body"] = json.dumps(body).encode()

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        held = context.get("held")
        if held:
            parsed.setdefault("UnprocessedItems", {})[self.table] = held


def test_unprocessed_items_are_retried_until_written(resources: ResourceSettings, boto_session: boto3.Session) -> None:
    client = boto_session.client("dynamodb")
    sleeps: list[float] = []
    UnprocessedFaults(client, resources.alerts_table, fail_first=3)
    sink = DynamoDBAlertSink(resources.alerts_table, client=client, sleep=sleeps.append)
    batch = scored_rows(30)
    assert sink.write(1, batch) == 10
    assert len(_scan(client, resources.alerts_table)) == 10
    assert len(sleeps) == 3


def test_items_that_stay_unprocessed_fail_the_batch(resources: ResourceSettings, boto_session: boto3.Session) -> None:
    client = boto_session.client("dynamodb")
    UnprocessedFaults(client, resources.alerts_table, fail_first=100)
    sink = DynamoDBAlertSink(resources.alerts_table, client=client, sleep=lambda _: None, max_attempts=3)
    with pytest.raises(AlertSinkError, match="still unprocessed after 3 attempts"):
        sink.write(2, scored_rows(12))


def test_a_missing_bucket_or_table_is_reported_at_setup(boto_session: boto3.Session, aws_env: dict[str, str]) -> None:
    from fraudstream.exceptions import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError, match="no-such-bucket"):
        S3ParquetSink("no-such-bucket", TRANSACTIONS, s3_filesystem(boto_session)).setup()
    with pytest.raises(ResourceNotFoundError, match="no-such-table"):
        DynamoDBAlertSink("no-such-table", client=boto_session.client("dynamodb")).setup()
