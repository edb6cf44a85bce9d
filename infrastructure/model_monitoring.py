"""Model monitoring on AWS (issue 20): `fraudstream monitor`'s computation as a daily job, its
CloudWatch metrics, and alarms on drift, alert-rate change and realised precision on the stack's alarm
topic.

Why EMR Serverless, started by EventBridge Scheduler:

- The data: a day of `transactions/` at 1,000-10,000 transactions per second is 86-864 million rows.
  The job reads a day once (about 35 of its columns, in batches, memory bounded: `ml_model.monitoring`)
  and its score column once or twice more for exact quantiles: at the top of that range, hundreds of
  GB decoded, minutes to tens of minutes of a few cores.
- Lambda stops at 15 minutes and 10 GB of memory, and the job's dependencies (pyarrow, numpy,
  pandas, xgboost for the model card) exceed its 250 MB package: it fits the bottom of the range at best.
- A SageMaker processing job would fit the size, but it needs a container image holding the
  project's code and dependencies, which the stack does not build.
- The stack already runs the processor on EMR Serverless and ships the project's code and its locked
  dependencies for it (`fraudstream package`: the venv archive and fraudstream.zip at the processor's
  code location): the job runs the same code with the same environment, sized per run (the driver
  does the work; no idle cluster), and EventBridge Scheduler starts it directly through its universal
  target `aws-sdk:emrserverless:startJobRun`, with no Lambda in between.

The job runs on an application of its own: the processor's application admits one run at a time
(its streaming run never ends), so a second run there would wait for ever. It shares the processor's
log group (its streams prefixed `model-monitoring`). The entry point is `ml_model/monitor_job.py`
itself, published as a file asset; the code it imports comes from the processor's code location.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Final

from aws_cdk import ArnFormat, Aws, CfnElement, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_emrserverless as emr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from fraudstream.lake import LABELS, TRANSACTIONS
from fraudstream.monitoring_table import MONITORING
from infrastructure._nag import acknowledge
from infrastructure.config import ProcessorProps
from infrastructure.constants import ARTIFACTS_CODE_PREFIX
from infrastructure.processing import job_role, spark_application, spark_submit_parameters
from ml_model import monitor_job
from ml_model.model_store import MODELS_PREFIX
from ml_model.monitor_metrics import METRICS, NAMESPACE

if TYPE_CHECKING:
    from aws_cdk import aws_sns as sns

    from infrastructure.config import ModelMonitoringProps
    from infrastructure.encryption import DataKey
    from infrastructure.model_endpoint import ModelEndpoint
    from infrastructure.processing import Processing
    from infrastructure.storage import Storage

__all__ = ["MODEL_MONITORING_JOB_NAME", "START_JOB_RUN_TARGET", "ModelMonitoring", "ModelMonitoringMetricSpec"]

MODEL_MONITORING_JOB_NAME: Final = "fraudstream-model-monitoring"
# EventBridge Scheduler's universal target for EMR Serverless' StartJobRun (the partition is the stack's).
START_JOB_RUN_TARGET: Final = "scheduler:::aws-sdk:emrserverless:startJobRun"
# A new job run per scheduled invocation: Scheduler fills this in with the invocation's id, which a
# retry of the same invocation keeps (StartJobRun is then idempotent).
_CLIENT_TOKEN: Final = "<aws.scheduler.execution-id>"  # noqa: S105 - an idempotency token, no secret
_DAY: Final = Duration.days(1)


@dataclasses.dataclass(frozen=True)
class ModelMonitoringMetricSpec:
    """Where the monitoring job's figures land in CloudWatch: its namespace and metric names."""

    namespace: str
    names: dict[str, str]  # figure -> metric name


def model_monitoring_metric_spec() -> ModelMonitoringMetricSpec:
    """The namespace and metric names the job publishes by, from its metrics table."""
    return ModelMonitoringMetricSpec(namespace=NAMESPACE, names={k: m.name for k, m in METRICS.items()})


