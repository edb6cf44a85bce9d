"""`fraudstream demo`: the whole product on this machine, no Docker and no account needed."""

from __future__ import annotations

import os
import signal
import threading
from typing import Annotated, Any

import typer
from rich.console import Console

from fraudstream.local import DEFAULT_PORT

__all__ = ["demo"]

console = Console()


def demo(
    days: Annotated[float, typer.Option(help="Days of synthetic history to stream.")] = 3.0,
    keep: Annotated[bool, typer.Option(help="Leave the embedded AWS running afterwards, to look around.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic world.")] = 42,
) -> None:
    """Run the pipeline end to end on the embedded AWS emulator.

    Starts the emulator, provisions the streams, bucket and table, and streams several days of
    synthetic transactions (all five fraud scenarios, plus late, duplicate and malformed records).
    """
    from fraudstream.config import ResourceSettings
    from fraudstream.local.cli import env_exports
    from fraudstream.local.emulator import EmbeddedAws, PortInUseError
    from fraudstream.local.provision import provision
    from producer.app import run_producer
    from producer.config import ProducerSettings

    try:
        aws = EmbeddedAws(port=DEFAULT_PORT).start()
    except PortInUseError:
        aws = EmbeddedAws(port=0).start()
        console.print(f"[yellow]port {DEFAULT_PORT} is taken; the emulator uses {aws.port} instead[/]")
    try:
        os.environ.update(
            AWS_ENDPOINT_URL=aws.endpoint_url,
            AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
        )
        console.rule("1. embedded AWS")
        console.print(f"moto server on {aws.endpoint_url}")
        for r in provision(ResourceSettings(), shards=2):
            console.print(f"  {r.kind} {r.name}: {'created' if r.created else 'exists'}")
        console.rule(f"2. producer: {days:g} days of synthetic history, as fast as the emulator takes it")
        settings = ProducerSettings(
            seed=seed,
            cards=2_000,
            terminals=4_000,
            late_share=0.01,
            duplicate_share=0.005,
            malformed_share=0.002,
            label_delay_days=1.0,
        )
        run_producer(settings, ResourceSettings(), days=days, speedup=0)
        console.rule("3. processor")
        console.print(
            "[yellow]The stream processor is not built yet (issue #4): this demo runs the embedded AWS and the "
            "producer only.[/]"
        )
        if keep:
            console.print(
                f"The emulator keeps running (Ctrl-C stops it). In another shell:\n  {env_exports(aws.endpoint_url)}"
            )
            console.print("  aws kinesis describe-stream-summary --stream-name transactions", highlight=False)
            stopped = threading.Event()

            def _stop(signum: int, _frame: Any) -> None:
                stopped.set()

            signal.signal(signal.SIGINT, _stop)
            signal.signal(signal.SIGTERM, _stop)
            stopped.wait()
    finally:
        aws.stop()
