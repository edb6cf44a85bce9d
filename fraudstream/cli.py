"""The `fraudstream` command line. Each component contributes its own sub-commands."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.console import Console

from fraudstream.exceptions import FraudstreamError
from fraudstream.logs import configure_logging

__all__ = ["app", "main"]

app = typer.Typer(
    name="fraudstream",
    help="Real-time card-fraud detection on AWS: producer, stream processor, model and local AWS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
err_console = Console(stderr=True)
_state = {"verbose": False}


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs and full tracebacks on errors.")] = False,
    log_format: Annotated[str, typer.Option(help="Log format on stderr: 'text' or 'json'.")] = "text",
) -> None:
    _state["verbose"] = verbose
    configure_logging(level=logging.DEBUG if verbose else logging.INFO, fmt=log_format)


def _register() -> None:
    # Imported here so that `fraudstream --help` stays fast and each package owns its commands.
    from fraudstream.aws_cli import app as aws_app
    from fraudstream.bench_cli import bench
    from fraudstream.demo import demo
    from fraudstream.local.cli import app as local_app
    from fraudstream.package import package
    from fraudstream.query_cli import query
    from ml_model.cli import invoke, serve
    from ml_model.model_cli import app as model_app
    from ml_model.train_cli import score, train
    from processor.cli import process
    from producer.cli import produce

    app.command("demo")(demo)
    app.add_typer(local_app, name="local")
    app.command("produce")(produce)
    app.command("process")(process)
    app.command("package")(package)
    app.command("query")(query)
    app.command("serve")(serve)
    app.command("invoke")(invoke)
    app.command("train")(train)
    app.command("score")(score)
    app.add_typer(model_app, name="model")
    app.add_typer(aws_app, name="aws")
    app.command("bench")(bench)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; a user's mistake is one line and a non-zero exit, not a traceback."""
    try:
        # Click handles its own usage errors and exit codes; domain errors become one line here.
        app(args=argv)
    except FraudstreamError as e:
        if _state["verbose"]:
            err_console.print_exception()
        message = f"[bold red]error:[/] {e}"
        if e.hint:
            message += f"\n[dim]hint:[/] {e.hint}"
        err_console.print(message, highlight=False)
        sys.exit(1)
