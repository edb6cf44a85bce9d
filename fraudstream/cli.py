"""The `fraudstream` command line. Each component contributes its own sub-commands."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
import typer.core
import typer.main
import typer.rich_utils

from fraudstream.exceptions import FraudstreamError
from fraudstream.logs import LogFormat, configure_logging
from fraudstream.output import print_error, stderr

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from typer._click import Command, Context

__all__ = ["app", "main"]

_MARKUP: Final = "markdown"
# Each command's module is imported when the command is looked up (run, or listed by `--help`), so
# that `fraudstream process` (the EMR job's entry point) imports the processor and not the producer,
# the demo or the CDK app. Name -> (module, attribute): a function is a command, a Typer a group.
# The order is the order `fraudstream --help` lists them in.
_COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "demo": ("fraudstream.demo", "demo"),
    "produce": ("producer.cli", "produce"),
    "generate": ("producer.generate_cli", "generate"),
    "process": ("processor.cli", "process"),
    "package": ("fraudstream.package", "package"),
    "query": ("fraudstream.query_cli", "query"),
    "serve": ("ml_model.cli", "serve"),
    "invoke": ("ml_model.cli", "invoke"),
    "train": ("ml_model.train_cli", "train"),
    "score": ("ml_model.train_cli", "score"),
    "bench": ("fraudstream.bench_cli", "bench"),
    "local": ("fraudstream.local.cli", "app"),
    "model": ("ml_model.model_cli", "app"),
    "monitor": ("ml_model.monitor_cli", "monitor"),
    "aws": ("fraudstream.aws_cli", "app"),
}


class _LazyGroup(typer.core.TyperGroup):
    """The root command: its sub-commands are imported on first lookup (`_COMMANDS`)."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in _COMMANDS if name not in self.commands)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            command = _load(cmd_name)
            _show_flags_without_type(_options(command, ctx))
            self.commands[cmd_name] = command
        return super().get_command(ctx, cmd_name)


def _load(name: str) -> Command:
    """The click command of `_COMMANDS[name]`, built as typer builds a registered command or group."""
    module, attribute = _COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(rich_markup_mode=_MARKUP, pretty_exceptions_enable=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return typer.main.get_group(holder).commands[name]


app = typer.Typer(
    name="fraudstream",
    cls=_LazyGroup,
    help="Real-time card-fraud detection on AWS: producer, stream processor, model and local AWS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=_MARKUP,
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


def _own_options(command: Any, parent: Context | None = None) -> Iterator[typer.core.TyperOption]:
    """The options of `command` itself, its help option included."""
    context = typer.Context(command, parent=parent, **command.context_settings)
    help_option = command.get_help_option(context)  # created on first use, then kept by the command
    yield from (p for p in [*command.params, help_option] if isinstance(p, typer.core.TyperOption))


def _options(command: Any, parent: Context | None = None) -> Iterator[typer.core.TyperOption]:
    """Every option of `command` and its sub-commands, their help options included (for the root:
    every command's, each imported)."""
    yield from _own_options(command, parent)
    if isinstance(command, typer.core.TyperGroup):
        context = typer.Context(command, parent=parent, **command.context_settings)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None:
                yield from _options(sub, context)


def _show_flags_without_type(options: Iterable[typer.core.TyperOption]) -> None:
    for option in options:
        if option.is_flag and option.metavar is None:
            option.metavar = ""  # typer shows `<bool>` as the "type" of a flag, which takes no value


def _command() -> Any:
    """The click command tree of `app`, with what this CLI changes in typer's help (its sub-commands
    get it as `_LazyGroup` imports them)."""
    command = typer.main.get_command(app)
    _show_flags_without_type(_own_options(command))
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
