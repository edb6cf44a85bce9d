"""The lake bucket, the artifacts bucket (job code, Spark checkpoints), their access-log bucket, and
the DynamoDB `alerts` table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from fraudstream.alerts_table import ALERTS
from fraudstream.lake import AGGREGATES, QUARANTINE, TRANSACTIONS
from infrastructure._nag import acknowledge, acknowledge_checkov
from infrastructure.constants import ATHENA_RESULTS_PREFIX

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms

    from infrastructure.config import LakeProps, ResourceNames

__all__ = ["Storage"]

_ABORT_UPLOADS = s3.LifecycleRule(
    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)
)


class Storage(Construct):
    """Buckets with TLS-only policies, blocked public access, access logs and lifecycle rules; the
    alerts table with point-in-time recovery, TTL and the card index.

    Args:
        names: the alerts table's name (the bucket names are generated: they are global).
        props: lifecycle periods.
        key: the stack's key; None (LocalStack) falls back to S3- and DynamoDB-managed encryption.
        retain: keep the buckets and the table when the stack is deleted; protect the table from deletion.
        empty_on_delete: with `retain` off, empty the buckets when the stack is deleted (CDK's
            auto-delete custom resource: a Lambda function, published as an asset).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        names: ResourceNames,
        props: LakeProps,
        key: kms.IKey | None,
        retain: bool,
        empty_on_delete: bool = True,
    ) -> None:
        super().__init__(scope, id_)
        removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        # CloudFormation cannot delete a bucket that holds objects: a stack that does not keep its data
        # empties its buckets on deletion (a custom resource CDK adds, run only when the stack goes).
        auto_delete = empty_on_delete and not retain
        encryption = s3.BucketEncryption.KMS if key is not None else s3.BucketEncryption.S3_MANAGED

        # Server access logs can only be delivered to a bucket with SSE-S3 default encryption.
        self.log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=removal,
            auto_delete_objects=auto_delete,
            lifecycle_rules=[_ABORT_UPLOADS, s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(90))],
        )
        acknowledge(
            self.log_bucket,
            "AwsSolutions-S1",
            "This is the access-log bucket of the other buckets; logging it into itself would loop.",
        )
        acknowledge_checkov(
            self.log_bucket,
            "CKV_AWS_18",
            "This is the access-log bucket of the other buckets; logging it into itself would loop.",
        )
        acknowledge_checkov(
            self.log_bucket,
            "CKV_AWS_21",
            "Access logs are written once by S3's log delivery and expire after 90 days; no object is ever "
            "overwritten, so versions would only keep expired logs longer.",
        )

        tiered = [
            s3.LifecycleRule(
                id=f"{table.name}-to-infrequent-access",
                prefix=table.prefix,
                transitions=[
                    s3.Transition(
                        storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                        transition_after=Duration.days(props.infrequent_access_after_days),
                    )
                ],
            )
            for table in (TRANSACTIONS, AGGREGATES)
        ]
        self.lake_bucket = s3.Bucket(
            self,
            "Lake",
            encryption=encryption,
            encryption_key=key,
            bucket_key_enabled=key is not None,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="lake/",
            removal_policy=removal,
            auto_delete_objects=auto_delete,
            lifecycle_rules=[
                _ABORT_UPLOADS,
                s3.LifecycleRule(
                    id="expire-overwritten-versions",
                    noncurrent_version_expiration=Duration.days(props.noncurrent_versions_expire_days),
                    expired_object_delete_marker=True,
                ),
                *tiered,
                s3.LifecycleRule(
                    id="expire-quarantine",
                    prefix=QUARANTINE.prefix,
                    expiration=Duration.days(props.quarantine_expire_days),
                ),
                s3.LifecycleRule(
                    id="expire-athena-results",
                    prefix=ATHENA_RESULTS_PREFIX,
                    expiration=Duration.days(props.athena_results_expire_days),
                ),
            ],
        )
        self.artifacts_bucket = s3.Bucket(
            self,
            "Artifacts",
            encryption=encryption,
            encryption_key=key,
            bucket_key_enabled=key is not None,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="artifacts/",
            removal_policy=removal,
            auto_delete_objects=auto_delete,
            lifecycle_rules=[_ABORT_UPLOADS],
        )
        acknowledge_checkov(
            self.artifacts_bucket,
            "CKV_AWS_21",
            "Job code is uploaded again from the repository by `fraudstream package`, and Spark rewrites its "
            "checkpoint files every micro-batch: versions would keep every overwritten checkpoint file and "
            "restore nothing the checkpoint itself does not hold.",
        )

        if auto_delete:
            _quiet_cfn_lint_on_auto_delete_handler(Stack.of(self))

        # Key, index and TTL as fraudstream.alerts_table describes them (local provisioning derives from it too).
        self.alerts_table = dynamodb.Table(
            self,
            "Alerts",
            table_name=names.alerts_table,
            partition_key=_key(ALERTS.partition_key),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=(
                dynamodb.TableEncryption.CUSTOMER_MANAGED if key is not None else dynamodb.TableEncryption.AWS_MANAGED
            ),
            encryption_key=key,
            time_to_live_attribute=ALERTS.ttl_attribute,
            deletion_protection=retain,
            removal_policy=removal,
        )
        if key is None:
            acknowledge_checkov(
                self.alerts_table,
                "CKV_AWS_119",
                "LocalStack deployment (local=true): the project's LocalStack runs without KMS, so the table "
                "uses DynamoDB's own encryption; AWS deployments encrypt with the stack's customer-managed key.",
            )
        self.alerts_table.add_global_secondary_index(
            index_name=ALERTS.index_name,
            partition_key=_key(ALERTS.index_partition_key),
            sort_key=_key(ALERTS.index_sort_key),
            projection_type=dynamodb.ProjectionType.ALL,
        )


def _key(name: str) -> dynamodb.Attribute:
    """A key attribute of the alerts table, typed as `fraudstream.alerts_table.ALERTS` says."""
    kind = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}[ALERTS.item[name]]
    return dynamodb.Attribute(name=name, type=kind)


def _quiet_cfn_lint_on_auto_delete_handler(stack: Stack) -> None:
    """CDK's auto-delete handler lists its role in DependsOn as well as in a GetAtt: cfn-lint's W3005
    (redundant dependency) on code CDK generates, harmless; acknowledged on that one resource."""
    provider = stack.node.try_find_child("Custom::S3AutoDeleteObjectsCustomResourceProvider")
    handler = provider.node.try_find_child("Handler") if provider is not None else None
    if isinstance(handler, CfnResource):
        handler.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
        # checkov's Lambda checks, on the same generated function, which runs once, when the stack is deleted.
        for check, reason in _AUTO_DELETE_HANDLER_CHECKOV.items():
            acknowledge_checkov(handler, check, reason)


_AUTO_DELETE_HANDLER_CHECKOV: dict[str, str] = {
    "CKV_AWS_116": "CDK's auto-delete custom resource handler is invoked synchronously by CloudFormation, "
    "which receives and reports its failure; there is no asynchronous event to dead-letter.",
    "CKV_AWS_117": "CDK's auto-delete handler only calls the S3 API to empty the stack's buckets; the stack "
    "has no VPC and the function reaches nothing private.",
    "CKV_AWS_115": "CDK's auto-delete handler runs once per bucket when the stack is deleted; a reserved "
    "concurrency limit would only take capacity from the account's other functions.",
}
