"""The embedded AWS as a user starts it, and idempotent provisioning."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import boto3
import pytest

from fraudstream.alerts_table import ALERTS
from fraudstream.local.emulator import EmbeddedAws, PortInUseError
from fraudstream.local.provision import provision

if TYPE_CHECKING:
    from fraudstream.config import ResourceSettings


def test_provision_twice_creates_once(boto_session: boto3.Session, unique_resources: ResourceSettings) -> None:
    # GIVEN fresh names
    resources = unique_resources
    # WHEN provisioned twice
    first = provision(resources, shards=3, session=boto_session)
    second = provision(resources, shards=3, session=boto_session)
    # THEN the first run created everything and the second nothing, with no duplicates or errors
    assert [r.created for r in first] == [True] * 4
    assert [r.created for r in second] == [False] * 4
    kinesis = boto_session.client("kinesis")
    assert len(kinesis.list_shards(StreamName=resources.transactions_stream)["Shards"]) == 3
    # (looked up by name: the suite's emulator holds more streams than a ListStreams page)
    for stream in (resources.transactions_stream, resources.labels_stream):
        summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        assert summary["StreamStatus"] == "ACTIVE"
    # the alerts table is the one alerts description (the CDK stack's is compared with it in test_storage.py)
    table = boto_session.client("dynamodb").describe_table(TableName=resources.alerts_table)["Table"]
    assert table["KeySchema"] == ALERTS.key_schema()
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(ALERTS.attribute_definitions(), key=str)
    indexes = [{k: g[k] for k in ("IndexName", "KeySchema", "Projection")} for g in table["GlobalSecondaryIndexes"]]
    assert indexes == ALERTS.global_secondary_indexes()
    ttl = boto_session.client("dynamodb").describe_time_to_live(TableName=resources.alerts_table)
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": ALERTS.ttl_attribute}
    buckets = [b["Name"] for b in boto_session.client("s3").list_buckets()["Buckets"]]
    assert buckets.count(resources.lake_bucket) == 1


def test_a_taken_port_is_a_clear_error(embedded_aws: EmbeddedAws) -> None:
    with pytest.raises(PortInUseError, match=str(embedded_aws.port)):
        EmbeddedAws(port=embedded_aws.port).start()


def test_local_up_serves_prints_the_exports_and_stops_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fraudstream", "local", "up", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        exports = proc.stdout.readline().strip()
        url = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert url, first
        assert exports.startswith(f"export AWS_ENDPOINT_URL={url.group(0)} ")
        # the printed line is all a shell needs: the server answers AWS calls
        env = dict(pair.split("=", 1) for pair in exports.removeprefix("export ").split())
        s3 = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name=env["AWS_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        s3.create_bucket(Bucket="probe")
        assert "probe" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped" in out