class ModelMonitoring(Construct):
    """The daily monitoring job (an EMR Serverless application, its role, the schedule that starts it)
    and its alarms on the stack's topic; its metrics on the stack's dashboard.

    Args:
        props: schedule, sizing and alarm thresholds.
        storage: the lake the job reads and writes monitoring/ to.
        processing: the processor, whose code location, environment and log group the job shares.
        endpoint: the endpoint whose champion's card the job monitors against.
        data_key: the stack's key.
        topic: the stack's alarm topic.
        dashboard: the stack's dashboard, to which a row of the job's metrics is added.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        props: ModelMonitoringProps,
        storage: Storage,
        processing: Processing,
        endpoint: ModelEndpoint,
        data_key: DataKey,
        topic: sns.ITopic | None,
        dashboard: cw.Dashboard | None = None,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        key = data_key.key
        self.props = props
        # One run at a time: two runs would compute the same due days.
        self.application = spark_application(
            self,
            name=f"{stack.stack_name}-model-monitoring",
            idle_stop_minutes=5,
            max_vcpu=props.max_vcpu,
            max_memory=props.max_memory,
            key=key,
            logging=emr.CfnApplication.CloudWatchLoggingConfigurationProperty(
                enabled=True,
                log_group_name=processing.log_group.log_group_name,
                log_stream_name_prefix="model-monitoring",
                encryption_key_arn=key.key_arn,
            ),
        )
        self.entry_point = s3_assets.Asset(self, "EntryPoint", path=str(Path(monitor_job.__file__)))
        self.job_role = job_role(
            self,
            self.application,
            "fraudstream model monitoring job: read the lake, write monitoring/, put its metrics",
        )
        self._grant_job(storage, processing, endpoint, data_key)

        # The processor's code and environment, a driver that does the work and one small executor
        # (the job runs no Spark task; EMR Serverless starts an application all the same).
        sizing = ProcessorProps(
            driver_cores=props.driver_cores,
            driver_memory=props.driver_memory,
            executor_cores=1,
            executor_memory="2g",
            executors=1,
        )
        driver_env = {
            "AWS_REGION": Aws.REGION,
            "FRAUD_LAKE_BUCKET": storage.lake_bucket.bucket_name,
            # The champion the endpoint serves, whose card the days are monitored against.
            "FRAUD_PROCESSOR__MODEL_DIR": processing.model_location,
        }
        self.start_job_run_input = {
            "ApplicationId": self.application.attr_application_id,
            "ExecutionRoleArn": self.job_role.role_arn,
            "Name": MODEL_MONITORING_JOB_NAME,
            "ClientToken": _CLIENT_TOKEN,
            "Mode": "BATCH",
            "ExecutionTimeoutMinutes": props.timeout_minutes,
            "JobDriver": {
                "SparkSubmit": {
                    "EntryPoint": self.entry_point.s3_object_url,
                    "EntryPointArguments": [
                        "--log-format",
                        "json",
                        "--spark-session",
                        "--lookback-days",
                        str(props.lookback_days),
                    ],
                    "SparkSubmitParameters": spark_submit_parameters(
                        processing.code_location, sizing, driver_env, {"AWS_REGION": Aws.REGION}
                    ),
                }
            },
        }
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="EventBridge Scheduler: start the model monitoring job run",
        )
        self.scheduler_role.add_to_policy(
            iam.PolicyStatement(
                sid="StartMonitoringJobRun",
                actions=["emr-serverless:StartJobRun"],
                resources=[self.application.attr_arn],
            )
        )
        self.scheduler_role.add_to_policy(
            iam.PolicyStatement(
                sid="PassJobRole",
                actions=["iam:PassRole"],
                resources=[self.job_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}},
            )
        )
        # The schedule is encrypted with the stack's key, which Scheduler decrypts as its role.
        self.scheduler_role.add_to_policy(
            iam.PolicyStatement(sid="DecryptSchedule", actions=["kms:Decrypt"], resources=[key.key_arn])
        )
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            description="fraudstream: monitor the model on the lake's newest complete days (daily)",
            schedule_expression=props.schedule,
            schedule_expression_timezone=props.timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            kms_key_arn=key.key_arn,
            target=scheduler.CfnSchedule.TargetProperty(
                arn=f"arn:{Aws.PARTITION}:{START_JOB_RUN_TARGET}",
                role_arn=self.scheduler_role.role_arn,
                input=stack.to_json_string(self.start_job_run_input),
                # A StartJobRun that fails (throttled, application starting) is tried again within the hour.
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=3600, maximum_retry_attempts=5
                ),
            ),
        )
        self.alarms = self._alarms(topic)
        if dashboard is not None:
            self._dashboard(dashboard)

    def _grant_job(self, storage: Storage, processing: Processing, endpoint: ModelEndpoint, data_key: DataKey) -> None:
        role, stack = self.job_role, Stack.of(self)
        lake, artifacts = storage.lake_bucket, storage.artifacts_bucket
        read = [TRANSACTIONS.prefix, LABELS.prefix, f"{MODELS_PREFIX}/", MONITORING.prefix]
        statements = [
            iam.PolicyStatement(
                sid="ReadLake", actions=["s3:GetObject"], resources=[lake.arn_for_objects(f"{p}*") for p in read]
            ),
            iam.PolicyStatement(
                sid="WriteMonitoring",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[lake.arn_for_objects(f"{MONITORING.prefix}*")],
            ),
            iam.PolicyStatement(sid="ListLake", actions=["s3:ListBucket"], resources=[lake.bucket_arn]),
            iam.PolicyStatement(
                sid="ReadJobCode",
                actions=["s3:GetObject"],
                resources=[
                    artifacts.arn_for_objects(f"{ARTIFACTS_CODE_PREFIX}*"),
                    self.entry_point.bucket.arn_for_objects(self.entry_point.s3_object_key),
                ],
            ),
            iam.PolicyStatement(
                sid="ReadChampionArtifact",
                actions=["s3:GetObject"],
                resources=[endpoint.variants[0].artifact.object_arn],
            ),
            iam.PolicyStatement(
                sid="UseStackKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[data_key.key.key_arn],
            ),
            # PutMetricData has no resource to scope by: the namespace condition is its scope.
            iam.PolicyStatement(
                sid="PutMonitoringMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": NAMESPACE}},
            ),
            iam.PolicyStatement(
                sid="JobLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[processing.log_group.log_group_arn],
            ),
            iam.PolicyStatement(
                sid="FindJobLogGroup",
                actions=["logs:DescribeLogGroups"],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
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
            "Object-level wildcards limited to the lake prefixes the job reads (transactions/, labels/, models/, "
            "monitoring/) and writes (monitoring/) and to the job's code; cloudwatch:PutMetricData takes no "
            "resource (its namespace condition limits it to the job's namespace); logs:DescribeLogGroups (to "
            "find its log group) takes no narrower resource than the account's log groups.",
            findings=[
                *(f"Resource::<{lake_id}.Arn>/{p}*" for p in read),
                f"Resource::<{artifacts_id}.Arn>/{ARTIFACTS_CODE_PREFIX}*",
                "Resource::*",
                "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*",
            ],
        )

    def _metric(self, figure: str, statistic: str) -> cw.Metric:
        """A figure of the job, over all model versions (the series without dimension), per day."""
        spec = model_monitoring_metric_spec()
        return cw.Metric(
            namespace=spec.namespace,
            metric_name=spec.names[figure],
            statistic=statistic,
            period=_DAY,
            label=spec.names[figure],
        )

    def _alarms(self, topic: sns.ITopic | None) -> list[cw.Alarm]:
        props = self.props
        ratio = props.alert_rate_ratio
        drift = cw.MathExpression(
            expression="MAX([f, s])",
            using_metrics={"f": self._metric("max_feature_psi", "Maximum"), "s": self._metric("psi_score", "Maximum")},
            label="largest PSI of a feature or of the score",
            period=_DAY,
        )
        # Up or down: the day of the period with the largest change up, and the one with the largest down.
        change = cw.MathExpression(
            expression=f"IF(up >= {ratio:g} OR down <= {1 / ratio:g}, 1, 0)",
            using_metrics={
                "up": self._metric("alert_rate_change", "Maximum"),
                "down": self._metric("alert_rate_change", "Minimum"),
            },
            label=f"alert rate changed {ratio:g}x or more",
            period=_DAY,
        )
        specs: list[tuple[str, cw.IMetric, float, str]] = [
            (
                "ModelDrift",
                drift,
                props.max_psi,
                f"Model drift: a monitored day's inputs (a feature) or scores have a population stability index "
                f"of {props.max_psi:g} or more against the model's training reference. The job's log names the "
                "feature; `fraudstream monitor` plots every feature per day.",
            ),
            (
                "AlertRateChange",
                change,
                1,
                f"Alert rate change: a monitored day's alert rate is {ratio:g}x or more, or 1/{ratio:g} or less, "
                "the median of the monitored days before it.",
            ),
            (
                "RealisedPrecisionDrop",
                self._metric("precision_drop", "Maximum"),
                props.precision_drop,
                f"Realised precision drop: on a day whose chargebacks are now known, the alerts' precision is "
                f"{props.precision_drop:g} or more below the model card's test precision.",
            ),
        ]
        alarms = []
        for id_, metric, threshold, description in specs:
            alarm = cw.Alarm(
                self,
                id_,
                metric=metric,
                threshold=threshold,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                # A daily figure, due once a day at most (a realised precision a label delay after its
                # day): between two figures the alarm keeps its state.
                treat_missing_data=cw.TreatMissingData.IGNORE,
                alarm_description=description,
            )
            if topic is not None:
                action = cw_actions.SnsAction(topic)
                alarm.add_alarm_action(action)
                alarm.add_ok_action(action)
            alarms.append(alarm)
        return alarms

    def _dashboard(self, dashboard: cw.Dashboard) -> None:
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Model drift (PSI, daily)",
                left=[self._metric("max_feature_psi", "Maximum"), self._metric("psi_score", "Maximum")],
                left_annotations=[cw.HorizontalAnnotation(value=self.props.max_psi, label="alarm")],
                width=6,
            ),
            cw.GraphWidget(
                title="Alert rate and fallback share (daily)",
                left=[self._metric("alert_rate", "Average"), self._metric("fallback_share", "Average")],
                right=[self._metric("alert_rate_change", "Maximum")],
                width=6,
            ),
            cw.GraphWidget(
                title="Realised precision and recall (labelled days)",
                left=[
                    self._metric("precision", "Minimum"),
                    self._metric("recall", "Minimum"),
                    self._metric("card_precision_at_100", "Minimum"),
                ],
                width=6,
            ),
            cw.AlarmStatusWidget(title="Model alarms", alarms=list(self.alarms), width=6),
        )


def _cfn(construct: Construct) -> CfnElement:
    child = construct.node.default_child
    assert isinstance(child, CfnElement)  # noqa: S101 - every L2 here wraps one L1
    return child
