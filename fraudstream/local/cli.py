"""`fraudstream local ...`: the embedded AWS emulator and resource provisioning."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fraudstream.local import DEFAULT_PORT

__all__ = ["app"]

app = typer.Typer(
    help="Run AWS locally without Docker or an account, and create the project's resources.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
console = Console()

FAKE_CREDENTIALS = "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test"  # noqa: S105 - the emulator's fake keys


def env_exports(endpoint_url: str, region: str = "us-east-1") -> str:
    """The shell line that points boto3, the AWS CLI and every fraudstream command at an endpoint."""
    return f"export AWS_ENDPOINT_URL={endpoint_url} AWS_REGION={region} AWS_DEFAULT_REGION={region} {FAKE_CREDENTIALS}"


@app.command()
def up(
    port: Annotated[
        int, typer.Option(help="TCP port; 4566 is LocalStack's, so commands work with either.")
    ] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="Address to listen on (the emulator has no authentication).")] = "127.0.0.1",
) -> None:
    """Run the embedded AWS (a moto server over real HTTP) in the foreground until Ctrl-C.

    Kinesis, S3, DynamoDB and the other APIs the project uses, in memory: state is gone when it stops.
    """
    from fraudstream.local.emulator import EmbeddedAws

    stopped = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        stopped.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with EmbeddedAws(host=host, port=port) as aws:
            console.print(f"embedded AWS listening on [bold]{aws.endpoint_url}[/] (Ctrl-C stops it). In another shell:")
            console.print(f"  {env_exports(aws.endpoint_url)}", highlight=False, soft_wrap=True)
            console.print("  fraudstream local provision", highlight=False)
            stopped.wait()
        console.print("embedded AWS stopped.")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@app.command()
def provision(
    shards: Annotated[int, typer.Option(min=1, help="Shards per new stream.")] = 2,
) -> None:
    """Create the streams, the lake bucket and the alerts table, if missing (safe to run again).

    Works against whatever endpoint boto3 is configured for: the embedded emulator, LocalStack,
    or an AWS account (where `cdk deploy` is the complete, secure way).
    """
    from fraudstream.config import ResourceSettings
    from fraudstream.local.provision import provision as provision_resources

    results = provision_resources(ResourceSettings(), shards=shards)
    table = Table(show_edge=False)
    table.add_column("resource")
    table.add_column("name")
    table.add_column("status")
    for r in results:
        table.add_row(r.kind, r.name, "[green]created[/]" if r.created else "exists")
    console.print(table)
