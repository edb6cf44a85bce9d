"""The stream processor on EMR Serverless: the application, the job's execution role, where its
code and checkpoints live, and the exact StartJobRun request that runs it in streaming mode."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from aws_cdk import ArnFormat, Aws, CfnElement, RemovalPolicy, Stack
from aws_cdk import aws_emrserverless as emr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from fraudstream.lake import LAKE_TABLES
from fraudstream.monitoring_table import MONITORING
from infrastructure._nag import acknowledge
from infrastructure.constants import (
    ARTIFACTS_CHECKPOINT_PREFIX,
    ARTIFACTS_CODE_PREFIX,
    EMR_RELEASE_LABEL,
    JOB_ARCHIVE_FILES,
    PROCESSOR_JOB_NAME,
)

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms

    from infrastructure.config import ProcessorProps, ResourceNames
    from infrastructure.encryption import DataKey
    from infrastructure.ingestion import Ingestion
    from infrastructure.model_endpoint import ModelEndpoint
    from infrastructure.storage import Storage

__all__ = ["Processing", "job_role", "spark_application", "spark_submit_parameters"]

# What the application ships to its CloudWatch log group: worker type -> log types (EMR Serverless's
# `monitoringConfiguration.cloudWatchLoggingConfiguration.logTypes`).
_CLOUDWATCH_LOG_TYPES: Final = {"SPARK_DRIVER": ("STDOUT", "STDERR"), "SPARK_EXECUTOR": ("STDOUT", "STDERR")}

# venv-pack's archive is unpacked as ./environment in every container (`#environment`).
_PYTHON = "./environment/bin/python"
_COLON = ArnFormat.COLON_RESOURCE_NAME
_LOG_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def spark_submit_parameters(
    code_location: str, props: ProcessorProps, driver_env: dict[str, str], executor_env: dict[str, str]
) -> str:
    """The job's `sparkSubmitParameters`.

    `spark.archives` and `spark.submit.pyFiles` are spark-submit's `--archives` and `--py-files`,
    in the `--conf` form EMR Serverless documents: the venv-pack archive (unpacked as
    `./environment`, whose Python runs driver and executors) and the project's code.
    """
    conf = {
        "spark.archives": f"{code_location}{JOB_ARCHIVE_FILES['archive']}#environment",
        "spark.submit.pyFiles": f"{code_location}{JOB_ARCHIVE_FILES['py_files']}",
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": _PYTHON,
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": _PYTHON,
        "spark.executorEnv.PYSPARK_PYTHON": _PYTHON,
        "spark.driver.cores": str(props.driver_cores),
        "spark.driver.memory": props.driver_memory,
        "spark.executor.cores": str(props.executor_cores),
        "spark.executor.memory": props.executor_memory,
        "spark.executor.instances": str(props.executors),
        # One long-lived query reading every shard: a fixed executor count, no dynamic allocation.
        "spark.dynamicAllocation.enabled": "false",
        **{f"spark.emr-serverless.driverEnv.{k}": v for k, v in driver_env.items()},
        **{f"spark.executorEnv.{k}": v for k, v in executor_env.items()},
        **props.extra_spark_conf,
    }
    return " ".join(f"--conf {k}={v}" for k, v in conf.items())


def spark_application(
    scope: Construct,
    *,
    name: str,
    idle_stop_minutes: int,
    max_vcpu: str,
    max_memory: str,
    key: kms.IKey,
    logging: emr.CfnApplication.CloudWatchLoggingConfigurationProperty,
) -> emr.CfnApplication:
    """An EMR Serverless Spark application (id `Application` in `scope`) that runs one job at a time,
    starts on a job and stops when idle, without notebooks or Livy, its logs and managed persistence
    encrypted with `key`."""
    return emr.CfnApplication(
        scope,
        "Application",
        name=name,
        release_label=EMR_RELEASE_LABEL,
        type="Spark",
        # NOTE: the venv-pack archive holds compiled wheels: build it on the same architecture.
        architecture="X86_64",
        auto_start_configuration=emr.CfnApplication.AutoStartConfigurationProperty(enabled=True),
        auto_stop_configuration=emr.CfnApplication.AutoStopConfigurationProperty(
            enabled=True, idle_timeout_minutes=idle_stop_minutes
        ),
        maximum_capacity=emr.CfnApplication.MaximumAllowedResourcesProperty(cpu=max_vcpu, memory=max_memory),
        scheduler_configuration=emr.CfnApplication.SchedulerConfigurationProperty(max_concurrent_runs=1),
        interactive_configuration=emr.CfnApplication.InteractiveConfigurationProperty(
            studio_enabled=False, livy_endpoint_enabled=False
        ),
        monitoring_configuration=emr.CfnApplication.MonitoringConfigurationProperty(
            cloud_watch_logging_configuration=logging,
            managed_persistence_monitoring_configuration=(
                emr.CfnApplication.ManagedPersistenceMonitoringConfigurationProperty(
                    enabled=True, encryption_key_arn=key.key_arn
                )
            ),
        ),
    )


def job_role(scope: Construct, application: emr.CfnApplication, description: str) -> iam.Role:
    """The role (id `JobRole` in `scope`) that the jobs of `application`, and only those, run as."""
    return iam.Role(
        scope,
        "JobRole",
        assumed_by=iam.ServicePrincipal(
            "emr-serverless.amazonaws.com",
            conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {"aws:SourceArn": application.attr_arn},
            },
        ),
        description=description,
    )


class Processing(Construct):
    """EMR Serverless application and job role; the job itself is started by `fraudstream aws start-processor`.

    Args:
        props: capacity and Spark sizing.
        names: resource names passed to the job as its environment.
        ingestion: the streams it reads.
        storage: the lake it writes, the alerts table, the artifacts bucket for code and checkpoints.
        endpoint: the endpoint it scores through and whose champion artifact is its fallback model.
        data_key: the stack's key.
        threshold: the alert threshold of every row, passed to the job; None: each row's model card's.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        props: ProcessorProps,
        names: ResourceNames,
        ingestion: Ingestion,
        storage: Storage,
        endpoint: ModelEndpoint,
        data_key: DataKey,
        threshold: float | None,
    ) -> None:
        super().__init__(scope, id_)
        key = data_key.key
        stack = Stack.of(self)
        artifacts = storage.artifacts_bucket
        self.code_location = artifacts.s3_url_for_object(ARTIFACTS_CODE_PREFIX)
        self.checkpoint_location = artifacts.s3_url_for_object(ARTIFACTS_CHECKPOINT_PREFIX)
        self.entry_point = artifacts.s3_url_for_object(ARTIFACTS_CODE_PREFIX + JOB_ARCHIVE_FILES["entry_point"])

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=key,
            retention=_LOG_RETENTION.get(props.log_retention_days, logs.RetentionDays.ONE_MONTH),
            removal_policy=RemovalPolicy.DESTROY,
        )
        data_key.allow_log_groups()

        # One streaming run at a time: a second one would share the checkpoint.
        self.application = spark_application(
            self,
            name=f"{stack.stack_name}-processor",
            idle_stop_minutes=props.idle_stop_minutes,
            max_vcpu=props.max_vcpu,
            max_memory=props.max_memory,
            key=key,
            logging=emr.CfnApplication.CloudWatchLoggingConfigurationProperty(
                enabled=True,
                log_group_name=self.log_group.log_group_name,
                encryption_key_arn=key.key_arn,
                # Without log types EMR Serverless ships the driver's stdout and stderr only; the
                # executors read the shards, parse the records and keep the feature state, so
                # their stdout and stderr (Python workers' tracebacks included) are shipped too.
                log_type_map=[
                    emr.CfnApplication.LogTypeMapKeyValuePairProperty(key=worker, value=list(streams))
                    for worker, streams in _CLOUDWATCH_LOG_TYPES.items()
                ],
            ),
        )
        self.job_role = job_role(
            self,
            self.application,
            "fraudstream processor job: read the streams, write the lake and alerts, score, checkpoint",
        )
        self._grant(ingestion, storage, endpoint, key)

        self.model_location = endpoint.variants[0].artifact.s3_url
        region = Aws.REGION
        driver_env = {
            "AWS_REGION": region,
            "FRAUD_TRANSACTIONS_STREAM": names.transactions_stream,
            "FRAUD_LABELS_STREAM": names.labels_stream,
            "FRAUD_LAKE_BUCKET": storage.lake_bucket.bucket_name,
            "FRAUD_ALERTS_TABLE": names.alerts_table,
            "FRAUD_PROCESSOR__CHECKPOINT_LOCATION": self.checkpoint_location,
            "FRAUD_PROCESSOR__MODEL_DIR": self.model_location,
            "FRAUD_PROCESSOR__ENDPOINT_NAME": endpoint.endpoint_name,
            "FRAUD_PROCESSOR__METRICS": "emf",
        }
        if threshold is not None:
            driver_env["FRAUD_PROCESSOR__THRESHOLD"] = repr(threshold)
        self.spark_submit_parameters = spark_submit_parameters(
            self.code_location, props, driver_env, {"AWS_REGION": region}
        )
        self.start_job_run_request: dict[str, Any] = {
            "applicationId": self.application.attr_application_id,
            "executionRoleArn": self.job_role.role_arn,
            "name": PROCESSOR_JOB_NAME,
            "mode": "STREAMING",
            "retryPolicy": {"maxFailedAttemptsPerHour": props.max_failed_attempts_per_hour},
            "jobDriver": {
                "sparkSubmit": {
                    "entryPoint": self.entry_point,
                    "sparkSubmitParameters": self.spark_submit_parameters,
                }
            },
        }

    def _grant(self, ingestion: Ingestion, storage: Storage, endpoint: ModelEndpoint, key: kms.IKey) -> None:
        role, stack = self.job_role, Stack.of(self)
        lake, artifacts = storage.lake_bucket, storage.artifacts_bucket
        # The lake's tables but monitoring/, which the model monitoring job writes (model_monitoring.py).
        tables = [t for t in LAKE_TABLES if t.name != MONITORING.name]
        statements = [
            iam.PolicyStatement(
                sid="ReadStreams",
                actions=[
                    "kinesis:DescribeStreamSummary",
                    "kinesis:ListShards",
                    "kinesis:GetShardIterator",
                    "kinesis:GetRecords",
                ],
                resources=[s.stream_arn for s in ingestion.streams],
            ),
            # Streams, buckets, table and logs are all encrypted with the stack's key.
            iam.PolicyStatement(
                sid="UseStackKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[key.key_arn],
            ),
            iam.PolicyStatement(
                sid="WriteLakeTables",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                resources=[lake.arn_for_objects(f"{t.prefix}*") for t in tables],
            ),
            iam.PolicyStatement(
                sid="CheckpointsAndState",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                resources=[artifacts.arn_for_objects(f"{ARTIFACTS_CHECKPOINT_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="ReadJobCode",
                actions=["s3:GetObject"],
                resources=[artifacts.arn_for_objects(f"{ARTIFACTS_CODE_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="ListOwnBuckets", actions=["s3:ListBucket"], resources=[lake.bucket_arn, artifacts.bucket_arn]
            ),
            iam.PolicyStatement(
                sid="WriteAlerts",
                actions=["dynamodb:DescribeTable", "dynamodb:BatchWriteItem", "dynamodb:PutItem"],
                resources=[storage.alerts_table.table_arn],
            ),
            iam.PolicyStatement(
                sid="ScoreThroughEndpoint", actions=["sagemaker:InvokeEndpoint"], resources=[endpoint.endpoint_arn]
            ),
            # At start the job reads the champion's model card (DescribeEndpoint -> DescribeEndpointConfig
            # -> DescribeModel of the first variant -> S3) and loads the champion's artifact as its
            # fallback model (FRAUD_PROCESSOR__MODEL_DIR); when an answer first names a challenger, it
            # reads that variant's card the same way, to record the version that scored each row.
            iam.PolicyStatement(
                sid="ReadEndpointModelChain",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
                resources=[
                    endpoint.endpoint_arn,
                    stack.format_arn(
                        service="sagemaker", resource="endpoint-config", resource_name=endpoint.config_name
                    ),
                    *(
                        stack.format_arn(service="sagemaker", resource="model", resource_name=variant.model_name)
                        for variant in endpoint.variants
                    ),
                ],
            ),
            iam.PolicyStatement(
                sid="ReadVariantArtifacts",
                actions=["s3:GetObject"],
                resources=[variant.artifact.object_arn for variant in endpoint.variants],
            ),
            iam.PolicyStatement(
                sid="JobLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[self.log_group.log_group_arn],  # the group's ARN ends in `:*`: its streams
            ),
            iam.PolicyStatement(
                sid="FindJobLogGroup",
                actions=["logs:DescribeLogGroups"],
                resources=[
                    stack.format_arn(service="logs", resource="log-group", resource_name="*", arn_format=_COLON)
                ],
            ),
        ]
        for statement in statements:
            role.add_to_policy(statement)

        lake_id = stack.get_logical_id(_cfn(lake))
        artifacts_id = stack.get_logical_id(_cfn(artifacts))
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "Object-level wildcards limited to the job's own prefixes: the lake tables it writes, "
            "its checkpoint and its code; logs:DescribeLogGroups (to find its log group) takes no narrower "
            "resource than the account's log groups.",
            findings=[
                *(f"Resource::<{lake_id}.Arn>/{t.prefix}*" for t in tables),
                f"Resource::<{artifacts_id}.Arn>/{ARTIFACTS_CHECKPOINT_PREFIX}*",
                f"Resource::<{artifacts_id}.Arn>/{ARTIFACTS_CODE_PREFIX}*",
                "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*",
            ],
        )


def _cfn(construct: Construct) -> CfnElement:
    child = construct.node.default_child
    assert isinstance(child, CfnElement)  # noqa: S101 - every L2 here wraps one L1
    return child
