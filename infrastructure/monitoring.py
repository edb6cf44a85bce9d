"""One CloudWatch dashboard for the pipeline and the alarms that page someone, through an SNS topic.

The processor's metrics are named by the processor itself: their namespace, dimension and names are
read from `processor.metrics`'s table (`METRICS`), the one its EMF emitter writes by, not copied.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from fraudstream.alerts_table import ALERTS_CARD_INDEX
from processor.metrics import DEFAULT_NAMESPACE, DEFAULT_SERVICE, DIMENSION, METRICS

if TYPE_CHECKING:
    from infrastructure.config import AlarmProps
    from infrastructure.encryption import DataKey
    from infrastructure.ingestion import Ingestion
    from infrastructure.model_endpoint import ModelEndpoint
    from infrastructure.storage import Storage

__all__ = ["Monitoring", "ProcessorMetricSpec", "processor_metric_spec"]

_FIVE_MINUTES = Duration.minutes(5)


@dataclasses.dataclass(frozen=True)
class ProcessorMetricSpec:
    """Where the processor's per-batch figures land in CloudWatch."""

    namespace: str
    dimensions: dict[str, str]
    names: dict[str, str]  # BatchMetrics field -> metric name


def processor_metric_spec() -> ProcessorMetricSpec:
    """The namespace, dimensions and metric names of the processor's emitter, from its metrics table."""
    return ProcessorMetricSpec(
        namespace=DEFAULT_NAMESPACE,
        dimensions={DIMENSION: DEFAULT_SERVICE},
        names={field: metric.name for field, metric in METRICS.items()},
    )


