"""Every `fraudstream` command line in the README and the deploy guide parses: its sub-command and
options exist and its values have the right types. Running them is the business of the tests of each
command and of `make demo`; this keeps the docs from drifting away from the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup

from fraudstream.cli import app
from tests.docs_commands import invocations, shell_lines

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", ROOT / "docs" / "deploy.md", ROOT / "docs" / "capacity.md"]


def _documented() -> list[tuple[str, list[str]]]:
    return [
        (f"{doc.name}: {line.strip()}", args)
        for doc in DOCS
        if doc.exists()
        for line in shell_lines(doc.read_text())
        for args in invocations(line)
    ]


DOCUMENTED = _documented()


def test_the_docs_hold_commands_of_every_kind() -> None:
    # (guards the parsing above: a change of the docs' fences would otherwise leave nothing to check)
    names = {args[0] for _, args in DOCUMENTED if args}
    assert {"demo", "produce", "train", "serve", "invoke", "process", "query", "bench", "aws", "local"} <= names


@pytest.mark.parametrize(("line", "args"), DOCUMENTED, ids=[line[:80] for line, _ in DOCUMENTED])
def test_a_documented_command_parses(line: str, args: list[str]) -> None:
    command = typer.main.get_command(app)
    context = command.make_context("fraudstream", [], resilient_parsing=True)
    args = list(args)
    while isinstance(command, TyperGroup):  # a group: the next word names one of its commands
        assert args, f"{line}: names a command group, not a command"
        name = args.pop(0)
        sub = command.get_command(context, name)
        assert sub is not None, f"{line}: no command {name!r}"
        command, context = sub, sub.make_context(name, [], parent=context, resilient_parsing=True)
    # the command's own parser: unknown options, missing values and wrong types fail here
    context = command.make_context(context.info_name, args, parent=context.parent)
    assert not context.args, f"{line}: unexpected arguments {context.args}"
