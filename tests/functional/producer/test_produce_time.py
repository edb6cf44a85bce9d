"""`fraudstream produce`'s time model as a user meets it: no event ahead of the clock, and a
`--duration` that ends the run on time however sparse the world's events are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tests.kinesis_reader import read_stream

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import boto3


def _produce(args: list[str], env: dict[str, str], stream: str, labels: str) -> tuple[float, str, str, int]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "fraudstream", "produce", *args, "--stream", stream, "--labels-stream", labels],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return time.monotonic() - started, result.stdout, result.stderr, result.returncode


def _seconds_ahead_of_arrival(records: list[dict[str, object]]) -> list[float]:
    """Per record, how far its event time is after the moment it reached the stream."""
    out = []
    for r in records:
        event = json.loads(r["Data"])  # type: ignore[arg-type]
        arrival = r["ApproximateArrivalTimestamp"]
        assert isinstance(arrival, datetime)
        out.append((datetime.fromisoformat(event["event_time"]) - arrival).total_seconds())
    return out


def test_a_live_burst_is_stamped_as_it_is_sent(
    aws_env: dict[str, str], boto_session: boto3.Session, stream_factory: Callable[..., str]
) -> None:
    # GIVEN the run: 3,000 live transactions at 3,000 a second
    stream, labels = stream_factory(), stream_factory()
    elapsed, out, err, code = _produce(["--count", "3000", "--tps", "3000"], aws_env, stream, labels)
    assert code == 0, err
    # THEN they went out in about a second, each stamped at most a second before it arrived, never after
    records = read_stream(boto_session.client("kinesis"), stream)
    assert len(records) == 3000
    ahead = _seconds_ahead_of_arrival(records)
    assert -2.0 < min(ahead) and max(ahead) <= 0.0
    assert "(count)" in out


def test_duration_ends_the_run_on_time_and_records_go_out_meanwhile(
    aws_env: dict[str, str], boto_session: boto3.Session, stream_factory: Callable[..., str]
) -> None:
    kinesis = boto_session.client("kinesis")
    # GIVEN a sparse live world (the run: its next event is minutes or hours away)
    stream, labels = stream_factory(), stream_factory()
    # WHEN it runs for 3 s
    elapsed, out, err, code = _produce(["--cards", "50", "--duration", "3"], aws_env, stream, labels)
    # THEN it ends within a few seconds of that (the process's own start-up included), with nothing ahead of the clock
    assert code == 0, err
    assert "(duration)" in out and elapsed < 3 + 5
    assert all(s <= 0.0 for s in _seconds_ahead_of_arrival(read_stream(kinesis, stream)))

    # AND a paced live run of 3 s sends records all along, on time as well
    stream, labels = stream_factory(), stream_factory()
    elapsed, out, err, code = _produce(["--cards", "50", "--tps", "50", "--duration", "3"], aws_env, stream, labels)
    assert code == 0, err
    assert "(duration)" in out and elapsed < 3 + 5
    records = read_stream(kinesis, stream)
    assert 50 <= len(records) <= 160
    assert all(s <= 0.0 for s in _seconds_ahead_of_arrival(records))


def test_options_that_would_run_ahead_of_the_clock_get_one_line(aws_env: dict[str, str]) -> None:
    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d")
    for args, says in (
        (["--start", later, "--days", "1"], "is after the present"),
        (["--speedup", "0", "--count", "10"], "cannot go as fast as possible"),
    ):
        elapsed, out, err, code = _produce(args, aws_env, "never-created", "never-created")
        assert code == 1 and says in err and "hint:" in err and "Traceback" not in err, err


def test_a_replay_keeps_its_times_and_says_how_many_rows_are_ahead_of_the_clock(
    aws_env: dict[str, str], boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN a file of two rows in the past and one dated tomorrow
    now = datetime.now(UTC)
    times = [now - timedelta(hours=2), now - timedelta(hours=1), now + timedelta(days=1)]
    rows = [f"tx-{i},{t:%Y-%m-%dT%H:%M:%S.%f}Z,card-1,term-1,{10 + i}.5" for i, t in enumerate(times)]
    path = tmp_path / "replay.csv"
    path.write_text("transaction_id,event_time,card_id,terminal_id,amount\n" + "\n".join(rows) + "\n")
    stream, labels = stream_factory(), stream_factory()
    # WHEN it is replayed
    _, _, err, code = _produce(["--from", str(path), "--speedup", "0"], aws_env, stream, labels)
    # THEN every row goes out with its own time, and one line says that one of them is ahead of the clock
    assert code == 0, err
    sent = [json.loads(r["Data"]) for r in read_stream(boto_session.client("kinesis"), stream)]
    assert [e["transaction_id"] for e in sent] == ["tx-0", "tx-1", "tx-2"]
    assert f"1 row(s) of {path} are dated after now" in " ".join(err.split())
