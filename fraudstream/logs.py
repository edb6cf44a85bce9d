"""Logging set-up for entry points. Library modules only call `logging.getLogger(__name__)`."""

from __future__ import annotations

import logging
from enum import StrEnum

from pythonjsonlogger.json import JsonFormatter
from rich.console import Console
from rich.logging import RichHandler

__all__ = ["LogFormat", "configure_logging", "log_format"]


class LogFormat(StrEnum):
    """What `--log-format` accepts."""

    TEXT = "text"
    JSON = "json"


# The format the entry point chose: `fraudstream.output` prints its errors and summaries the same way.
_chosen = {"format": "text"}


def log_format() -> str:
    """'text' or 'json': the format of the last `configure_logging` call ('text' before any)."""
    return _chosen["format"]


def configure_logging(level: int = logging.INFO, fmt: str = "text") -> None:
    """Send logs to stderr: JSON lines with stable keys, or text: rich's columns in a terminal, else
    one plain line a record (rich would wrap each message into its column at 80 characters).

    Adds no handler when the root logger already has handlers (an embedding application configured
    them), but records `fmt` for `log_format`.
    """
    _chosen["format"] = fmt
    root = logging.getLogger()
    if root.handlers:
        return
    handler: logging.Handler
    if fmt == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(
            JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level"})
        )
    else:
        # On stderr, like the JSON lines (rich's default console is stdout, the commands' results).
        console = Console(stderr=True)
        if console.is_terminal:
            handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
        else:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter stays at WARNING unless asked for explicitly.
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "py4j"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
