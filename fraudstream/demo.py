"""`fraudstream demo`: the whole product on this machine, no Docker and no account needed."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from fraudstream.local import DEFAULT_PORT

if TYPE_CHECKING:
    from processor.job import JobSummary

__all__ = ["demo"]

ENDPOINT_NAME = "fraud-detector"
# Chargebacks arrive within a day in the demo, so that two days of history show terminal risk.
LABEL_DELAY_DAYS = 1.0

console = Console()


def demo(
    days: Annotated[float, typer.Option(help="Days of synthetic history to stream.")] = 1.0,
    model: Annotated[
        Path, typer.Option(help="Model folder; trained there first (about a minute) when it has no model.tar.gz.")
    ] = Path("model"),
    keep: Annotated[bool, typer.Option(help="Leave the embedded AWS running afterwards, to look around.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic world.")] = 42,
) -> None:
    """Run the whole pipeline end to end on this machine: no Docker, no AWS account.

    Starts the embedded AWS emulator and provisions the streams, bucket and table; trains a model
    if --model has none; serves it on a local endpoint with SageMaker's HTTP contract; streams
    synthetic transactions (all five fraud scenarios, plus late, duplicate and malformed records)
    and their chargebacks; runs the stream processor until it has drained them; then summarises
    what landed in the lake, the alerts table and the quarantine.
    """
    from fraudstream.config import ResourceSettings
    from fraudstream.local.emulator import EmbeddedAws, PortInUseError
    from fraudstream.local.provision import provision
    from ml_model.artifact import load_artifact
    from ml_model.serving import LocalEndpointServer
    from processor.config import ProcessorSettings
    from processor.job import run_job
    from producer.app import run_producer
    from producer.config import ProducerSettings

    try:
        aws = EmbeddedAws(port=DEFAULT_PORT).start()
    except PortInUseError:
        aws = EmbeddedAws(port=0).start()
        console.print(f"[yellow]port {DEFAULT_PORT} is taken; the emulator uses {aws.port} instead[/]")
    endpoint = None
    try:
        os.environ.update(
            AWS_ENDPOINT_URL=aws.endpoint_url,
            AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
        )
        resources = ResourceSettings()
        console.rule("1. embedded AWS")
        console.print(f"moto server on {aws.endpoint_url}")
        for r in provision(resources, shards=2):
            console.print(f"  {r.kind} {r.name}: {'created' if r.created else 'exists'}")

        console.rule("2. model")
        if not (model / "model.tar.gz").exists():
            from ml_model.train_cli import train

            console.print(f"no model in {model}: training one on 98 days of synthetic history")
            train(out=model, generate=98, seed=seed)
        artifact = load_artifact(model)
        console.print(f"model {artifact.card.model_version}, alert threshold {artifact.card.threshold:.3f}")

        console.rule("3. local SageMaker endpoint")
        endpoint = LocalEndpointServer(artifact, port=0, endpoint_name=ENDPOINT_NAME).start()
        os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = endpoint.url
        console.print(f"endpoint {ENDPOINT_NAME} on {endpoint.url}")

        console.rule(f"4. producer: {days:g} days of synthetic history, as fast as the emulator takes it")
        run_producer(
            ProducerSettings(
                seed=seed,
                cards=2_000,
                terminals=4_000,
                late_share=0.01,
                duplicate_share=0.005,
                malformed_share=0.002,
                label_delay_days=LABEL_DELAY_DAYS,
            ),
            resources,
            days=days,
            speedup=0,
        )

        console.rule("5. stream processor, until it has drained both streams")
        checkpoint = Path(tempfile.mkdtemp(prefix="fraudstream-demo-")) / "checkpoint"
        summary = run_job(
            ProcessorSettings(
                checkpoint_location=str(checkpoint),
                model_dir=str(model),
                endpoint_name=ENDPOINT_NAME,
                threshold=artifact.card.threshold,
                label_delay_days=LABEL_DELAY_DAYS,
                trigger_interval="0 seconds",
            ),
            resources,
            until_idle=True,
        )
        console.rule("6. summary")
        _print_summary(summary, resources.lake_bucket)
        if keep:
            _wait_for_ctrl_c(aws.endpoint_url)
    finally:
        if endpoint is not None:
            endpoint.stop()
        aws.stop()


def _print_summary(summary: JobSummary, bucket: str) -> None:
    from rich.table import Table

    from fraudstream.aws import s3_filesystem
    from fraudstream.query import run_query

    filesystem = s3_filesystem()
    table = Table(show_header=False, box=None)
    table.add_row("records processed", f"{summary.rows_in:,} in {summary.batches} batches ({summary.elapsed_s:.1f} s)")
    table.add_row("transactions in the lake", f"{summary.accepted:,}")
    table.add_row("alerts (DynamoDB)", f"{summary.alerts:,}")
    table.add_row("duplicates dropped", f"{summary.duplicates_dropped:,}")
    quarantine = run_query(
        "SELECT reason, count(*) AS n FROM quarantine GROUP BY 1 ORDER BY 2 DESC", bucket, filesystem
    )
    reasons = ", ".join(f"{r['reason']} {r['n']:,}" for r in quarantine.to_pylist()) or "none"
    table.add_row("quarantined", f"{summary.quarantined:,} ({reasons})")
    table.add_row("scored by the endpoint", f"{summary.accepted - summary.fallback_scored:,}")
    table.add_row("scored by the fallback", f"{summary.fallback_scored:,}")
    console.print(table)
    busiest = run_query(
        "SELECT dt, hour, count(*) AS transactions, sum(CASE WHEN is_alert THEN 1 ELSE 0 END) AS alerts "
        "FROM transactions GROUP BY 1, 2 ORDER BY alerts DESC, transactions DESC LIMIT 3",
        bucket,
        filesystem,
    )
    console.print("hours with the most alerts (DuckDB over the Parquet lake):")
    for row in busiest.to_pylist():
        console.print(
            f"  dt={row['dt']} hour={row['hour']}: {row['transactions']:,} transactions, {row['alerts']:,} alerts"
        )


def _wait_for_ctrl_c(endpoint_url: str) -> None:
    from fraudstream.local.cli import env_exports

    console.print(f"The emulator keeps running (Ctrl-C stops it). In another shell:\n  {env_exports(endpoint_url)}")
    console.print('  fraudstream query "SELECT reason, count(*) FROM quarantine GROUP BY 1"', highlight=False)
    stopped = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    stopped.wait()
