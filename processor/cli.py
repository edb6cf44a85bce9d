"""`fraudstream process`: run the streaming job (locally, or under spark-submit on EMR Serverless)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from fraudstream._help import shown_default
from fraudstream.config import ResourceSettings
from fraudstream.output import print_notice, print_summary
from processor.config import ProcessorSettings

__all__ = ["process"]


def process(
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop once every record in the streams has been processed.")
    ] = False,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds [default: no limit].")] = None,
    # The settings' options default to None, so that unset their FRAUD_PROCESSOR__* variable applies;
    # their help shows the setting's default.
    checkpoint: Annotated[
        str | None,
        typer.Option(
            help="Checkpoint folder (local path or s3://): a restart with the same one continues from it "
            f"{shown_default(ProcessorSettings, 'checkpoint_location')}."
        ),
    ] = None,
    reset_checkpoint: Annotated[
        bool,
        typer.Option(
            "--reset-checkpoint",
            help="Delete the checkpoint first (offsets and state), e.g. one of streams since created again: "
            "the query starts anew at --starting-position.",
        ),
    ] = False,
    starting_position: Annotated[
        str | None,
        typer.Option(
            help="Where a new checkpoint starts reading "
            f"{shown_default(ProcessorSettings, 'starting_position')}: trim_horizon, latest, or an ISO-8601 time "
            "(AT_TIMESTAMP; UTC without an offset), e.g. 2026-12-04T20:16:17Z. Ignored once the checkpoint exists."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="The model: a folder from `fraudstream train`, a model.tar.gz, or an s3:// URI "
            f"{shown_default(ProcessorSettings, 'model_dir')}."
        ),
    ] = None,
    endpoint_name: Annotated[
        str | None,
        typer.Option(
            help="Score through this SageMaker endpoint (or the local server, via AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME), "
            "with the model as fallback. Without it the model scores in process."
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Rows scoring at least this become alerts [default: the card's threshold of the model that "
            "scored the row: a champion and its challenger each alert at their own]."
        ),
    ] = None,
    allowed_lateness: Annotated[
        str | None,
        typer.Option(
            help="Watermark delay: how far event time may trail the newest event, e.g. '10 minutes' "
            f"{shown_default(ProcessorSettings, 'allowed_lateness')}."
        ),
    ] = None,
    max_records_per_batch: Annotated[
        int | None,
        typer.Option(
            help="Records per micro-batch at most (a backlog drains in bounded batches) "
            f"{shown_default(ProcessorSettings, 'max_records_per_batch')}."
        ),
    ] = None,
    trigger_interval: Annotated[
        str | None,
        typer.Option(
            help="How often a micro-batch starts, e.g. '1 second' "
            f"{shown_default(ProcessorSettings, 'trigger_interval')}."
        ),
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            help="Per-batch figures: 'log' (a JSON log line) or 'emf' (also CloudWatch EMF) "
            f"{shown_default(ProcessorSettings, 'metrics')}."
        ),
    ] = None,
    label_delay_days: Annotated[
        float | None,
        typer.Option(
            help="Days until a chargeback is known (the terminal features' shift): must be the model's "
            "[default: the model's feature spec]."
        ),
    ] = None,
    history: Annotated[
        str | None,
        typer.Option(
            help="Start a new checkpoint's card and terminal state from this history: a batch-input file "
            "(CSV or Parquet, with is_fraud) or the lake's transactions/ (a folder or s3:// prefix). "
            "Ignored once the checkpoint exists."
        ),
    ] = None,
    naive_times_utc: Annotated[
        bool,
        typer.Option(
            "--naive-times-utc",
            help="With --history: read event times written without a UTC offset (text like 2026-01-01T10:00:00, "
            "or a Parquet timestamp without a zone) as UTC, instead of refusing the file.",
        ),
    ] = False,
    aggregates: Annotated[
        bool | None,
        typer.Option(
            "--aggregates/--no-aggregates",
            help=(
                "Also write per-card 10-minute windows (one starting every 5 minutes) to aggregates/ "
                "once the watermark closes them [default: on]."
            ),
        ),
    ] = None,
    spark_log: Annotated[
        Path,
        typer.Option(
            help="File that Spark's own output (its log, its Python workers' lines) is appended to, "
            "instead of the terminal. Under spark-submit (EMR) Spark's output stays where spark-submit sends it."
        ),
    ] = Path(".fraudstream") / "spark.log",
) -> None:
    """Run the stream processor: Kinesis -> validate, de-duplicate, features -> score -> lake, alerts, quarantine.

    Exactly once across restarts: offsets live in the checkpoint and every sink is idempotent per
    batch. Ctrl-C or SIGTERM stops after the current micro-batch; run it again with the same
    --checkpoint to continue. Settings also come from `FRAUD_PROCESSOR__<NAME>` variables.
    """
    from processor.exceptions import ProcessorError
    from processor.job import run_job

    overrides: dict[str, Any] = {
        "checkpoint_location": checkpoint,
        "starting_position": starting_position,
        "model_dir": model,
        "endpoint_name": endpoint_name,
        "threshold": threshold,
        "allowed_lateness": allowed_lateness,
        "max_records_per_batch": max_records_per_batch,
        "trigger_interval": trigger_interval,
        "metrics": metrics,
        "aggregates": aggregates,
        "history": history,
        "history_naive_times_utc": naive_times_utc or None,
        "label_delay_days": label_delay_days,
    }
    try:
        settings = ProcessorSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        raise typer.BadParameter(_first_error(e)) from e

    if reset_checkpoint:
        from processor.job import delete_checkpoint

        if delete_checkpoint(settings.checkpoint_location):
            print_summary(
                f"deleted checkpoint {settings.checkpoint_location} (--reset-checkpoint): "
                f"reading starts at {settings.starting_position}",
                "checkpoint deleted",
                checkpoint=settings.checkpoint_location,
                starting_position=settings.starting_position,
            )
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        if stop.is_set():  # a second signal: stop now; the interrupted batch re-runs on restart
            raise KeyboardInterrupt
        print_notice(f"{signal.Signals(signum).name}: stopping after the current batch")
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        summary = run_job(
            settings, ResourceSettings(), until_idle=until_idle, duration_s=duration, stop=stop, spark_output=spark_log
        )
    except ProcessorError as e:
        if not e.hint:  # a failed query: Spark's side of the story is in its log
            e.hint = f"Spark's own output is in {spark_log}"
        raise
    print_summary(
        f"processed {summary.rows_in:,} records in {summary.batches} batches ({summary.elapsed_s:.1f} s): "
        f"{summary.accepted:,} transactions, {summary.alerts:,} alerts, {summary.quarantined:,} quarantined "
        f"({summary.late:,} late), {summary.duplicates_dropped:,} duplicates dropped, "
        f"{summary.fallback_scored:,} scored by the fallback",
        "processor stopped",
        records=summary.rows_in,
        batches=summary.batches,
        elapsed_s=round(summary.elapsed_s, 3),
        transactions=summary.accepted,
        alerts=summary.alerts,
        quarantined=summary.quarantined,
        late=summary.late,
        duplicates_dropped=summary.duplicates_dropped,
        fallback_scored=summary.fallback_scored,
    )


def _first_error(error: ValidationError) -> str:
    """One line for a setting pydantic refused: the option, what is wrong with its value."""
    first = error.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    option = {"checkpoint_location": "checkpoint", "model_dir": "model"}.get(name, name).replace("_", "-")
    return f"--{option}: {first['msg'].removeprefix('Value error, ')}"
