"""`fraudstream process` checks its options, streams and checkpoint before Spark starts: a mistake is
one line with what to do, never a traceback from inside the query."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import boto3
import pytest
import typer
from typer.testing import CliRunner

from fraudstream.config import ResourceSettings
from fraudstream.exceptions import ResourceNotFoundError
from fraudstream.local.provision import provision
from processor.cli import process
from processor.config import ProcessorSettings
from processor.exceptions import ProcessorError
from processor.history import read_history
from processor.job import run_job
from processor.kinesis_source import KinesisStreamReader

if TYPE_CHECKING:
    from pathlib import Path


def test_the_starting_position_the_help_documents_reaches_the_source() -> None:
    # GIVEN the forms of --starting-position: an ISO-8601 time (as --help shows it), with an offset,
    # without one (UTC), as the source's at_timestamp:, and the two names in any case
    expected = datetime(2026, 12, 4, 20, 16, 17, tzinfo=UTC).timestamp()
    for given in (
        "2026-12-04T20:16:17Z",
        "2026-12-04T21:16:17+01:00",
        "2026-12-04 20:16:17",
        "AT_TIMESTAMP:2026-12-04T20:16:17Z",
    ):
        # WHEN it becomes the source's option
        option = ProcessorSettings(starting_position=given).starting_position
        reader = KinesisStreamReader({"streamname": "s", "startingposition": option})
        # THEN the source starts at that time
        assert reader._initial_position() == f"AT_TIMESTAMP:{expected}", given
    assert ProcessorSettings(starting_position="TRIM_HORIZON").starting_position == "trim_horizon"
    assert ProcessorSettings(starting_position="Latest").starting_position == "latest"


def test_option_values_are_one_line_usage_errors() -> None:
    # GIVEN the process command
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("process")(process)
    app.command("noop")(lambda: None)
    for options, message in (
        (["--trigger-interval", "soon"], "--trigger-interval: 'soon' is not an interval"),
        (["--allowed-lateness", "10"], "--allowed-lateness: '10' is not an interval"),
        (["--starting-position", "yesterday"], "--starting-position: 'yesterday' is not a position: use trim_horizon"),
        (["--threshold", "2"], "--threshold: Input should be less than or equal to 1"),
    ):
        # WHEN it is given a value it cannot use
        result = CliRunner().invoke(app, ["process", *options], env={"COLUMNS": "200"})
        # THEN it stops at once with a usage error naming the option
        assert result.exit_code == 2, (options, result.output)
        assert message in " ".join(result.output.split()), (options, result.output)


@pytest.fixture
def resources(aws_env: dict[str, str]) -> ResourceSettings:
    """Streams, bucket and table of their own, provisioned on the emulator."""
    suffix = uuid.uuid4().hex[:8]
    resources = ResourceSettings(
        transactions_stream=f"opt-tx-{suffix}",
        labels_stream=f"opt-lb-{suffix}",
        lake_bucket=f"opt-lake-{suffix}",
        alerts_table=f"opt-al-{suffix}",
    )
    provision(resources, shards=1, session=boto3.Session())
    return resources


def test_a_missing_stream_or_history_stops_the_job_before_spark_starts(
    resources: ResourceSettings, artifact_path: Path, tmp_path: Path
) -> None:
    # GIVEN settings with a history file that does not exist, and resources naming a stream that does not
    settings = ProcessorSettings(checkpoint_location=str(tmp_path / "cp"), model_dir=str(artifact_path))
    no_history = settings.model_copy(update={"history": str(tmp_path / "none.csv")})
    no_stream = resources.model_copy(update={"labels_stream": "no-such-stream"})
    # WHEN the job runs (without a Spark session: it must not get as far as building one)
    with pytest.raises(ProcessorError, match="none.csv"):
        run_job(no_history, resources)
    with pytest.raises(ResourceNotFoundError, match="stream 'no-such-stream' does not exist") as e:
        run_job(settings, no_stream)
    # THEN each is an error with a hint
    assert "fraudstream local provision" in e.value.hint


def test_a_history_of_offset_less_times_is_refused_with_the_fix_or_read_as_utc_with_naive_times_utc(
    resources: ResourceSettings, artifact_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a history file whose event times have no UTC offset
    history = tmp_path / "history.csv"
    history.write_text(
        "transaction_id,event_time,card_id,terminal_id,amount,is_fraud\n"
        "t1,2026-11-01T10:00:00,c1,T1,12.5,0\n"
        "t2,2026-11-01T11:30:00,c1,T2,99.0,1\n"
    )
    settings = ProcessorSettings(
        checkpoint_location=str(tmp_path / "cp"), model_dir=str(artifact_path), history=str(history)
    )
    # WHEN the job starts from it: THEN it stops before Spark starts, naming the flag that fixes it
    with pytest.raises(ProcessorError) as refused:
        run_job(settings, resources)
    assert "--naive-times-utc" in str(refused.value.hint)
    # WHEN `process --history ... --naive-times-utc` is given: THEN the job is asked to read them as UTC
    asked: list[ProcessorSettings] = []
    monkeypatch.setattr("processor.job.run_job", lambda given, *_, **__: asked.append(given))
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("process")(process)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["process", "--history", str(history), "--naive-times-utc"])
    assert asked and asked[0].history_naive_times_utc, result.output
    # and such a history is read with its times in UTC
    read = read_history(str(history), naive_times_utc=asked[0].history_naive_times_utc)
    assert list(read["event_time"]) == [
        datetime(2026, 11, 1, 10, tzinfo=UTC),
        datetime(2026, 11, 1, 11, 30, tzinfo=UTC),
    ]


def _process(env: dict[str, str], cwd: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fraudstream", "process", "--until-idle", *options],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_checkpoint_of_streams_since_created_again_is_refused_or_reset(
    resources: ResourceSettings, aws_env: dict[str, str], artifact_path: Path, tmp_path: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FRAUD_"))},
        **aws_env,
        "FRAUD_TRANSACTIONS_STREAM": resources.transactions_stream,
        "FRAUD_LABELS_STREAM": resources.labels_stream,
        "FRAUD_LAKE_BUCKET": resources.lake_bucket,
        "FRAUD_ALERTS_TABLE": resources.alerts_table,
    }
    # GIVEN a checkpoint of these streams' names, written when they were created at another time
    # (the emulator restarted since, say), and a second copy of it
    stale = {
        "streams": {
            name: {"initial": "TRIM_HORIZON", "created": 1.5, "shards": {"shardId-000000000000": {"pos": "AFTER:9"}}}
            for name in (resources.labels_stream, resources.transactions_stream)
        }
    }
    for folder in ("stale", "reset"):
        (tmp_path / folder / "offsets").mkdir(parents=True)
        (tmp_path / folder / "offsets" / "0").write_text("v1\n{}\n" + json.dumps(stale) + "\n")
    # WHEN the processor runs on it, and on the copy with --reset-checkpoint (a missing model then
    # stops it, before Spark starts)
    runs = {
        "stale": _process(env, tmp_path, "--checkpoint", str(tmp_path / "stale"), "--model", str(artifact_path)),
        "reset": _process(
            env, tmp_path, "--checkpoint", str(tmp_path / "reset"), "--reset-checkpoint", "--model", "no-such-model"
        ),
    }
    done = {name: (run.wait(120), *run.communicate()) for name, run in runs.items()}

    # THEN the first is an error that says what differs and what to do, without a traceback
    returncode, stdout, stderr = done["stale"]
    assert returncode == 1, (stdout, stderr)
    assert "Traceback" not in stderr and "processed" not in stdout + stderr
    text = " ".join(stderr.split())
    assert f"reads stream '{resources.labels_stream}' created at 1970-01-01T00:00:01.500000+00:00" in text, stderr
    assert "--reset-checkpoint" in text and "--checkpoint FOLDER" in text
    # and the reset said so and deleted the checkpoint
    returncode, stdout, stderr = done["reset"]
    assert returncode == 1 and "Traceback" not in stderr
    assert f"deleted checkpoint {tmp_path / 'reset'} (--reset-checkpoint)" in stderr
    assert "no model at no-such-model" in stderr
    assert not (tmp_path / "reset").exists()
    assert (tmp_path / "stale" / "offsets" / "0").exists()
