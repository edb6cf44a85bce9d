"""`fraudstream produce` as a user runs it: a real process against the embedded emulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

from synthetic.generator import GeneratorConfig, generate_history
from tests.kinesis_reader import read_stream

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import boto3


def _run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fraudstream", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_count_records_are_all_in_the_stream(
    aws_env: dict[str, str], boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN two streams
    stream, labels = stream_factory(), stream_factory()
    # WHEN 3,000 records are produced as fast as possible with messiness
    result = _run(
        [
            "produce",
            "--count",
            "3000",
            "--speedup",
            "0",
            "--days",
            "30",
            "--cards",
            "500",
            "--terminals",
            "1000",
            "--duplicate-share",
            "0.01",
            "--malformed-share",
            "0.01",
            "--stream",
            stream,
            "--labels-stream",
            labels,
            "--dead-letter",
            str(tmp_path / "dl.jsonl"),
        ],
        aws_env,
    )
    # THEN it exits 0 with a summary, and the stream holds exactly 3,000 records
    assert result.returncode == 0, result.stderr
    assert "(count)" in result.stdout
    assert len(read_stream(boto_session.client("kinesis"), stream)) == 3000
    assert not (tmp_path / "dl.jsonl").exists()


def test_replay_of_a_file_in_event_order_with_a_column_map(
    aws_env: dict[str, str], boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN a CSV with other column names, shuffled
    frame = generate_history(GeneratorConfig(seed=9, n_cards=50, n_terminals=100, fraud_rate=0.05), date(2026, 2, 1), 2)
    path = tmp_path / "history.csv"
    shuffled = frame.sample(frac=1.0, random_state=1).rename(columns={"transaction_id": "tx_id", "amount": "amt"})
    shuffled["event_time"] = shuffled["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    shuffled.to_csv(path, index=False)
    stream, labels = stream_factory(), stream_factory()
    # WHEN it is replayed
    result = _run(
        [
            "produce",
            "--from",
            str(path),
            "--column-map",
            "transaction_id=tx_id",
            "--column-map",
            "amount=amt",
            "--speedup",
            "0",
            "--stream",
            stream,
            "--labels-stream",
            labels,
            "--label-delay-days",
            "1",
        ],
        aws_env,
    )
    assert result.returncode == 0, result.stderr
    # THEN every transaction is in the stream once, each card's in event-time order
    read = read_stream(boto_session.client("kinesis"), stream)
    events = [json.loads(r["Data"]) for r in sorted(read, key=lambda r: (r["ShardId"], int(r["SequenceNumber"])))]
    assert sorted(e["transaction_id"] for e in events) == sorted(frame["transaction_id"])
    per_card: dict[str, list[str]] = defaultdict(list)
    for e in events:
        per_card[e["card_id"]].append(e["event_time"])
    assert all(times == sorted(times) for times in per_card.values())
    # and each fraud got its chargeback on the labels stream
    charged = {json.loads(r["Data"])["transaction_id"] for r in read_stream(boto_session.client("kinesis"), labels)}
    assert charged == set(frame.loc[frame["is_fraud"] == 1, "transaction_id"])


def test_replay_of_a_file_with_bad_rows_is_refused_or_sends_only_its_good_rows(
    aws_env: dict[str, str], boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN a CSV with two bad rows among good ones, and a zero-amount authorisation (valid)
    frame = generate_history(GeneratorConfig(seed=9, n_cards=20, n_terminals=30, fraud_rate=0.05), date(2026, 2, 1), 1)
    frame = frame.astype({"event_time": object})
    frame.loc[2, "amount"] = -1.0  # row 4, the header being row 1
    frame.loc[7, "event_time"] = "not a time"  # row 9
    frame.loc[5, "amount"] = 0.0
    path = tmp_path / "history.csv"
    frame.to_csv(path, index=False)
    stream, labels = stream_factory(), stream_factory()
    args = ["produce", "--from", str(path), "--speedup", "0", "--stream", stream, "--labels-stream", labels]
    # WHEN it is replayed
    strict = _run(args, aws_env)
    # THEN it is refused in one line naming the first bad row, and nothing is sent
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    assert (
        "row 4, column 'amount' = -1.0: amount -1.0 must be >= 0 and <= 1,000,000 (2 invalid rows in all)"
        in strict.stderr
    )
    assert "--skip-invalid" in strict.stderr
    assert read_stream(boto_session.client("kinesis"), stream) == []
    # WHEN it is replayed skipping invalid rows
    skipping = _run([*args, "--skip-invalid"], aws_env)
    # THEN the bad rows are reported, and exactly the good ones are on the stream, the zero amount among them
    assert skipping.returncode == 0, skipping.stderr
    report = f"skipped 2 invalid rows of {len(frame):,}: bad_timestamp 1 (row 9), out_of_range 1 (row 4)"
    assert report in skipping.stderr
    events = {
        e["transaction_id"]: e
        for e in (json.loads(r["Data"]) for r in read_stream(boto_session.client("kinesis"), stream))
    }
    assert set(events) == set(frame["transaction_id"]) - {
        frame.loc[2, "transaction_id"],
        frame.loc[7, "transaction_id"],
    }
    assert events[frame.loc[5, "transaction_id"]]["amount"] == 0.0


def test_replay_of_offset_less_utc_times_is_refused_with_the_fix_or_sent_with_naive_times_utc(
    aws_env: dict[str, str], boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN a Parquet file whose event times are UTC timestamps without a zone
    frame = generate_history(GeneratorConfig(seed=9, n_cards=20, n_terminals=30, fraud_rate=0.05), date(2026, 2, 1), 1)
    path = tmp_path / "history.parquet"
    frame.assign(event_time=frame["event_time"].dt.tz_convert(None)).to_parquet(path)
    stream, labels = stream_factory(), stream_factory()
    args = ["produce", "--from", str(path), "--speedup", "0", "--stream", stream, "--labels-stream", labels]
    # WHEN it is replayed as it is
    strict = _run(args, aws_env)
    # THEN it is refused in one line naming the flag that reads the times as UTC, and nothing is sent
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    assert "row 0, column 'event_time'" in strict.stderr and "must carry a UTC offset" in strict.stderr
    assert "--naive-times-utc" in strict.stderr
    assert read_stream(boto_session.client("kinesis"), stream) == []
    # WHEN it is replayed with --naive-times-utc
    replayed = _run([*args, "--naive-times-utc"], aws_env)
    # THEN every row is on the stream, its time the file's read as UTC
    assert replayed.returncode == 0, replayed.stderr
    sent = {
        e["transaction_id"]: e["event_time"]
        for e in (json.loads(r["Data"]) for r in read_stream(boto_session.client("kinesis"), stream))
    }
    expected = dict(zip(frame["transaction_id"], frame["event_time"], strict=True))
    assert sent.keys() == expected.keys()
    assert all(pd.Timestamp(sent[k]) == expected[k] for k in sent)


def test_user_mistakes_get_one_line_and_a_non_zero_exit(aws_env: dict[str, str], tmp_path: Path) -> None:
    missing = _run(["produce", "--count", "1", "--stream", "nope"], aws_env)
    assert missing.returncode == 1
    assert "stream 'nope' does not exist" in missing.stderr and "fraudstream local provision" in missing.stderr
    assert "Traceback" not in missing.stderr

    unreachable = _run(
        ["produce", "--count", "1"], {**aws_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}
    )
    assert unreachable.returncode == 1
    assert "cannot reach the AWS endpoint" in unreachable.stderr and "Traceback" not in unreachable.stderr

    env = {k: v for k, v in aws_env.items() if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")}
    no_creds = subprocess.run(
        [sys.executable, "-m", "fraudstream", "produce", "--count", "1"],
        env={k: v for k, v in os.environ.items() if not k.startswith(("AWS_ACCESS", "AWS_SECRET"))} | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert no_creds.returncode == 1 and "no AWS credentials" in no_creds.stderr

    # a path longer than the terminal (80 columns without one): the error is still one line
    long_path = tmp_path / ("a-long-temporary-folder-name-" * 4) / "none.csv"
    bad_file = _run(["produce", "--from", str(long_path)], aws_env)
    assert bad_file.returncode == 1 and "Traceback" not in bad_file.stderr
    assert f"error: {long_path}: no such file" in bad_file.stderr.splitlines(), bad_file.stderr

    verbose = _run(["--verbose", "produce", "--count", "1", "--stream", "nope"], aws_env)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_sigint_flushes_and_exits_zero_with_a_summary(
    aws_env: dict[str, str], boto_session: boto3.Session, stream_factory: Callable[..., str]
) -> None:
    stream, labels = stream_factory(), stream_factory()
    kinesis = boto_session.client("kinesis")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fraudstream",
            "produce",
            "--tps",
            "300",
            "--speedup",
            "0",
            "--cards",
            "300",
            "--terminals",
            "600",
            "--stream",
            stream,
            "--labels-stream",
            labels,
        ],
        env={**os.environ, **aws_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # WHEN records are flowing and the user presses Ctrl-C
        deadline = time.monotonic() + 60
        while len(read_stream(kinesis, stream)) < 100:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.communicate()
    # THEN it exits 0 with a summary, and every record it counted as sent is in the stream
    assert proc.returncode == 0, err
    assert "(signal)" in out
    sent = int(
        next(line for line in out.splitlines() if line.strip().startswith("transactions")).split()[2].replace(",", "")
    )
    assert sent == len(read_stream(kinesis, stream)) >= 100


def test_a_dead_letter_file_can_be_redriven(
    aws_env: dict[str, str], boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN a dead-letter file written by a writer whose records all failed
    from producer.dead_letter import DeadLetterFile

    stream = stream_factory()
    dead = DeadLetterFile(tmp_path / "dl.jsonl")
    payloads = [json.dumps({"n": i}).encode() for i in range(30)]
    for i, data in enumerate(payloads):
        dead.write(
            stream=stream,
            partition_key=f"card-{i % 3}",
            data=data,
            error_code="InternalFailure",
            error_message="x",
            attempts=8,
        )
    dead.close()
    # WHEN it is redriven
    result = _run(["produce", "--redrive", str(tmp_path / "dl.jsonl")], aws_env)
    # THEN every record is in its stream and the file is marked as done
    assert result.returncode == 0, result.stderr
    assert sorted(r["Data"] for r in read_stream(boto_session.client("kinesis"), stream)) == sorted(payloads)
    assert (tmp_path / "dl.jsonl.redriven").exists() and not (tmp_path / "dl.jsonl").exists()
