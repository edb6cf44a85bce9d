"""What the `fraudstream` commands print around their work, run as a user runs them: one-line errors
and hints at any terminal width, JSON on every stderr line with `--log-format json`, and help that
is readable without a terminal and tells the truth (defaults, commands it names)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import typer.core

from bench.bench_pipeline import HISTORY_DAYS, SIZE
from bench.suite import BENCHMARKS
from fraudstream.cli import _command
from fraudstream.config import ResourceSettings
from fraudstream.exceptions import FraudstreamError
from processor.config import ProcessorSettings
from producer.config import ProducerSettings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[3]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _run(
    args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`fraudstream ARGS` with stdout and stderr on pipes (no terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "fraudstream", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _run_in_terminal(args: list[str], columns: int, env: dict[str, str] | None = None) -> tuple[int, str]:
    """`fraudstream ARGS` in a pseudo-terminal `columns` wide: its exit status and what the terminal showed."""
    parent, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TERMINAL_WIDTH")}
    process = subprocess.Popen(
        [sys.executable, "-m", "fraudstream", *args],
        env={**environ, "TERM": "xterm-256color", **(env or {})},
        stdin=child,
        stdout=child,
        stderr=child,
    )
    os.close(child)
    shown = b""
    while True:
        try:
            chunk = os.read(parent, 65536)
        except OSError:  # EIO: the terminal's last writer has gone
            break
        if not chunk:
            break
        shown += chunk
    os.close(parent)
    return process.wait(60), ANSI.sub("", shown.decode(errors="replace")).replace("\r\n", "\n")


@pytest.fixture
def long_missing_file(tmp_path: Path) -> Path:
    """A path far longer than any terminal here (a fresh clone in a long temporary folder)."""
    return tmp_path / ("a-long-temporary-folder-name-" * 5) / "history.csv"


@pytest.mark.parametrize("columns", [None, "40"], ids=["no terminal", "COLUMNS=40"])
def test_an_error_longer_than_the_line_is_one_line_without_a_terminal(
    aws_env: dict[str, str], long_missing_file: Path, columns: str | None
) -> None:
    # GIVEN a file that does not exist, at a path longer than the line (80 columns without a terminal)
    env = {**aws_env, **({"COLUMNS": columns} if columns else {})}
    # WHEN it is replayed
    result = _run(["produce", "--from", str(long_missing_file)], env)
    # THEN the error is one line, the hint another, and nothing else is printed
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {long_missing_file}: no such file",
        "hint: see the batch-input schema in the README; map other column names with --column-map NAME=COLUMN",
    ], result.stderr


def test_an_error_longer_than_the_terminal_is_one_line_in_a_terminal(
    aws_env: dict[str, str], long_missing_file: Path
) -> None:
    # GIVEN a 40-column terminal
    # WHEN a missing file at a long path is replayed
    code, shown = _run_in_terminal(["produce", "--from", str(long_missing_file)], 40, aws_env)
    # THEN the terminal got the error as one line (the terminal folds it, not rich)
    assert code == 1
    assert f"error: {long_missing_file}: no such file" in shown.splitlines(), shown


def test_a_usage_error_is_one_line_with_a_hint_not_a_box() -> None:
    # WHEN an option gets a value of the wrong type
    result = _run(["produce", "--count", "many"], {"COLUMNS": "40"})
    # THEN it is one line naming the option, and a hint to the command's help
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("error: Invalid value for '--count': ") and "integer" in lines[0]
    assert lines[1] == "hint: see `fraudstream produce --help`"


def test_in_json_mode_an_error_is_a_json_record_with_its_hint(aws_env: dict[str, str], long_missing_file: Path) -> None:
    # WHEN a command fails with --log-format json
    result = _run(["--log-format", "json", "produce", "--from", str(long_missing_file)], aws_env)
    # THEN every stderr line is JSON, the error among them with its hint
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stderr.splitlines()]
    error = next(r for r in records if r["level"] == "ERROR")
    assert error["message"] == f"{long_missing_file}: no such file"
    assert error["hint"].startswith("see the batch-input schema")


@pytest.mark.parametrize("env", [{}, {"COLUMNS": "40"}], ids=["no terminal", "COLUMNS=40"])
def test_help_without_a_terminal_is_laid_out_wide_enough_to_read(env: dict[str, str]) -> None:
    # WHEN the help is printed to a pipe (or for a 40-column terminal)
    result = _run(["process", "--help"], env)
    # THEN each option's help runs in lines of several words, not squeezed into a narrow column
    # (at 80 columns: "Stop once every", "record in the streams")
    assert result.returncode == 0, result.stderr
    assert "Stop once every record in the streams" in result.stdout
    assert "Where a new checkpoint starts reading" in result.stdout
    widths = {len(line) for line in result.stdout.splitlines() if line.strip()}
    assert max(widths) >= 100


def _options(command: Any, path: str = "fraudstream") -> Iterator[tuple[str, typer.core.TyperOption]]:
    for param in command.params:
        if isinstance(param, typer.core.TyperOption):
            yield path, param
    for name, sub in getattr(command, "commands", {}).items():
        yield from _options(sub, f"{path} {name}")


def test_no_flag_shows_a_value_type_in_the_help() -> None:
    # WHEN any command's help is printed
    shown = {args: _run([*args, "--help"]).stdout for args in (("process",), ("demo",), ("bench",), ("local", "up"))}
    # THEN no flag has a <bool> "type": flags take no value
    for args, text in shown.items():
        assert "--help" in text and "<bool>" not in text, (args, text)


PRODUCE_DEFAULTS = {
    "--seed": ProducerSettings.model_fields["seed"].default,
    "--cards": ProducerSettings.model_fields["cards"].default,
    "--terminals": ProducerSettings.model_fields["terminals"].default,
    "--fraud-rate": ProducerSettings.model_fields["fraud_rate"].default,
    "--label-delay-days": ProducerSettings.model_fields["label_delay_days"].default,
    "--late-share": ProducerSettings.model_fields["late_share"].default,
    "--max-lateness": ProducerSettings.model_fields["max_lateness_s"].default,
    "--duplicate-share": ProducerSettings.model_fields["duplicate_share"].default,
    "--malformed-share": ProducerSettings.model_fields["malformed_share"].default,
    "--dead-letter": ProducerSettings.model_fields["dead_letter"].default,
    "--max-attempts": ProducerSettings.model_fields["max_attempts"].default,
    "--stream": ResourceSettings.model_fields["transactions_stream"].default,
    "--labels-stream": ResourceSettings.model_fields["labels_stream"].default,
    "--count": "no limit",
    "--duration": "no limit",
}
PROCESS_DEFAULTS = {
    "--checkpoint": ProcessorSettings.model_fields["checkpoint_location"].default,
    "--starting-position": ProcessorSettings.model_fields["starting_position"].default,
    "--model": ProcessorSettings.model_fields["model_dir"].default,
    "--allowed-lateness": ProcessorSettings.model_fields["allowed_lateness"].default,
    "--max-records-per-batch": ProcessorSettings.model_fields["max_records_per_batch"].default,
    "--trigger-interval": ProcessorSettings.model_fields["trigger_interval"].default,
    "--metrics": ProcessorSettings.model_fields["metrics"].default,
    "--duration": "no limit",
    "--spark-log": Path(".fraudstream") / "spark.log",
}


@pytest.mark.parametrize(("command", "defaults"), [("produce", PRODUCE_DEFAULTS), ("process", PROCESS_DEFAULTS)])
def test_the_help_shows_the_default_every_setting_takes(command: str, defaults: dict[str, Any]) -> None:
    # WHEN the help is printed wide enough for each option to be one row
    result = _run([command, "--help"], {"TERMINAL_WIDTH": "400"})
    assert result.returncode == 0, result.stderr
    rows: dict[str, str] = {}
    for line in result.stdout.splitlines():
        if line.startswith("│ --"):
            option = line.split()[1]
            rows[option] = line
        elif line.startswith("│ ") and rows:  # the row's next line (typer puts the default there)
            rows[option] += " " + line.strip("│ ")
    # THEN each option whose default is a setting's shows that setting's default
    for option, default in defaults.items():
        assert f"[default: {default}]" in rows[option], rows[option]


def _subclasses(cls: type[FraudstreamError]) -> list[type[FraudstreamError]]:
    return [cls, *(sub for direct in cls.__subclasses__() for sub in _subclasses(direct))]


def test_every_command_a_help_text_names_exists() -> None:
    # GIVEN every help text of every command and option, and the hints of the errors
    root = _command()
    texts = [o.help or "" for _, o in _options(root)] + [error.hint for error in _subclasses(FraudstreamError)]
    context = typer.Context(root)
    stack = [root]
    while stack:
        command = stack.pop()
        texts.append(command.help or "")
        if isinstance(command, typer.core.TyperGroup):
            stack.extend(command.get_command(context, name) for name in command.list_commands(context))
    named = {m for text in texts for m in re.findall(r"`fraudstream ([a-z][\w-]*(?: [a-z][\w-]*)?)", text)}
    assert "local provision" in named  # (guards the search: the hints name it)
    # THEN each `fraudstream X [Y]` they name is a command (and Y, if X is a group, one of its commands)
    for words in named:
        first, *rest = words.split()
        group = root.get_command(context, first)
        assert group is not None, words
        if rest and isinstance(group, typer.core.TyperGroup):
            assert group.get_command(context, rest[0]) is not None, words


def test_the_bench_help_says_what_the_pipeline_benchmark_drains() -> None:
    # GIVEN what the pipeline benchmark drains
    pipeline = next(b for b in BENCHMARKS if b.name == "pipeline")
    # THEN its help names the same number of days, of backlog and of history in state
    assert f"{SIZE['days']} days of transactions" in pipeline.measures
    assert f"{SIZE['cards']:,} cards" in pipeline.measures
    assert f"{HISTORY_DAYS} days of history in state" in pipeline.measures
    assert "a day of history" not in pipeline.measures


def test_make_help_prints_no_colour_codes_without_a_terminal() -> None:
    # WHEN `make help` writes to a pipe
    make = shutil.which("make")
    assert make is not None
    result = subprocess.run(
        [make, "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    # THEN it is plain text: every target, no escape codes
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert re.search(r"^  test +Run the whole test suite", result.stdout, re.MULTILINE), result.stdout


def test_train_on_too_few_days_says_how_many_the_split_needs(tmp_path: Path) -> None:
    # WHEN a model is trained on 30 generated days with the default split
    result = _run(["train", "--generate", "30", "--out", str(tmp_path / "model")], {"COLUMNS": "40"})
    # THEN the one-line error says the split needs 14 + 49 + 7 + 21 = 91 days and which options set them
    assert result.returncode == 2
    error = next(line for line in result.stderr.splitlines() if line.startswith("error: "))
    assert "the validation period" in error and "the data has 30 days" in error
    assert "these periods need 91: 14 before the first training day" in error
    for option in ("--train-start", "--train-days", "--delay-days", "--test-days", "--generate"):
        assert option in error


def test_produce_in_json_mode_is_json_on_every_stderr_line(
    aws_env: dict[str, str], stream_factory: Callable[..., str]
) -> None:
    # GIVEN two streams
    stream, labels = stream_factory(), stream_factory()
    # WHEN a day of history is produced with --log-format json
    args = ["produce", "--days", "1", "--speedup", "0", "--cards", "50", "--terminals", "100", "--count", "200"]
    result = _run(["--log-format", "json", *args, "--stream", stream, "--labels-stream", labels], aws_env)
    # THEN every stderr line is a JSON record, the start among them with its settings as keys
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    started = next(r for r in records if r["message"] == "producer started")
    assert started["stream"] == stream and started["labels_stream"] == labels


def test_produce_in_text_mode_says_what_it_does_in_one_line(
    aws_env: dict[str, str], stream_factory: Callable[..., str]
) -> None:
    # GIVEN two streams, and a 40-column terminal width
    stream, labels = stream_factory(), stream_factory()
    # WHEN a day of history is produced
    args = ["produce", "--days", "1", "--speedup", "0", "--cards", "50", "--terminals", "100", "--count", "200"]
    result = _run([*args, "--stream", stream, "--labels-stream", labels], {**aws_env, "COLUMNS": "40"})
    # THEN its start is one line on stderr, naming both streams and the way out
    assert result.returncode == 0, result.stderr
    start = next(line for line in result.stderr.splitlines() if line.startswith("producing to "))
    assert f"{stream} / {labels}" in start and start.endswith("Ctrl-C stops after a flush."), result.stderr
