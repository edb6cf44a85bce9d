"""The lake, artifacts and access-log buckets, and the alerts table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fraudstream.config import ResourceSettings
from fraudstream.lake import AGGREGATES, QUARANTINE, TRANSACTIONS
from fraudstream.local.provision import ALERTS_CARD_INDEX, ALERTS_TTL_ATTRIBUTE
from infrastructure.app import DEV
from infrastructure.constants import ATHENA_RESULTS_PREFIX
from tests.infrastructure.helpers import only, render, resources

if TYPE_CHECKING:
    from aws_cdk.assertions import Template


def _buckets(template: Template) -> dict[str, dict[str, Any]]:
    """Buckets by role: the access-log bucket is the one the others log to; the lake has versioning."""
    buckets = resources(template, "AWS::S3::Bucket")
    targets = {
        b["Properties"]["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
        for b in buckets.values()
        if "LoggingConfiguration" in b["Properties"]
    }
    assert len(targets) == 1
    (log_id,) = targets
    lake = [i for i, b in buckets.items() if "VersioningConfiguration" in b["Properties"]]
    assert len(lake) == 1
    artifacts = [i for i in buckets if i not in (log_id, lake[0])]
    return {"log": {"id": log_id, **buckets[log_id]}, "lake": {"id": lake[0], **buckets[lake[0]]}} | {
        "artifacts": {"id": artifacts[0], **buckets[artifacts[0]]}
    }


def test_every_bucket_blocks_public_access_and_refuses_plain_http(dev: Template) -> None:
    buckets = resources(dev, "AWS::S3::Bucket")
    assert len(buckets) == 3
    for bucket in buckets.values():
        assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert bucket["Properties"]["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    policies = resources(dev, "AWS::S3::BucketPolicy")
    assert {p["Properties"]["Bucket"]["Ref"] for p in policies.values()} == set(buckets)
    for policy in policies.values():
        deny = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert {"Bool": {"aws:SecureTransport": "false"}} in [s["Condition"] for s in deny]


def test_lake_and_artifacts_are_kms_encrypted_and_log_their_access(dev: Template) -> None:
    key_id, _ = only(dev, "AWS::KMS::Key")
    buckets = _buckets(dev)
    for role, prefix in (("lake", "lake/"), ("artifacts", "artifacts/")):
        props = buckets[role]["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
            {
                "BucketKeyEnabled": True,
                "ServerSideEncryptionByDefault": {
                    "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
                    "SSEAlgorithm": "aws:kms",
                },
            }
        ]
        assert props["LoggingConfiguration"]["LogFilePrefix"] == prefix
    # Access logs can only be delivered with SSE-S3; the log bucket does not log to itself.
    log = buckets["log"]["Properties"]
    assert log["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert "LoggingConfiguration" not in log


def test_lake_lifecycle_expires_quarantine_and_athena_results_and_tiers_the_tables(dev: Template) -> None:
    rules = {r["Id"]: r for r in _buckets(dev)["lake"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    lake = DEV.lake
    assert rules["expire-quarantine"] == {
        "Id": "expire-quarantine",
        "Prefix": QUARANTINE.prefix,
        "ExpirationInDays": lake.quarantine_expire_days,
        "Status": "Enabled",
    }
    assert rules["expire-athena-results"]["Prefix"] == ATHENA_RESULTS_PREFIX
    assert rules["expire-athena-results"]["ExpirationInDays"] == lake.athena_results_expire_days
    for table in (TRANSACTIONS, AGGREGATES):
        rule = rules[f"{table.name}-to-infrequent-access"]
        assert rule["Prefix"] == table.prefix
        assert rule["Transitions"] == [
            {"StorageClass": "STANDARD_IA", "TransitionInDays": lake.infrequent_access_after_days}
        ]
    assert rules["expire-overwritten-versions"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": lake.noncurrent_versions_expire_days
    }
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_data_is_deleted_with_a_dev_stack_and_kept_with_a_prod_stack(dev: Template, prod: Template) -> None:
    for template, policy in ((dev, "Delete"), (prod, "Retain")):
        for type_ in ("AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::Kinesis::Stream"):
            for resource in template.find_resources(type_).values():
                assert resource["DeletionPolicy"] == policy
    prod.has_resource_properties("AWS::DynamoDB::Table", {"DeletionProtectionEnabled": True})
    dev.has_resource_properties("AWS::DynamoDB::Table", {"DeletionProtectionEnabled": False})


def test_alerts_table_matches_what_the_processor_writes_and_the_emulator_provisions(dev: Template) -> None:
    key_id, _ = only(dev, "AWS::KMS::Key")
    _, table = only(dev, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["TableName"] == ResourceSettings().alerts_table
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "transaction_id", "KeyType": "HASH"}]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": ALERTS_TTL_ATTRIBUTE, "Enabled": True}
    assert render(props["SSESpecification"]) == {
        "KMSMasterKeyId": f"<{key_id}.Arn>",
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    assert props["GlobalSecondaryIndexes"] == [
        {
            "IndexName": ALERTS_CARD_INDEX,
            "KeySchema": [
                {"AttributeName": "card_id", "KeyType": "HASH"},
                {"AttributeName": "event_time", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    assert {"AttributeName": "event_time", "AttributeType": "S"} in props["AttributeDefinitions"]
