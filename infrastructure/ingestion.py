"""The Kinesis streams `transactions` and `labels`, and the role a producer assumes to write to them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from constructs import Construct

from infrastructure._nag import acknowledge, acknowledge_checkov

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms

    from infrastructure.config import ResourceNames, StreamProps

__all__ = ["Ingestion"]


class Ingestion(Construct):
    """Two streams, on-demand or provisioned, encrypted with the stack's key.

    Args:
        names: the stream names the producer and processor use.
        props: capacity mode and retention.
        key: the stack's key; None (LocalStack) leaves the streams unencrypted.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        names: ResourceNames,
        props: StreamProps,
        key: kms.IKey | None,
        retain: bool = False,
    ) -> None:
        super().__init__(scope, id_)
        self.transactions = self._stream("Transactions", names.transactions_stream, props, key)
        self.labels = self._stream("Labels", names.labels_stream, props, key)
        self.streams = (self.transactions, self.labels)
        for stream in self.streams:
            # CDK keeps a stream by default; a dev stack deletes its key, which would leave the
            # streams unreadable and their names taken for the next deploy.
            stream.apply_removal_policy(RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY)

        self.producer_role = iam.Role(
            self,
            "ProducerRole",
            assumed_by=iam.AccountRootPrincipal(),
            description="fraudstream producer: PutRecords to the transactions and labels streams, nothing else",
            max_session_duration=Duration.hours(12),
        )
        self.producer_role.add_to_policy(
            iam.PolicyStatement(
                sid="PutRecords",
                actions=[
                    "kinesis:DescribeStreamSummary",
                    "kinesis:ListShards",
                    "kinesis:PutRecord",
                    "kinesis:PutRecords",
                ],
                resources=[s.stream_arn for s in self.streams],
            )
        )
        if key is not None:
            # Kinesis server-side encryption: a writer needs a data key, nothing more.
            self.producer_role.add_to_policy(
                iam.PolicyStatement(sid="EncryptRecords", actions=["kms:GenerateDataKey"], resources=[key.key_arn])
            )

    def _stream(self, id_: str, name: str, props: StreamProps, key: kms.IKey | None) -> kinesis.Stream:
        provisioned = props.shard_count is not None
        stream = kinesis.Stream(
            self,
            id_,
            stream_name=name,
            stream_mode=kinesis.StreamMode.PROVISIONED if provisioned else kinesis.StreamMode.ON_DEMAND,
            shard_count=props.shard_count,
            retention_period=Duration.hours(props.retention_hours),
            encryption=kinesis.StreamEncryption.KMS if key is not None else kinesis.StreamEncryption.UNENCRYPTED,
            encryption_key=key,
        )
        if key is not None:
            acknowledge(
                stream,
                "AwsSolutions-KDS3",
                "A customer-managed key on purpose: the stack's one key (rotated yearly, its use in CloudTrail, "
                "its policy in this template) rather than the AWS-managed aws/kinesis key.",
            )
        else:
            reason = (
                "LocalStack deployment (local=true): the project's LocalStack runs without KMS; "
                "AWS deployments encrypt with the stack's customer-managed key."
            )
            acknowledge(stream, "AwsSolutions-KDS1", reason)
            acknowledge_checkov(stream, "CKV_AWS_43", reason)
        return stream
