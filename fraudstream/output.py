"""What the commands print for the user besides their results: errors, hints, notices and end-of-run
summaries, on stderr, the same way for every command.

In text mode each is one line that rich never wraps, whatever the terminal's width (80 columns when
stderr is not a terminal): a wrapped path or message is two lines to a `grep` and to a test. With
`--log-format json` each is a JSON log record instead, so that stderr is JSON on every line.
"""

from __future__ import annotations

import logging
from typing import Any

from rich.console import Console
from rich.text import Text

from fraudstream.logs import log_format

__all__ = ["print_error", "print_notice", "print_summary", "stderr"]

logger = logging.getLogger("fraudstream")

# Created once; it looks sys.stderr up on every print, so a captured or replaced stderr is honoured.
stderr = Console(stderr=True, highlight=False)


def print_error(message: str, hint: str = "") -> None:
    """`error: <message>` and `hint: <hint>`, one line each (or one JSON record with a `hint` key).

    The message is printed as it is: brackets in it (a path, `[default: x]`) are not rich markup.
    """
    if log_format() == "json":
        logger.error(message, extra={"hint": hint} if hint else None)
        return
    stderr.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
    if hint:
        stderr.print(Text.assemble(("hint:", "dim"), " ", hint), soft_wrap=True)


def print_notice(message: str) -> None:
    """Something the user should see while a command runs (a signal was received, say): one line."""
    if log_format() == "json":
        logger.warning(message)
        return
    stderr.print(Text(message, style="yellow"), soft_wrap=True)


def print_summary(text: str, event: str | None = None, **figures: Any) -> None:
    """What a run did (at its start, on the way, at its end): `text` on one line, or in JSON mode the
    record `event` (else `text`) with `figures` as keys."""
    if log_format() == "json":
        logger.info(event or text, extra=figures or None)
        return
    stderr.print(text, soft_wrap=True, markup=False)
