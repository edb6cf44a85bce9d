"""Logging set-up for entry points. Library modules only call `logging.getLogger(__name__)`."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter
from rich.logging import RichHandler

__all__ = ["configure_logging"]


def configure_logging(level: int = logging.INFO, fmt: str = "text") -> None:
    """Send logs to stderr: JSON lines with stable keys, or rich text for a terminal.

    Does nothing when the root logger already has handlers (an embedding application configured it).
    """
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
        handler = RichHandler(show_path=False, rich_tracebacks=False)
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter stays at WARNING unless asked for explicitly.
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "py4j"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
