"""The `fraudstream` command lines of the docs' shell blocks, for the tests that parse or run them."""

from __future__ import annotations

import re
import shlex

__all__ = ["PROGRAM", "invocations", "shell_lines"]

PROGRAM = ".venv/bin/fraudstream"


def shell_lines(text: str) -> list[str]:
    """The lines of the ```bash blocks, continuation lines joined."""
    blocks = re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, flags=re.DOTALL)
    return [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]


def invocations(line: str) -> list[list[str]]:
    """The argument lists of every `fraudstream` call on a shell line (also inside `$(...)` and after `&&`)."""
    substituted = re.findall(r"\$\(([^()]*)\)", line)
    lexer = shlex.shlex(re.sub(r"\$\([^()]*\)", "SUBSTITUTED", line), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    segments: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) <= set("&|;()<>"):
            segments.append([])
        else:
            segments[-1].append(token)
    calls = [segment[1:] for segment in segments if segment[:1] == [PROGRAM]]
    return calls + [call for inner in substituted for call in invocations(inner)]
