"""Every `fraudstream produce` line of the README, then the processor until idle: every valid record
the line sent is in the lake exactly once, and none is dated ahead of the moment it reached the stream.

The lines are read from README.md itself, so that the README cannot drift from what is tested. Each
runs as a user runs it (a process of its own, against the embedded emulator; all at once, each into
streams of its own), in a small world (the README's `FRAUD_PRODUCER__CARDS` / `__TERMINALS`
variables) and bounded to seconds of wall time without changing its time shape: a live run's
`--duration` is cut to a few seconds, and an accelerated history runs only its last day (`--start` a
day ago: it still ends at the present). The processor is `process --until-idle`'s own `run_job`, on
the suite's Spark session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from fraudstream.config import ResourceSettings
from fraudstream.contracts import InvalidRecord, parse_transaction
from fraudstream.local.provision import provision
from processor.config import ProcessorSettings
from processor.job import run_job
from synthetic.generator import GeneratorConfig, generate_history
from tests.conftest import FAKE_ENV
from tests.docs_commands import invocations, shell_lines
from tests.kinesis_reader import read_stream
from tests.lake_reader import read_parquet

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fraudstream.local.emulator import EmbeddedAws

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[3] / "README.md"
PRODUCE_LINES = [
    args
    for line in shell_lines(README.read_text(encoding="utf-8"))
    for args in invocations(line)
    if args[:1] == ["produce"]
]
SMALL_WORLD = {"FRAUD_PRODUCER__CARDS": "40", "FRAUD_PRODUCER__TERMINALS": "80"}
LIVE_SECONDS = 4.0  # a live run's --duration, cut to this
HISTORY_WALL_S = 24.0  # an accelerated history longer than this runs its last day only


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def _bounded(args: list[str], now: datetime) -> list[str]:
    """The line's arguments, bounded to seconds of wall time with its time shape kept."""
    args = list(args)
    days, speedup, start = _option(args, "--days"), _option(args, "--speedup"), _option(args, "--start")
    if days is None and start is None and _option(args, "--from") is None:  # live
        if "--duration" in args:
            args[args.index("--duration") + 1] = str(min(float(args[args.index("--duration") + 1]), LIVE_SECONDS))
        else:
            args += ["--duration", str(LIVE_SECONDS)]
    elif days is not None and start is None and speedup and float(speedup) > 0:
        if float(days) * 86_400 / float(speedup) > HISTORY_WALL_S:
            args += ["--start", f"{now - timedelta(days=1):%Y-%m-%dT%H:%M:%S}Z"]
    return args


def _write_replay_file(args: list[str], cwd: Path) -> None:
    """The file a `--from FILE` line replays: two days of a small world, ending before now, with the
    column names the line's `--column-map FIELD=COLUMN` options say."""
    name = _option(args, "--from")
    if name is None:
        return
    frame = generate_history(GeneratorConfig(seed=11, n_cards=40, n_terminals=80), date.today() - timedelta(days=3), 2)
    columns: dict[str, str] = {}
    for i, option in enumerate(args):
        if option == "--column-map":
            field, column = args[i + 1].split("=", 1)
            columns[field] = column
    frame = frame.rename(columns=columns)
    path = cwd / name
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.assign(event_time=frame["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")).to_csv(path, index=False)


@dataclass
class Produced:
    """One README line as run, and where its records went."""

    run: list[str]
    resources: ResourceSettings
    workdir: Path
    process: subprocess.Popen[str]
    stdout: str = ""
    stderr: str = ""


def _line_id(args: list[str]) -> str:
    return " ".join(args[1:])


