"""The streaming job: Kinesis -> card and terminal state -> scoring -> lake, alerts, quarantine.

`build_job` wires the parts (sinks, model and scorer, session, the streaming DataFrame) into a
`Job`; `Job.run` runs the query until it is told to stop: by `until_idle` (the streams are
drained), by `duration_s`, or by SIGINT/SIGTERM (handled by the caller through `stop`), always
after the current micro-batch, so that a restart with the same checkpoint continues exactly where
it stopped. `run_job` is the two in one call. The same code runs locally and under spark-submit on
EMR.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from fraudstream.aws import aws_errors, dynamodb_client, kinesis_client, resolved_endpoints, s3_filesystem
from fraudstream.config import ResourceSettings
from fraudstream.exceptions import ResourceNotFoundError
from fraudstream.lake import QUARANTINE, TRANSACTIONS
from ml_model.feature_spec import label_delay_hours
from ml_model.features import FEATURE_SPEC, LONGEST_WINDOW_S
from processor.batch import BatchHandler, SinkConfig
from processor.config import DAY_MS
from processor.exceptions import ProcessorError
from processor.history import read_history
from processor.kinesis_source import check_checkpoint
from processor.local_spark import start_local_warm_up
from processor.metrics import BatchMetrics, MetricsEmitter
from processor.pipeline import staged_transactions
from processor.records import stage_keys
from processor.scoring import ModelNotFoundError, build_job_scorer, load_model
from processor.sinks import DynamoDBAlertSink, S3ParquetSink
from processor.spark import build_session

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future
    from pathlib import Path

    from ml_model.artifact import ModelArtifact
    from processor.config import ProcessorSettings

__all__ = ["Job", "JobSummary", "ModelNotFoundError", "build_job", "delete_checkpoint", "run_job"]

logger = logging.getLogger(__name__)

QUERY_NAME = "fraudstream-processor"
# The services the sinks call from the executors (the last one only with an endpoint).
SINK_SERVICES = ("s3", "dynamodb", "sagemaker-runtime")


@dataclass
class JobSummary:
    """Totals over the batches this run processed."""

    batches: int = 0
    rows_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates_dropped: int = 0
    late: int = 0
    alerts: int = 0
    fallback_scored: int = 0
    elapsed_s: float = 0.0
    last_batch: BatchMetrics | None = field(default=None, repr=False)

    def add(self, figures: BatchMetrics) -> None:
        self.batches += 1
        self.rows_in += figures.rows_in
        self.quarantined += figures.quarantined
        self.duplicates_dropped += figures.duplicates_dropped
        self.late += figures.late
        self.alerts += figures.alerts
        self.fallback_scored += figures.fallback_scored
        self.accepted += figures.rows_in - figures.quarantined - figures.duplicates_dropped
        self.last_batch = figures


class _SummingEmitter(MetricsEmitter):
    def __init__(self, summary: JobSummary, mode: str, on_batch: Callable[[BatchMetrics], None] | None) -> None:
        super().__init__(mode)
        self.summary = summary
        self.on_batch = on_batch

    def emit(self, metrics: BatchMetrics) -> None:
        super().emit(metrics)
        self.summary.add(metrics)
        if self.on_batch is not None:
            self.on_batch(metrics)


def _query_id(checkpoint: str) -> str:
    """The streaming query's id, which Spark keeps in the checkpoint's `metadata` file from its start on."""
    from pyarrow import fs

    filesystem, root = fs.FileSystem.from_uri(checkpoint) if "://" in checkpoint else (fs.LocalFileSystem(), checkpoint)
    with filesystem.open_input_stream(f"{root.rstrip('/')}/metadata") as f:
        return str(json.loads(f.read().decode())["id"])


def _checkpoint_filesystem(checkpoint: str) -> tuple[Any, str]:
    from pyarrow import fs

    if "://" in checkpoint:
        filesystem, root = fs.FileSystem.from_uri(checkpoint)
        return filesystem, str(root).rstrip("/")
    return fs.LocalFileSystem(), checkpoint.rstrip("/")


def delete_checkpoint(checkpoint: str) -> bool:
    """Delete a checkpoint folder (local or s3://), if there is one; whether there was.

    Args:
        checkpoint: the folder.
    """
    from pyarrow import fs

    filesystem, root = _checkpoint_filesystem(checkpoint)
    with aws_errors():
        if filesystem.get_file_info(root).type == fs.FileType.NotFound:
            return False
        filesystem.delete_dir(root)
    return True


def _check_sources(checkpoint: str, streams: tuple[str, ...]) -> None:
    """Before Spark starts: the streams exist, and the checkpoint (if any) is a folder of theirs."""
    from botocore.exceptions import ClientError
    from pyarrow import fs

    filesystem, root = _checkpoint_filesystem(checkpoint)
    with aws_errors():
        if filesystem.get_file_info(root).type == fs.FileType.File:
            raise ProcessorError(
                f"checkpoint {checkpoint} is a file, not a folder", hint="pass a folder with --checkpoint"
            )
        client = kinesis_client()
        for name in streams:
            try:
                client.describe_stream_summary(StreamName=name)
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    raise ResourceNotFoundError(f"stream {name!r} does not exist") from e
                raise
        check_checkpoint(checkpoint, streams, client)


class _OffsetLog(NamedTuple):
    """A checkpoint's filesystem and folder, and the batch ids its offset log holds (none: new)."""

    filesystem: Any
    root: str
    batches: list[int]


def _offset_log(checkpoint: str) -> _OffsetLog:
    from pyarrow import fs

    filesystem, root = _checkpoint_filesystem(checkpoint)
    infos = filesystem.get_file_info(fs.FileSelector(f"{root}/offsets", allow_not_found=True))
    return _OffsetLog(filesystem, root, [int(i.base_name) for i in infos if i.base_name.isdigit()])


def _checkpoint_partitions(log: _OffsetLog) -> int | None:
    """The shuffle partitions a checkpoint's query runs with (Spark keeps its first batch's, whatever
    the session says later), from its newest offset log entry; None for a new checkpoint."""
    if not log.batches:
        return None
    with log.filesystem.open_input_stream(f"{log.root}/offsets/{max(log.batches)}") as f:
        metadata = json.loads(f.read().decode().splitlines()[1])
    partitions = metadata.get("conf", {}).get("spark.sql.shuffle.partitions")
    return int(partitions) if partitions is not None else None


def _spark_master(settings: ProcessorSettings) -> str | None:
    # Under spark-submit (EMR) the session's master is spark-submit's: the gateway is already running.
    return None if os.environ.get("PYSPARK_GATEWAY_PORT") else settings.spark_master


@dataclass
class Job:
    """A built streaming job: its sinks checked, its model and scorer configured, its session and
    streaming DataFrame ready; nothing reads the streams until `run`.

    Attributes:
        frame: the staged transactions (a streaming DataFrame), each micro-batch of which `handler` writes.
        handler: the foreachBatch function (scoring and sinks).
        checkpoint: the query's checkpoint folder.
        trigger_interval: how often a micro-batch starts.
        summary: the totals of the batches run so far.
    """

    frame: Any
    handler: BatchHandler
    checkpoint: str
    trigger_interval: str
    summary: JobSummary

    def run(
        self,
        *,
        until_idle: bool = False,
        duration_s: float | None = None,
        stop: threading.Event | None = None,
        drain: threading.Event | None = None,
    ) -> JobSummary:
        """Start the query; run it until idle, for a duration, or until `stop` is set; then stop it after
        the current batch (a restart with the same checkpoint continues exactly there).

        Args:
            until_idle: stop once every record available in the streams has been processed.
            duration_s: stop after this many seconds.
            stop: set it (from a signal handler, say) to stop after the current batch.
            drain: with `until_idle`, wait for this event before draining (a producer is still sending).

        Raises:
            ProcessorError: the query failed.
        """
        stop = stop or threading.Event()
        summary = self.summary
        query = _start(self.frame, QUERY_NAME, self.handler, self.checkpoint, self.trigger_interval)
        started = time.monotonic()
        logger.info("processor started", extra={"checkpoint": self.checkpoint})
        idle = threading.Event()
        if until_idle:

            def drain_then_stop() -> None:
                while drain is not None and not drain.wait(0.2):
                    if stop.is_set():
                        return
                try:
                    query.processAllAvailable()
                except Exception:  # noqa: BLE001, S110 - the failure surfaces when the query is stopped
                    pass
                idle.set()

            threading.Thread(target=drain_then_stop, name="until-idle", daemon=True).start()
        try:
            deadline = None if duration_s is None else started + duration_s
            while query.isActive and not idle.is_set():
                if stop.wait(0.2) or (deadline is not None and time.monotonic() >= deadline):
                    break
            _stop_after_current_batch(query)
        except ProcessorError:
            _stop_quietly(query)
            raise
        except Exception as e:
            _stop_quietly(query)
            raise ProcessorError(f"the streaming query failed: {_root_cause(e)}") from e
        summary.elapsed_s = time.monotonic() - started
        return summary


def build_job(
    settings: ProcessorSettings,
    resources: ResourceSettings | None = None,
    *,
    on_batch: Callable[[BatchMetrics], None] | None = None,
    spark: Any = None,
    model_ready: Future[str | None] | None = None,
    endpoint_url: str | None = None,
    source: Any = None,
    spark_output: Path | None = None,
) -> Job:
    """Build the streaming job: check the sinks, the streams, the checkpoint and the model, then set
    up the session and the streaming DataFrame. Nothing is read from the streams yet.

    Args:
        settings: how the job runs.
        resources: names of the streams, bucket and table.
        on_batch: called with each batch's figures after its sinks are written.
        spark: an existing session (tests, the demo); one is built from the settings when None.
        model_ready: the model at `settings.model_dir` is still being trained (the demo): the query
            starts at once and its first batch computes its state, then waits for this future
            before it loads the model; the future's error, if any, fails the query. Its result is the
            URL of the SageMaker runtime that serves the model (the demo's local endpoint, started
            once the model is trained), or None for `endpoint_url`.
        endpoint_url: the SageMaker runtime's URL; None: where boto3's standard configuration
            resolves it (`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`, `AWS_ENDPOINT_URL`, the region's).
        source: records to read instead of the streams' (a streaming DataFrame of KINESIS_SCHEMA
            rows; the processor-only benchmark replays files).
        spark_output: append the output of the JVM this process starts (Spark's log, its Python
            workers' lines) to this file, not to the terminal; unused with `spark` or under spark-submit.

    Raises:
        ProcessorError: a sink, a stream or the model is missing, or a setting contradicts the model.
    """
    resources = resources or ResourceSettings()
    filesystem = s3_filesystem()
    sinks = (
        S3ParquetSink(resources.lake_bucket, TRANSACTIONS, filesystem),
        S3ParquetSink(resources.lake_bucket, QUARANTINE, filesystem),
        DynamoDBAlertSink(resources.alerts_table, client=dynamodb_client()),
    )
    for sink in sinks:
        sink.setup()  # a missing bucket or table is one clear error before Spark starts
    summary = JobSummary()
    checkpoint = settings.checkpoint_location.rstrip("/")

    def sink_config() -> SinkConfig:
        """Checked on the driver once (the model loads, its label delay is the stream's, its feature
        spec is the endpoint's); the executors build their own scorers from the same location."""
        artifact = load_model(settings.model_dir)
        _check_label_delay(label_delay_days, artifact, explicit=settings.label_delay_days is not None)
        runtime_url = (model_ready.result() if model_ready is not None else None) or endpoint_url
        resolved = SINK_SERVICES if settings.endpoint_name and runtime_url is None else SINK_SERVICES[:2]
        endpoints = resolved_endpoints(resolved)
        if settings.endpoint_name and runtime_url is not None:
            endpoints["sagemaker-runtime"] = runtime_url
        scorer = build_job_scorer(artifact, settings.endpoint_name, endpoint_url=endpoints.get("sagemaker-runtime"))
        scorer.close()
        endpoint_card = getattr(scorer, "endpoint_card", None)
        logger.info("model loaded", extra={"model_version": artifact.card.model_version})
        return SinkConfig(
            lake_bucket=resources.lake_bucket,
            alerts_table=resources.alerts_table,
            alert_ttl_days=settings.alert_ttl_days,
            aggregates=settings.aggregates,
            model_location=str(settings.model_dir),
            endpoint_name=settings.endpoint_name,
            threshold=settings.threshold if settings.threshold is not None else artifact.card.threshold,
            own_thresholds=settings.threshold is None,
            query=_query_id(checkpoint)[:8],
            endpoints=tuple(sorted(endpoints.items())),
            endpoint_card=json.dumps(endpoint_card.to_dict()) if endpoint_card is not None else None,
        )

    # A missing model is one clear error before Spark starts, unless it is still being trained. The
    # terminal features' label delay is the model's: a configured one must agree with it.
    if model_ready is None:
        artifact = load_model(settings.model_dir)
        label_delay_days = artifact.spec.label_delay_days
        if settings.label_delay_days is not None:
            _check_label_delay(settings.label_delay_days, artifact, explicit=True)
    else:
        # The model is still training: the configured delay (else the contract's default) is checked
        # against it once it is ready, before its first batch is scored.
        label_delay_days = settings.label_delay_days or FEATURE_SPEC.label_delay_days
    state_ttl_ms = _state_ttl_ms(settings.state_ttl_days, label_delay_days)
    if source is None:  # so are missing streams and a checkpoint of other streams
        _check_sources(checkpoint, (resources.transactions_stream, resources.labels_stream))
    offset_log = _offset_log(checkpoint)
    history = None
    # Spark uses an initial state only when no micro-batch was ever planned in the checkpoint.
    if settings.history is not None and not offset_log.batches:
        history = read_history(settings.history, naive_times_utc=settings.history_naive_times_utc)
        logger.info("state starts from a history", extra={"history": settings.history, "transactions": len(history)})
    handler = BatchHandler(
        sink_config, metrics=_SummingEmitter(summary, settings.metrics, on_batch), model_ready=model_ready
    )
    if spark is None:
        master = _spark_master(settings)
        output = spark_output if master is not None else None  # spark-submit's JVM writes where it was told
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            logger.info("Spark's own output goes to %s", output, extra={"spark_log": str(output)})
        spark = build_session(master=master, output=output)
    # Locally, Spark's Python helpers start on another thread while the query is set up.
    start_local_warm_up(spark)

    staged = staged_transactions(
        spark,
        resources.transactions_stream,
        resources.labels_stream,
        allowed_lateness=settings.allowed_lateness,
        label_delay_days=label_delay_days,
        state_ttl_ms=state_ttl_ms,
        aggregates=settings.aggregates,
        source_options={
            "checkpointLocation": checkpoint,
            "startingPosition": settings.starting_position,
            "maxRecordsPerBatch": str(settings.max_records_per_batch),
        },
        source=source,
        history=history,
        # A restarted query keeps its checkpoint's partitions; a new one takes the session's (the default).
        keys=stage_keys(spark, partitions) if (partitions := _checkpoint_partitions(offset_log)) else None,
    )
    return Job(staged, handler, checkpoint, settings.trigger_interval, summary)


def run_job(
    settings: ProcessorSettings,
    resources: ResourceSettings | None = None,
    *,
    until_idle: bool = False,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    drain: threading.Event | None = None,
    on_batch: Callable[[BatchMetrics], None] | None = None,
    spark: Any = None,
    model_ready: Future[str | None] | None = None,
    endpoint_url: str | None = None,
    source: Any = None,
    spark_output: Path | None = None,
) -> JobSummary:
    """Build the job (`build_job`) and run it (`Job.run`): until idle, for a duration, or until `stop`
    is set; then stop after the current batch. The arguments are theirs.

    Raises:
        ProcessorError: a sink or the model is missing, or the query failed.
    """
    job = build_job(
        settings,
        resources,
        on_batch=on_batch,
        spark=spark,
        model_ready=model_ready,
        endpoint_url=endpoint_url,
        source=source,
        spark_output=spark_output,
    )
    return job.run(until_idle=until_idle, duration_s=duration_s, stop=stop, drain=drain)


def _state_ttl_ms(state_ttl_days: float | None, label_delay_days: float) -> int:
    """How long an idle card's state is kept: at least the longest window plus the label delay
    (shorter would change features and lose chargebacks); by default a day more.

    Raises:
        ProcessorError: an explicit TTL shorter than that.
    """
    needed_days = LONGEST_WINDOW_S / 86_400 + label_delay_days
    if state_ttl_days is not None and state_ttl_days < needed_days:
        raise ProcessorError(
            f"the state TTL (FRAUD_PROCESSOR__STATE_TTL_DAYS) of {state_ttl_days:g} days is shorter than the "
            f"longest window plus the label delay ({needed_days:g} days): the features would change; "
            f"give at least {needed_days:g} or leave it unset"
        )
    return int((state_ttl_days or needed_days + 1) * DAY_MS)


def _check_label_delay(label_delay_days: float, artifact: ModelArtifact, *, explicit: bool) -> None:
    """The stream's label delay must be the one the model was trained with (its feature spec's).

    Raises:
        ProcessorError: it is not (or it is not a whole number of hours).
    """
    trained = artifact.spec.label_delay_days
    try:
        same = label_delay_hours(label_delay_days) == artifact.spec.label_delay_hours
    except ValueError as e:
        raise ProcessorError(f"--label-delay-days: {e}") from e
    if not same:
        source = "--label-delay-days (FRAUD_PROCESSOR__LABEL_DELAY_DAYS)" if explicit else "the stream"
        raise ProcessorError(
            f"{source} is {label_delay_days:g} days but model {artifact.card.model_version} was trained with a "
            f"label delay of {trained:g} days: its terminal features would not be the model's",
            hint=f"leave the label delay unset (the model's is used), or train with --label-delay-days "
            f"{label_delay_days:g}",
        )


def _start(frame: Any, name: str, handler: Any, checkpoint: str, trigger_interval: str) -> Any:
    return (
        frame.writeStream.queryName(name)
        .outputMode("append")
        .foreachBatch(handler)
        .option("checkpointLocation", checkpoint)
        .trigger(processingTime=trigger_interval)
        .start()
    )


def _stop_after_current_batch(query: Any) -> None:
    # A batch in progress is let finish; one interrupted anyway (a second signal) is re-run from the
    # checkpoint on restart, and the sinks' idempotence keeps that exactly once.
    pause = threading.Event()
    while query.isActive and query.status["isTriggerActive"]:
        pause.wait(0.05)  # Spark offers no notification for the end of a trigger
    query.stop()
    exception = query.exception()
    if exception is not None:
        raise ProcessorError(f"the streaming query failed: {_root_cause(exception)}")


def _stop_quietly(query: Any) -> None:
    try:
        query.stop()
    except Exception:  # noqa: BLE001 - already failing; the original error is the one to report
        logger.debug("stopping the failed query raised", exc_info=True)


def _root_cause(error: Any) -> str:
    """The Python exception line inside Spark's wrapped error text (the cause a user can act on)."""
    text = str(error.desc if hasattr(error, "desc") else error)
    causes = re.findall(r"^([\w.]+(?:Error|Exception): .+)$", text, flags=re.MULTILINE)
    lines = text.strip().splitlines()
    return causes[-1] if causes else (lines[0] if lines else type(error).__name__)