class Monitoring(Construct):
    """Dashboard (streams, endpoint, table, processor) and alarms (iterator age, endpoint 5xx, fallback
    share, quarantine rate) to an encrypted topic.

    Args:
        ingestion, storage: the streams and the alerts table.
        endpoint: the SageMaker endpoint, or None (LocalStack).
        props: thresholds and the subscriber.
        data_key: encrypts the topic; None (LocalStack) leaves the alarms without a topic.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        ingestion: Ingestion,
        storage: Storage,
        endpoint: ModelEndpoint | None,
        props: AlarmProps,
        data_key: DataKey | None,
    ) -> None:
        super().__init__(scope, id_)
        self.topic: sns.Topic | None = None
        if data_key is not None:
            data_key.allow_cloudwatch_alarms()
            self.topic = sns.Topic(
                self, "AlarmTopic", display_name="fraudstream alarms", master_key=data_key.key, enforce_ssl=True
            )
            if props.email:
                self.topic.add_subscription(subscriptions.EmailSubscription(props.email))
        self.alarms: list[cw.Alarm] = []
        spec = processor_metric_spec()

        def processor(field: str, statistic: str = "Sum") -> cw.Metric:
            return cw.Metric(
                namespace=spec.namespace,
                metric_name=spec.names[field],
                dimensions_map=spec.dimensions,
                statistic=statistic,
                period=_FIVE_MINUTES,
            )

        # Streams
        for stream in ingestion.streams:
            self._alarm(
                f"{stream.node.id}IteratorAge",
                stream.metric_get_records_iterator_age_milliseconds(statistic="Maximum", period=Duration.minutes(1)),
                threshold=props.iterator_age_ms,
                periods=5,
                description=f"The processor is more than {props.iterator_age_ms / 60000:g} min behind the newest "
                f"record of {stream.stream_name} (5 minutes in a row).",
            )
        widgets: list[list[cw.IWidget]] = [
            [
                cw.GraphWidget(
                    title="Kinesis incoming records",
                    left=[
                        s.metric_incoming_records(statistic="Sum", period=Duration.minutes(1))
                        for s in ingestion.streams
                    ],
                    width=12,
                ),
                cw.GraphWidget(
                    title="Kinesis iterator age (ms, max)",
                    left=[
                        s.metric_get_records_iterator_age_milliseconds(statistic="Maximum", period=Duration.minutes(1))
                        for s in ingestion.streams
                    ],
                    width=12,
                ),
            ]
        ]

        # Endpoint
        if endpoint is not None:

            def sagemaker(name: str, variant: str, statistic: str) -> cw.Metric:
                return cw.Metric(
                    namespace="AWS/SageMaker",
                    metric_name=name,
                    dimensions_map={"EndpointName": endpoint.endpoint_name, "VariantName": variant},
                    statistic=statistic,
                    period=_FIVE_MINUTES,
                    label=f"{name} {variant}",
                )

            variants = [v.name for v in endpoint.variants]
            errors = {f"e{i}": sagemaker("Invocation5XXErrors", v, "Sum") for i, v in enumerate(variants)}
            self._alarm(
                "Endpoint5xx",
                cw.MathExpression(
                    expression=" + ".join(f"FILL({k}, 0)" for k in errors),
                    using_metrics=dict(errors),
                    label="5xx responses",
                    period=_FIVE_MINUTES,
                ),
                threshold=props.endpoint_5xx,
                periods=1,
                description=f"The endpoint {endpoint.endpoint_name} answered {props.endpoint_5xx} or more 5xx "
                "in 5 minutes: rows are being scored by the fallback model.",
            )
            widgets.append(
                [
                    cw.GraphWidget(
                        title="Endpoint invocations",
                        left=[sagemaker("Invocations", v, "Sum") for v in variants],
                        width=8,
                    ),
                    cw.GraphWidget(
                        title="Model latency (microseconds)",
                        left=[sagemaker("ModelLatency", v, "Average") for v in variants]
                        + [sagemaker("ModelLatency", v, "p99") for v in variants],
                        width=8,
                    ),
                    cw.GraphWidget(
                        title="Endpoint errors",
                        left=[sagemaker("Invocation4XXErrors", v, "Sum") for v in variants]
                        + [sagemaker("Invocation5XXErrors", v, "Sum") for v in variants]
                        + [sagemaker("ModelSetupTime", v, "Maximum") for v in variants],
                        width=8,
                    ),
                ]
            )

        # Alerts table
        table_name = storage.alerts_table.table_name
        throttles = [
            cw.Metric(
                namespace="AWS/DynamoDB",
                metric_name=name,
                dimensions_map=dims,
                statistic="Sum",
                period=_FIVE_MINUTES,
                label=label,
            )
            for name, dims, label in (
                ("WriteThrottleEvents", {"TableName": table_name}, "table writes"),
                ("ReadThrottleEvents", {"TableName": table_name}, "table reads"),
                (
                    "WriteThrottleEvents",
                    {"TableName": table_name, "GlobalSecondaryIndexName": ALERTS_CARD_INDEX},
                    "card index writes",
                ),
            )
        ]

        # Processor (EMF, one datapoint per micro-batch)
        rows, quarantined = processor("rows_in"), processor("quarantined")
        duplicates, fallback = processor("duplicates_dropped"), processor("fallback_scored")
        self._alarm(
            "FallbackShare",
            cw.MathExpression(
                expression="IF(rows - q - d > 0, fb / (rows - q - d), 0)",
                using_metrics={"rows": rows, "q": quarantined, "d": duplicates, "fb": fallback},
                label="share scored by the fallback",
                period=_FIVE_MINUTES,
            ),
            threshold=props.fallback_share,
            periods=3,
            description=f"More than {props.fallback_share:.0%} of the scored rows went to the local fallback "
            "model for 15 minutes: the endpoint is failing or too slow.",
        )
        self._alarm(
            "QuarantineRate",
            cw.MathExpression(
                expression="IF(rows > 0, q / rows, 0)",
                using_metrics={"rows": rows, "q": quarantined},
                label="share of records quarantined",
                period=_FIVE_MINUTES,
            ),
            threshold=props.quarantine_rate,
            periods=3,
            description=f"More than {props.quarantine_rate:.1%} of the records were quarantined for 15 minutes: "
            "a producer is sending records that break the contract.",
        )
        widgets.append(
            [
                cw.GraphWidget(title="Alerts table throttles", left=throttles, width=6),
                cw.GraphWidget(
                    title="Processor rows per batch",
                    left=[processor(f) for f in ("rows_in", "alerts", "quarantined", "late", "duplicates_dropped")]
                    + [fallback],
                    width=6,
                ),
                cw.GraphWidget(
                    title="Processor latency and lag (ms)",
                    left=[
                        processor("event_to_sink_p50_ms", "Average"),
                        processor("event_to_sink_p99_ms", "Maximum"),
                        processor("source_lag_ms", "Maximum"),
                    ],
                    right=[processor("rows_per_s", "Average")],
                    width=6,
                ),
                cw.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=6),
            ]
        )
        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(3), widgets=widgets)

    def _alarm(self, id_: str, metric: cw.IMetric, *, threshold: float, periods: int, description: str) -> None:
        alarm = cw.Alarm(
            self,
            id_,
            metric=metric,
            threshold=threshold,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        if self.topic is not None:
            action = cw_actions.SnsAction(self.topic)
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
        self.alarms.append(alarm)
