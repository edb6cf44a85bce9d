"""The Kinesis streams and the producer's role, as synthesized for dev and prod."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk.assertions import Match

from infrastructure.config import ResourceNames
from tests.infrastructure.helpers import as_list, only, render, resources, statements_by_sid

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

NAMES = ResourceNames()


def test_dev_streams_are_on_demand_with_a_day_of_retention_encrypted_with_the_stack_key(dev: Template) -> None:
    # GIVEN the dev stack; WHEN its streams are read; THEN both are on-demand, KMS-encrypted with the stack's key
    key_id, _ = only(dev, "AWS::KMS::Key")
    streams = resources(dev, "AWS::Kinesis::Stream")
    assert sorted(s["Properties"]["Name"] for s in streams.values()) == sorted(
        [NAMES.transactions_stream, NAMES.labels_stream]
    )
    for stream in streams.values():
        props = stream["Properties"]
        assert props["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
        assert "ShardCount" not in props
        assert props["RetentionPeriodHours"] == 24
        assert props["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": {"Fn::GetAtt": [key_id, "Arn"]}}


def test_prod_streams_are_provisioned_with_a_week_of_retention(prod: Template) -> None:
    prod.resource_count_is("AWS::Kinesis::Stream", 2)
    prod.all_resources_properties(
        "AWS::Kinesis::Stream",
        {
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "ShardCount": 4,
            "RetentionPeriodHours": 168,
            "StreamEncryption": Match.object_like({"EncryptionType": "KMS"}),
        },
    )


def test_the_stack_key_rotates(dev: Template, prod: Template) -> None:
    dev.has_resource(
        "AWS::KMS::Key", {"Properties": Match.object_like({"EnableKeyRotation": True}), "DeletionPolicy": "Delete"}
    )
    prod.has_resource(
        "AWS::KMS::Key", {"Properties": Match.object_like({"EnableKeyRotation": True}), "DeletionPolicy": "Retain"}
    )


def test_the_producer_role_can_only_put_records_on_the_two_streams(dev: Template) -> None:
    # GIVEN the role the producer assumes (trusted by the account, so IAM policies decide who may)
    role_id, role = only(
        dev,
        "AWS::IAM::Role",
        {"Description": Match.string_like_regexp("producer")},
    )
    trust = render(role["Properties"]["AssumeRolePolicyDocument"]["Statement"])
    assert [s["Principal"] for s in trust] == [{"AWS": "arn:<AWS::Partition>:iam::<AWS::AccountId>:root"}]
    # WHEN its policy is read
    statements = statements_by_sid(dev, role_id)
    streams = sorted(f"<{logical_id}.Arn>" for logical_id in resources(dev, "AWS::Kinesis::Stream"))
    key_id, _ = only(dev, "AWS::KMS::Key")
    # THEN it may write to the streams and get a data key for them, nothing else
    assert set(statements) == {"PutRecords", "EncryptRecords"}
    assert sorted(as_list(statements["PutRecords"]["Action"])) == [
        "kinesis:DescribeStreamSummary",
        "kinesis:ListShards",
        "kinesis:PutRecord",
        "kinesis:PutRecords",
    ]
    assert sorted(as_list(statements["PutRecords"]["Resource"])) == streams
    assert statements["EncryptRecords"]["Action"] == "kms:GenerateDataKey"
    assert statements["EncryptRecords"]["Resource"] == f"<{key_id}.Arn>"
