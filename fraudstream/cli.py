"""The `fraudstream` command line. Each component contributes its own sub-commands."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core
import typer.main
import typer.rich_utils

from fraudstream.exceptions import FraudstreamError
from fraudstream.logs import LogFormat, configure_logging
from fraudstream.output import print_error, stderr

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["app", "main"]

app = typer.Typer(
    name="fraudstream",
    help="Real-time card-fraud detection on AWS: producer, stream processor, model and local AWS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
_state = {"verbose": False}
# `--help` is laid out in columns (option, type, help text): narrower than this, the help text is
# squeezed into a few words a line. A narrower terminal wraps the wider lines instead.
HELP_MIN_WIDTH = 100
# Without a terminal (piped to `less`, a file, CI) nothing limits the width; rich would use 80.
HELP_WIDTH_WITHOUT_TERMINAL = 120


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs and full tracebacks on errors.")] = False,
    log_format: Annotated[
        LogFormat,
        typer.Option(help="Format of everything on stderr (logs, errors, summaries): text, or one JSON object a line."),
    ] = LogFormat.TEXT,
) -> None:
    _state["verbose"] = verbose
    configure_logging(level=logging.DEBUG if verbose else logging.INFO, fmt=log_format.value)


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
    from producer.generate_cli import generate

    app.command("demo")(demo)
    app.add_typer(local_app, name="local")
    app.command("produce")(produce)
    app.command("generate")(generate)
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


def help_width(environ: Mapping[str, str]) -> int | None:
    """The width `--help` is laid out at: the terminal's (or COLUMNS), at least HELP_MIN_WIDTH, and
    HELP_WIDTH_WITHOUT_TERMINAL without a terminal; None leaves it to TERMINAL_WIDTH, which typer reads."""
    if environ.get("TERMINAL_WIDTH"):
        return None
    columns = environ.get("COLUMNS", "")
    if columns.isdigit():
        return max(int(columns), HELP_MIN_WIDTH)
    try:
        return max(os.get_terminal_size(sys.__stdout__.fileno()).columns, HELP_MIN_WIDTH)  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):  # no stdout, or not a terminal
        return HELP_WIDTH_WITHOUT_TERMINAL


def _options(command: Any, parent: typer.Context | None = None) -> Iterator[typer.core.TyperOption]:
    """Every option of `command` and its sub-commands, their help options included."""
    context = typer.Context(command, parent=parent, **command.context_settings)
    help_option = command.get_help_option(context)  # created on first use, then kept by the command
    yield from (p for p in [*command.params, help_option] if isinstance(p, typer.core.TyperOption))
    if isinstance(command, typer.core.TyperGroup):
        for sub in command.commands.values():
            yield from _options(sub, context)


def _command() -> Any:
    """The click command tree of `app`, with what this CLI changes in typer's help."""
    command = typer.main.get_command(app)
    for option in _options(command):
        if option.is_flag and option.metavar is None:
            option.metavar = ""  # typer shows `<bool>` as the "type" of a flag, which takes no value
    return command


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; a user's mistake is one line and a non-zero exit, not a traceback."""
    # NOTE: typer reads this module attribute each time it lays out help (its own setting is the
    # TERMINAL_WIDTH variable, read once at import).
    width = help_width(os.environ)
    if width is not None:
        typer.rich_utils.MAX_WIDTH = width
    try:
        # Not standalone: click's usage errors come here too, to be printed like every other error
        # (typer draws them in a box, wrapped at the terminal's width).
        code = _command().main(args=argv, prog_name="fraudstream", standalone_mode=False)
    except typer.TyperException as e:  # click's (typer's copy of click) usage and parameter errors
        if type(e).__name__ == "NoArgsIsHelpError":
            sys.exit(e.exit_code)  # the help is already printed
        context = getattr(e, "ctx", None)
        print_error(e.format_message(), f"see `{context.command_path} --help`" if context is not None else "")
        sys.exit(e.exit_code)
    except typer.Abort:
        print_error("aborted")
        sys.exit(1)
    except FraudstreamError as e:
        if _state["verbose"]:
            stderr.print_exception()
        print_error(str(e), e.hint)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
