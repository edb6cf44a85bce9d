"""What `fraudstream process` prints, run as a user runs it: its own lines only; Spark's and its
Python workers' output goes to the Spark log file, and `--log-format json` is JSON on every line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import date
from typing import TYPE_CHECKING

import boto3
import pytest

from fraudstream.config import ResourceSettings
from fraudstream.local.provision import provision
from processor.local_spark import SHORT_RUN_JAVA_OPTIONS
from producer.dead_letter import DeadLetterFile
from producer.delivery import DeliveryConfig, deliveries
from producer.kinesis_writer import KinesisWriter
from synthetic.generator import GeneratorConfig, generate_history

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration


def _provisioned_backlog(aws_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Streams, bucket and table of their own with a few transactions in the stream; the environment
    of a `fraudstream` process that uses them."""
    suffix = uuid.uuid4().hex[:8]
    resources = ResourceSettings(
        transactions_stream=f"out-tx-{suffix}",
        labels_stream=f"out-lb-{suffix}",
        lake_bucket=f"out-lake-{suffix}",
        alerts_table=f"out-al-{suffix}",
    )
    session = boto3.Session()
    provision(resources, shards=1, session=session)
    history = generate_history(GeneratorConfig(seed=5, n_cards=20, n_terminals=20, n_cities=2), date(2026, 11, 9), 1)
    writer = KinesisWriter(
        resources.transactions_stream,
        dead_letter=DeadLetterFile(tmp_path / "dl.jsonl"),
        client=session.client("kinesis"),
    )
    for d in deliveries([history.iloc[:40]], DeliveryConfig(seed=5, emit_labels=False)):
        writer.put(d.partition_key, d.data)
    writer.flush()
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FRAUD_"))},
        **aws_env,
        "FRAUD_TRANSACTIONS_STREAM": resources.transactions_stream,
        "FRAUD_LABELS_STREAM": resources.labels_stream,
        "FRAUD_LAKE_BUCKET": resources.lake_bucket,
        "FRAUD_ALERTS_TABLE": resources.alerts_table,
        "SPARK_SUBMIT_OPTS": SHORT_RUN_JAVA_OPTIONS,  # a run of seconds
        "COLUMNS": "40",  # a narrow terminal: the summary is still one line
    }


def _process(
    env: dict[str, str], tmp_path: Path, model: Path, *, before: tuple[str, ...] = (), after: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fraudstream", *before, "process", "--until-idle", "--trigger-interval", "0 seconds"]
        + ["--checkpoint", str(tmp_path / "checkpoint"), "--model", str(model), *after],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.timeout(600)
def test_json_mode_is_json_on_every_line_and_spark_talks_to_its_log_file(
    aws_env: dict[str, str], artifact_path: Path, tmp_path: Path
) -> None:
    # GIVEN a stream with 40 transactions
    env = _provisioned_backlog(aws_env, tmp_path)
    # WHEN `fraudstream --log-format json process --until-idle` drains it
    run = _process(env, tmp_path, artifact_path, before=("--log-format", "json"))
    # THEN it succeeds, and every line on stderr is a JSON object with a level and a message
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert lines
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not JSON on stderr: {line!r}\n{run.stderr}")
    assert all({"level", "message"} <= r.keys() for r in records), records
    # the summary among them, with its figures as keys
    summary = next(r for r in records if r["message"] == "processor stopped")
    assert summary["records"] == 40 and summary["transactions"] == 40 and summary["batches"] >= 1
    # and Spark's own output (log4j, the Python workers' lines) is in the log file the run named
    log_file = next(r for r in records if "spark_log" in r)["spark_log"]
    assert (tmp_path / log_file).read_text(errors="replace").strip()


@pytest.mark.timeout(600)
def test_text_mode_prints_no_spark_chatter_and_a_one_line_summary(
    aws_env: dict[str, str], artifact_path: Path, tmp_path: Path
) -> None:
    # GIVEN a stream with 40 transactions, and a 40-column terminal
    env = _provisioned_backlog(aws_env, tmp_path)
    # WHEN `fraudstream process --until-idle` drains it with a Spark log file of the user's choice
    run = _process(env, tmp_path, artifact_path, after=("--spark-log", "my-spark.log"))
    # THEN nothing of Spark's or its Python workers' output is on the terminal
    assert run.returncode == 0, run.stderr
    for chatter in ("Python worker", "StructField", "log4j", "Setting default log level"):
        assert chatter not in run.stderr, run.stderr
    assert not re.search(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (INFO|WARN|ERROR) ", run.stderr, re.MULTILINE), run.stderr
    # (the run's own log lines are there, on stderr like every log line)
    assert "processor started" in run.stderr and "my-spark.log" in run.stderr, run.stderr
    assert "Streaming TransformWithStateInPandas" in (tmp_path / "my-spark.log").read_text(errors="replace")
    # and the summary is one line, however narrow the terminal
    summary = [line for line in run.stderr.splitlines() if line.startswith("processed ")]
    assert len(summary) == 1 and "40 records" in summary[0] and summary[0].endswith("scored by the fallback"), (
        run.stderr
    )
