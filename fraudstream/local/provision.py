"""Create the project's streams, bucket and table, idempotently, on whatever endpoint boto3 is
configured for: the embedded emulator, LocalStack, or an AWS account for a quick try (`cdk deploy`
is the way to provision AWS properly)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from fraudstream.alerts_table import ALERTS
from fraudstream.aws import aws_errors, default_session, dynamodb_client, kinesis_client, s3_client

if TYPE_CHECKING:
    import boto3

    from fraudstream.config import ResourceSettings

__all__ = ["ProvisionResult", "provision"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProvisionResult:
    """One resource and whether this run created it."""

    kind: str
    name: str
    created: bool


def provision(
    resources: ResourceSettings, *, shards: int = 2, session: boto3.Session | None = None
) -> list[ProvisionResult]:
    """Create what is missing and leave what exists; running it twice changes nothing.

    Args:
        resources: names of the streams, bucket and table.
        shards: shard count for each new stream (provisioned mode).
        session: boto3 session; the default one when None.

    Returns:
        One result per resource, saying whether it was created now.
    """
    session = session or default_session()
    results = [
        _stream(session, resources.transactions_stream, shards),
        _stream(session, resources.labels_stream, shards),
        _bucket(session, resources.lake_bucket),
        _alerts_table(session, resources.alerts_table),
    ]
    return results


def _stream(session: boto3.Session, name: str, shards: int) -> ProvisionResult:
    kinesis = kinesis_client(session)
    created = True
    with aws_errors(f"stream {name!r}"):
        try:
            kinesis.create_stream(StreamName=name, ShardCount=shards)
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceInUseException":
                raise
            created = False
        kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return ProvisionResult("kinesis stream", name, created)


def _bucket(session: boto3.Session, name: str) -> ProvisionResult:
    s3 = s3_client(session)
    region = session.region_name or "us-east-1"
    created = True
    with aws_errors(f"bucket {name!r}"):
        try:
            s3.head_bucket(Bucket=name)
            return ProvisionResult("s3 bucket", name, created=False)
        except ClientError as e:
            if e.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
                raise
        try:
            if region == "us-east-1":  # us-east-1 rejects an explicit LocationConstraint.
                s3.create_bucket(Bucket=name)
            else:
                s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})  # type: ignore[typeddict-item]
        except ClientError as e:
            if e.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
                raise
            created = False
    return ProvisionResult("s3 bucket", name, created)


def _alerts_table(session: boto3.Session, name: str) -> ProvisionResult:
    dynamodb = dynamodb_client(session)
    created = True
    with aws_errors(f"table {name!r}"):
        try:
            dynamodb.create_table(
                TableName=name,
                BillingMode="PAY_PER_REQUEST",
                # The one description the CDK stack and the processor's sink also derive from.
                AttributeDefinitions=ALERTS.attribute_definitions(),  # type: ignore[arg-type]
                KeySchema=ALERTS.key_schema(),  # type: ignore[arg-type]
                GlobalSecondaryIndexes=ALERTS.global_secondary_indexes(),  # type: ignore[arg-type]
            )
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceInUseException":
                raise
            created = False
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ALERTS.ttl_attribute}
            )
    return ProvisionResult("dynamodb table", name, created)
