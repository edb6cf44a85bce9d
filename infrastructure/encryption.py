"""The stack's customer-managed KMS key: streams, buckets, table, logs, Athena results, alarm topic."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

__all__ = ["DataKey"]


class DataKey(Construct):
    """One symmetric key with yearly rotation; services that encrypt on the stack's behalf (CloudWatch
    Logs, alarm notifications to SNS) are let in by the key policy, each scoped to this account.

    Args:
        retain: keep the key when the stack is deleted (data encrypted with it stays readable).
    """

    def __init__(self, scope: Construct, id_: str, *, retain: bool) -> None:
        super().__init__(scope, id_)
        self.key = kms.Key(
            self,
            "Key",
            description="fraudstream: streams, lake, alerts, logs, Athena results and alarm topic",
            enable_key_rotation=True,
            pending_window=Duration.days(30 if retain else 7),
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )

    def allow_log_groups(self) -> None:
        """Let CloudWatch Logs use the key, for log groups of this account and region only."""
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.{Aws.URL_SUFFIX}")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                        )
                    }
                },
            )
        )

    def allow_cloudwatch_alarms(self) -> None:
        """Let CloudWatch alarms publish to a topic encrypted with the key."""
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