@pytest.fixture(scope="module")
def produced(embedded_aws: EmbeddedAws, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Produced]]:
    """Every README line run at once, each into streams of its own (paced runs mostly wait: together
    they take as long as the longest one)."""
    aws = {**FAKE_ENV, "AWS_ENDPOINT_URL": embedded_aws.endpoint_url}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FRAUD_"))} | aws | SMALL_WORLD
    session = boto3.Session(region_name=aws["AWS_REGION"])
    lines: dict[str, Produced] = {}
    with pytest.MonkeyPatch.context() as env:
        for key, value in aws.items():
            env.setenv(key, value)
        for args in PRODUCE_LINES:
            suffix = os.urandom(4).hex()
            resources = ResourceSettings(
                transactions_stream=f"readme-tx-{suffix}",
                labels_stream=f"readme-lb-{suffix}",
                lake_bucket=f"readme-lake-{suffix}",
                alerts_table=f"readme-al-{suffix}",
            )
            provision(resources, shards=1, session=session)
            workdir = tmp_path_factory.mktemp("readme-line")
            _write_replay_file(args, workdir)
            run = _bounded(args, datetime.now(UTC))
            process = subprocess.Popen(
                [sys.executable, "-m", "fraudstream", *run],
                env=base
                | {
                    "FRAUD_TRANSACTIONS_STREAM": resources.transactions_stream,
                    "FRAUD_LABELS_STREAM": resources.labels_stream,
                },
                cwd=workdir,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            lines[_line_id(args)] = Produced(run, resources, workdir, process)
        try:
            for line in lines.values():
                line.stdout, line.stderr = line.process.communicate(timeout=120)
        finally:
            for line in lines.values():
                line.process.kill()
        yield lines


def test_the_readme_has_produce_lines() -> None:
    # (guards the extraction: a change of the README's fences would otherwise leave nothing to run)
    assert len(PRODUCE_LINES) >= 4


@pytest.mark.parametrize("line", [_line_id(a) for a in PRODUCE_LINES], ids=[_line_id(a)[:60] for a in PRODUCE_LINES])
def test_a_readme_produce_line_lands_every_valid_record_in_the_lake(
    line: str,
    produced: dict[str, Produced],
    spark: Any,
    embedded_aws: EmbeddedAws,
    artifact_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in {**FAKE_ENV, "AWS_ENDPOINT_URL": embedded_aws.endpoint_url}.items():
        monkeypatch.setenv(key, value)
    session = boto3.Session()
    # GIVEN the README's line, run as a user runs it
    run = produced[line]
    assert run.process.returncode == 0, run.stderr
    records = read_stream(session.client("kinesis"), run.resources.transactions_stream)
    verdicts = [parse_transaction(r["Data"]) for r in records]
    valid = Counter(v["transaction_id"] for v in verdicts if not isinstance(v, InvalidRecord))
    invalid = sum(isinstance(v, InvalidRecord) for v in verdicts)
    assert valid, f"{' '.join(run.run)} sent no valid transaction: {run.stdout}"
    # none dated ahead of its arrival (the processor's rule, with a second where it allows five minutes)
    ahead = [
        (v["transaction_id"], v["event_time"], r["ApproximateArrivalTimestamp"])
        for v, r in zip(verdicts, records, strict=True)
        if not isinstance(v, InvalidRecord)
        and v["event_time"] > r["ApproximateArrivalTimestamp"] + timedelta(seconds=1)
    ]
    assert not ahead, ahead[:3]

    # WHEN the processor drains the streams until idle
    settings = ProcessorSettings(
        checkpoint_location=str(run.workdir / "checkpoint"),
        model_dir=str(artifact_path),
        trigger_interval="0 seconds",
        aggregates=False,
    )
    run_job(settings, run.resources, until_idle=True, spark=spark)

    # THEN every valid transaction is in the lake exactly once, and only the malformed records are quarantined
    s3 = session.client("s3")
    lake = read_parquet(s3, run.resources.lake_bucket, "transactions/")
    assert Counter(lake["transaction_id"]) == Counter(dict.fromkeys(valid, 1))
    quarantine = read_parquet(s3, run.resources.lake_bucket, "quarantine/")
    reasons = Counter(quarantine["reason"]) if len(quarantine) else Counter()
    assert "future_timestamp" not in reasons
    assert reasons.total() == invalid
