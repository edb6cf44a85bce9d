"""What differs between environments, as plain frozen dataclasses passed to the stack by `app.py`.

Constructs read these and never branch on an environment's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fraudstream.config import ResourceSettings
from infrastructure.exceptions import InvalidStackConfigError

__all__ = [
    "AlarmProps",
    "AutoscalingProps",
    "EndpointProps",
    "EnvironmentConfig",
    "LakeProps",
    "ModelMonitoringProps",
    "ProcessorProps",
    "ResourceNames",
    "ServerlessProps",
    "StreamProps",
]


def _command_default(name: str) -> str:
    # The field's declared default, never the shell's FRAUD_* variables: a stack's names are the app's.
    return str(ResourceSettings.model_fields[name].default)


@dataclass(frozen=True)
class ResourceNames:
    """The fixed names of a stack's streams and alerts table, before the environment's suffix.

    The defaults are the names every fraudstream command defaults to (`fraudstream.config`'s
    declared defaults, not the environment the app happens to run in).
    """

    transactions_stream: str = field(default_factory=lambda: _command_default("transactions_stream"))
    labels_stream: str = field(default_factory=lambda: _command_default("labels_stream"))
    alerts_table: str = field(default_factory=lambda: _command_default("alerts_table"))

    def suffixed(self, suffix: str) -> ResourceNames:
        """Every name with `suffix` appended."""
        return ResourceNames(
            transactions_stream=self.transactions_stream + suffix,
            labels_stream=self.labels_stream + suffix,
            alerts_table=self.alerts_table + suffix,
        )


@dataclass(frozen=True)
class StreamProps:
    """Kinesis streams.

    Args:
        shard_count: provisioned shards per stream; None for on-demand capacity.
        retention_hours: how long records stay readable (24 to 8760); the processor can be down
            this long without losing data.
    """

    shard_count: int | None = None
    retention_hours: int = 24

    def __post_init__(self) -> None:
        if self.shard_count is not None and self.shard_count < 1:
            raise InvalidStackConfigError(f"shard_count must be at least 1, not {self.shard_count}")
        if not 24 <= self.retention_hours <= 8760:
            raise InvalidStackConfigError(f"retention_hours must be 24..8760, not {self.retention_hours}")


@dataclass(frozen=True)
class AutoscalingProps:
    """Target tracking on SageMakerVariantInvocationsPerInstance (invocations per instance per minute)."""

    min_capacity: int = 1
    max_capacity: int = 4
    invocations_per_instance: float = 3000.0
    scale_in_cooldown_s: int = 300
    scale_out_cooldown_s: int = 60

    def __post_init__(self) -> None:
        if not 1 <= self.min_capacity <= self.max_capacity:
            raise InvalidStackConfigError("autoscaling needs 1 <= min_capacity <= max_capacity")


@dataclass(frozen=True)
class ServerlessProps:
    """A serverless endpoint instead of instances: pay per request, cold starts after idle periods."""

    memory_mb: int = 2048
    max_concurrency: int = 10

    def __post_init__(self) -> None:
        if self.memory_mb not in (1024, 2048, 3072, 4096, 5120, 6144):
            raise InvalidStackConfigError("serverless memory_mb must be 1024..6144 in steps of 1024")
        if not 1 <= self.max_concurrency <= 200:
            raise InvalidStackConfigError("serverless max_concurrency must be 1..200")


@dataclass(frozen=True)
class EndpointProps:
    """The SageMaker endpoint.

    Args:
        endpoint_name: the endpoint's name (what `fraudstream invoke --endpoint` and the processor use).
        instance_type: instance type of each variant (ignored when serverless).
        instance_count: initial instances per variant.
        autoscaling: target tracking per variant; None for a fixed count.
        serverless: a serverless variant instead of instances (no autoscaling, no challenger).
        challenger_weight: the challenger variant's share of traffic, when a challenger model is given.
    """

    endpoint_name: str = "fraud-detector"
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    autoscaling: AutoscalingProps | None = None
    serverless: ServerlessProps | None = None
    challenger_weight: float = 0.1

    def __post_init__(self) -> None:
        if self.serverless is not None and self.autoscaling is not None:
            raise InvalidStackConfigError("a serverless endpoint scales itself: leave autoscaling out")
        if not 0.0 < self.challenger_weight < 1.0:
            raise InvalidStackConfigError("challenger_weight must be between 0 and 1 (exclusive)")
        if self.autoscaling is not None and not (
            self.autoscaling.min_capacity <= self.instance_count <= self.autoscaling.max_capacity
        ):
            raise InvalidStackConfigError("instance_count must lie within the autoscaling range")


@dataclass(frozen=True)
class ProcessorProps:
    """The EMR Serverless application and the streaming job's Spark sizing.

    Args:
        max_vcpu: the application's ceiling across all workers, for example "8 vCPU".
        max_memory: the same for memory, for example "32 GB".
        idle_stop_minutes: the application stops this long after its last job run.
        driver_cores, driver_memory, executor_cores, executor_memory, executors: Spark sizing.
        log_retention_days: CloudWatch retention of the driver and executor logs.
        max_failed_attempts_per_hour: EMR restarts a failed streaming run from its checkpoint this often.
        threshold: a row alerts when its score is at or above it; None for the model card's threshold.
    """

    max_vcpu: str = "8 vCPU"
    max_memory: str = "32 GB"
    idle_stop_minutes: int = 15
    driver_cores: int = 1
    driver_memory: str = "4g"
    executor_cores: int = 2
    executor_memory: str = "8g"
    executors: int = 1
    log_retention_days: int = 30
    max_failed_attempts_per_hour: int = 5
    threshold: float | None = None
    extra_spark_conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LakeProps:
    """The lake bucket's lifecycle and the Glue tables' partition projection.

    Args:
        infrequent_access_after_days: transactions/ and aggregates/ move to S3 Standard-IA then.
        quarantine_expire_days: quarantined records are deleted then.
        athena_results_expire_days: Athena's result files are deleted then.
        noncurrent_versions_expire_days: overwritten or deleted objects are kept this long.
        projection_dt_range: `projection.dt.range`; events outside it are invisible to Athena.
        bytes_scanned_cutoff: Athena cancels a query of the workgroup that scans more.
    """

    infrequent_access_after_days: int = 30
    quarantine_expire_days: int = 30
    athena_results_expire_days: int = 7
    noncurrent_versions_expire_days: int = 7
    projection_dt_range: str = "NOW-2YEARS,NOW+1DAYS"
    bytes_scanned_cutoff: int = 100 * 1024**3


@dataclass(frozen=True)
class AlarmProps:
    """Alarm thresholds and who is told.

    Args:
        iterator_age_ms: the processor is this far behind the newest record of a stream.
        endpoint_5xx: endpoint 5xx responses per 5 minutes.
        fallback_share: share of rows scored by the fallback model over 5 minutes.
        quarantine_rate: share of records quarantined over 5 minutes.
        email: an address subscribed to the alarm topic (it must confirm), or None.
    """

    iterator_age_ms: int = 5 * 60 * 1000
    endpoint_5xx: int = 1
    fallback_share: float = 0.05
    quarantine_rate: float = 0.01
    email: str | None = None


@dataclass(frozen=True)
class ModelMonitoringProps:
    """The daily model monitoring job (EMR Serverless, started by EventBridge Scheduler) and its alarms.

    Args:
        schedule: the EventBridge Scheduler expression, by default every day at 03:00 (yesterday is
            complete: the processor's watermark is minutes).
        timezone: the schedule's time zone.
        lookback_days: the complete days each run looks at (a day's labels come a label delay, 7 days
            by default, after it: a run also completes the days whose labels became known).
        max_vcpu, max_memory: the monitoring application's ceiling.
        driver_cores, driver_memory: the driver, which does the work (the day's rows are read and
            counted there, with pyarrow's threads).
        timeout_minutes: a run still going then is cancelled.
        max_psi: the drift alarm: a day's largest feature PSI or its score PSI at or above this.
        alert_rate_ratio: the alert-rate alarm: a day's alert rate at least this many times, or at most
            1/this, the median of the monitored days before it.
        precision_drop: the realised-precision alarm: a labelled day's precision this far or more below
            the model card's test precision.
    """

    schedule: str = "cron(0 3 * * ? *)"
    timezone: str = "UTC"
    lookback_days: int = 14
    max_vcpu: str = "8 vCPU"
    max_memory: str = "32 GB"
    driver_cores: int = 4
    driver_memory: str = "16g"
    timeout_minutes: int = 180
    max_psi: float = 0.25
    alert_rate_ratio: float = 2.0
    precision_drop: float = 0.1

    def __post_init__(self) -> None:
        if not re.fullmatch(r"(cron|rate)\(.+\)|at\(.+\)", self.schedule):
            raise InvalidStackConfigError(f"schedule must be cron(...), rate(...) or at(...), not {self.schedule!r}")
        if self.lookback_days < 1 or self.timeout_minutes < 1:
            raise InvalidStackConfigError("lookback_days and timeout_minutes must be at least 1")
        if self.max_psi <= 0 or self.precision_drop <= 0:
            raise InvalidStackConfigError("max_psi and precision_drop must be positive")
        if self.alert_rate_ratio <= 1:
            raise InvalidStackConfigError(f"alert_rate_ratio must be above 1, not {self.alert_rate_ratio}")


@dataclass(frozen=True)
class EnvironmentConfig:
    """Everything that differs between environments.

    Args:
        name: short name, part of the stack name (`fraudstream-<name>`).
        names: the streams' and the alerts table's names, before `name_suffix` is appended.
        streams, endpoint, processor, lake, alarms, model_monitoring: the components' settings.
        retain_data: keep the lake, the alerts table and the key when the stack is deleted (and turn
            on the table's deletion protection); otherwise they go with the stack.
        local: leave out what LocalStack's community edition lacks (SageMaker, EMR Serverless, Glue,
            Athena, KMS customer keys, SNS) for `cdklocal deploy`.
        name_suffix: appended to every fixed physical name of the stack (the streams, the alerts
            table, the endpoint and its models, the Glue database with `-` as `_`), so that two
            environments can share one account and region; "" keeps the names every fraudstream
            command defaults to. The stack's outputs carry the names either way.
    """

    name: str
    names: ResourceNames = field(default_factory=ResourceNames)
    streams: StreamProps = field(default_factory=StreamProps)
    endpoint: EndpointProps = field(default_factory=EndpointProps)
    processor: ProcessorProps = field(default_factory=ProcessorProps)
    lake: LakeProps = field(default_factory=LakeProps)
    alarms: AlarmProps = field(default_factory=AlarmProps)
    model_monitoring: ModelMonitoringProps = field(default_factory=ModelMonitoringProps)
    retain_data: bool = False
    local: bool = False
    name_suffix: str = ""

    def __post_init__(self) -> None:
        # Stream, table, endpoint and Glue names all accept lower-case letters, digits and hyphens.
        if self.name_suffix and not re.fullmatch(r"-[a-z0-9]+(-[a-z0-9]+)*", self.name_suffix):
            raise InvalidStackConfigError(
                f"name_suffix must be empty or like '-prod' (a hyphen, then lower-case letters, digits and "
                f"hyphens), not {self.name_suffix!r}"
            )
