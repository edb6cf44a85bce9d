"""`fraudstream query`: DuckDB over the lake on the emulator, with Athena's table names."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from fraudstream.aws import s3_filesystem
from fraudstream.exceptions import ResourceNotFoundError
from fraudstream.lake import LABELS, TRANSACTIONS
from fraudstream.local.provision import provision
from fraudstream.named_queries import NAMED_QUERIES
from fraudstream.query import QueryError, run_query
from processor.sinks import S3ParquetSink
from tests.scored_rows import T0, scored_rows

if TYPE_CHECKING:
    import boto3

    from fraudstream.config import ResourceSettings


def test_queries_see_every_table_with_partition_columns(
    boto_session: boto3.Session, unique_resources: ResourceSettings, aws_env: dict[str, str]
) -> None:
    # GIVEN a lake with two batches of transactions and nothing yet in aggregates or quarantine
    provision(unique_resources, shards=1, session=boto_session)
    filesystem = s3_filesystem(boto_session)
    sink = S3ParquetSink(unique_resources.lake_bucket, TRANSACTIONS, filesystem)
    sink.write(1, scored_rows(6))
    sink.write(2, scored_rows(3, start=T0 + timedelta(days=2)))
    # WHEN queried by partition, as one would in Athena
    result = run_query(
        "SELECT dt, hour, count(*) AS n, sum(CASE WHEN is_alert THEN 1 ELSE 0 END) AS alerts "
        "FROM transactions GROUP BY dt, hour ORDER BY dt, hour",
        unique_resources.lake_bucket,
        filesystem,
    ).to_pylist()
    # THEN the partitions and counts are those written
    assert [(r["dt"], r["hour"], r["n"]) for r in result] == [
        ("2026-11-23", "22", 2),
        ("2026-11-23", "23", 3),
        ("2026-11-24", "00", 1),
        ("2026-11-25", "22", 2),
        ("2026-11-25", "23", 1),
    ]
    assert sum(r["alerts"] for r in result) == 2 + 1  # rows 0 and 3 of the first batch, row 0 of the second
    empty = run_query("SELECT count(*) AS n FROM quarantine", unique_resources.lake_bucket, filesystem)
    assert empty.to_pylist() == [{"n": 0}]
    # and the command prints the same through boto3's configuration
    env = {**os.environ, **aws_env, "FRAUD_LAKE_BUCKET": unique_resources.lake_bucket}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fraudstream",
            "query",
            "SELECT card_id, count(*) AS n FROM transactions GROUP BY 1 ORDER BY 1",
            "--output",
            "csv",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    # cards of rows 0..5, then of rows 0..2: card-(i % 4)
    assert [(r["card_id"], r["n"]) for r in rows] == [
        ("card-0", "3"),
        ("card-1", "3"),
        ("card-2", "2"),
        ("card-3", "1"),
    ]


def test_bad_sql_is_a_clear_error(boto_session: boto3.Session, unique_resources: ResourceSettings) -> None:
    provision(unique_resources, shards=1, session=boto_session)
    with pytest.raises(QueryError, match="no_such_table"):
        run_query("SELECT * FROM no_such_table", unique_resources.lake_bucket, s3_filesystem(boto_session))


def _query_command(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fraudstream", "query", "SELECT count(*) FROM transactions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_missing_bucket_or_an_unreachable_endpoint_is_one_line_not_an_empty_result(
    boto_session: boto3.Session, aws_env: dict[str, str]
) -> None:
    # GIVEN no lake bucket on the emulator, and an endpoint where nothing listens
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    env = {**os.environ, **aws_env, "FRAUD_LAKE_BUCKET": "no-such-lake"}
    # WHEN queried, in process and through the command
    with pytest.raises(ResourceNotFoundError, match="lake bucket 'no-such-lake' does not exist"):
        run_query("SELECT 1", "no-such-lake", s3_filesystem(boto_session))
    missing = _query_command(env)
    unreachable = _query_command({**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}"})
    # THEN each is an error with a hint, without a traceback
    assert missing.returncode == 1, missing.stdout
    assert "lake bucket 'no-such-lake' does not exist" in missing.stderr
    assert "fraudstream local provision" in missing.stderr
    assert unreachable.returncode == 1, unreachable.stdout
    assert "cannot reach the lake's S3 endpoint" in unreachable.stderr and "fraudstream local up" in unreachable.stderr
    assert "Traceback" not in missing.stderr + unreachable.stderr


def test_the_labels_table_is_queryable_by_day_and_its_named_query_runs(
    boto_session: boto3.Session, unique_resources: ResourceSettings
) -> None:
    import pyarrow as pa

    # GIVEN three chargebacks known yesterday and today (the named query looks at the last 30 days)
    provision(unique_resources, shards=1, session=boto_session)
    filesystem = s3_filesystem(boto_session)
    today = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0)
    rows = [
        {
            "schema_version": 1,
            "transaction_id": f"tx-{i}",
            "card_id": "card-0",
            "terminal_id": "term-0",
            "tx_event_time": today - timedelta(days=3),
            "label_time": today - timedelta(days=i % 2),
            "is_fraud": int(i != 2),
            "stream_name": "labels",
            "shard_id": "shardId-000000000000",
            "sequence_number": str(i),
            "arrival_time": today - timedelta(days=i % 2),
            "batch_id": 1,
            "processed_at": today,
        }
        for i in range(3)
    ]
    S3ParquetSink(unique_resources.lake_bucket, LABELS, filesystem).write(1, pa.Table.from_pylist(rows, LABELS.schema))
    # WHEN the named query over them runs, as Athena would run it
    (query,) = [q for q in NAMED_QUERIES if q.name == "chargebacks-by-day"]
    result = run_query(query.sql, unique_resources.lake_bucket, filesystem).to_pylist()
    # THEN it counts them per day of their label_time, with their delay
    yesterday = (today - timedelta(days=1)).strftime("%Y-%m-%d")
    assert [(r["dt"], r["chargebacks"], r["fraud"], r["genuine"], r["mean_delay_days"]) for r in result] == [
        (yesterday, 1, 1, 0, 2.0),
        (today.strftime("%Y-%m-%d"), 2, 1, 1, 3.0),
    ]
