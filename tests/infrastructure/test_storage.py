"""The lake, artifacts and access-log buckets, and the alerts table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fraudstream.alerts_table import ALERTS
from fraudstream.config import ResourceSettings
from fraudstream.lake import AGGREGATES, QUARANTINE, TRANSACTIONS
from infrastructure.app import DEV
from infrastructure.constants import ATHENA_RESULTS_PREFIX
from tests.infrastructure.helpers import as_list, only, render, resources

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_cdk.assertions import Template

    from tests.infrastructure._stacks import SynthesizedApp


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


def _checkov_skips(resource: dict[str, Any]) -> dict[str, str]:
    """checkov's acknowledged findings on a resource (its template metadata), by check id."""
    return {s["id"]: s["comment"] for s in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])}


def test_checkov_findings_on_the_log_and_artifacts_buckets_are_acknowledged_with_a_reason(
    dev: Template, prod: Template
) -> None:
    for template in (dev, prod):
        # GIVEN the buckets; THEN the log bucket's missing logging and versioning, and the artifacts
        # bucket's missing versioning, are acknowledged each with a reason, and nothing on the lake
        buckets = _buckets(template)
        assert set(_checkov_skips(buckets["log"])) == {"CKV_AWS_18", "CKV_AWS_21"}
        assert set(_checkov_skips(buckets["artifacts"])) == {"CKV_AWS_21"}
        assert _checkov_skips(buckets["lake"]) == {}
        for bucket in buckets.values():
            assert all(len(reason) > 40 for reason in _checkov_skips(bucket).values())


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


def test_alerts_table_is_the_one_alerts_description(dev: Template) -> None:
    # GIVEN the synthesized alerts table (the emulator's provisioning is compared with the same
    # description in tests/functional/fraudstream/test_local.py, the sink's items in test_sinks.py)
    key_id, _ = only(dev, "AWS::KMS::Key")
    _, table = only(dev, "AWS::DynamoDB::Table")
    props = table["Properties"]
    # THEN its key, index and TTL are fraudstream.alerts_table's
    assert props["KeySchema"] == ALERTS.key_schema()
    assert sorted(props["AttributeDefinitions"], key=str) == sorted(ALERTS.attribute_definitions(), key=str)
    assert props["GlobalSecondaryIndexes"] == ALERTS.global_secondary_indexes()
    assert props["TimeToLiveSpecification"] == ALERTS.time_to_live()
    # and what only the stack sets: the commands' default name, billing, recovery and the stack's key
    assert props["TableName"] == ResourceSettings.model_fields["alerts_table"].default
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert render(props["SSESpecification"]) == {
        "KMSMasterKeyId": f"<{key_id}.Arn>",
        "SSEEnabled": True,
        "SSEType": "KMS",
    }


def test_a_dev_stack_empties_its_buckets_when_deleted_and_a_prod_stack_keeps_them(
    dev: Template, prod: Template
) -> None:
    # GIVEN the dev stack, whose buckets go with it (DeletionPolicy Delete)
    buckets = resources(dev, "AWS::S3::Bucket")
    emptiers = resources(dev, "Custom::S3AutoDeleteObjects")
    # THEN each of its buckets is emptied by CDK's auto-delete custom resource before it is deleted
    assert sorted(e["Properties"]["BucketName"]["Ref"] for e in emptiers.values()) == sorted(buckets)
    (handler_id,) = {e["Properties"]["ServiceToken"]["Fn::GetAtt"][0] for e in emptiers.values()}
    handler = resources(dev, "AWS::Lambda::Function")[handler_id]
    provider_role = handler["Properties"]["Role"]["Fn::GetAtt"][0]
    # (cfn-lint's redundant-DependsOn warning on CDK's generated handler is silenced there, and only there,
    # and checkov's Lambda checks are acknowledged on it with a reason)
    assert handler["Metadata"]["cfn-lint"] == {"config": {"ignore_checks": ["W3005"]}}
    assert set(_checkov_skips(handler)) == {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117"}
    # and only the handler's role may delete their objects, through each bucket's own policy
    for policy in resources(dev, "AWS::S3::BucketPolicy").values():
        allowed = [
            s
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Allow" and "s3:DeleteObject*" in as_list(s["Action"])
        ]
        assert [s["Principal"] for s in allowed] == [{"AWS": {"Fn::GetAtt": [provider_role, "Arn"]}}]
    # WHEN the prod stack is read THEN its buckets are retained with their objects, and nothing deletes them
    prod.resource_count_is("Custom::S3AutoDeleteObjects", 0)
    for bucket in prod.find_resources("AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain"
    for policy in resources(prod, "AWS::S3::BucketPolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert not any("s3:DeleteObject*" in as_list(s["Action"]) for s in statements)


def test_the_localstack_stack_has_no_auto_delete_function_and_so_no_asset(
    synth_factory: Callable[..., SynthesizedApp],
) -> None:
    # GIVEN the LocalStack stack: it does not keep its data, but deploys without bootstrap or Lambda
    local = synth_factory(local="true").template("fraudstream-local")
    # THEN its buckets go with the stack without a custom resource emptying them, and it has no asset
    for bucket in local.find_resources("AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Delete"
    local.resource_count_is("Custom::S3AutoDeleteObjects", 0)
    local.resource_count_is("AWS::Lambda::Function", 0)
    assert local.find_parameters("*") == {}
