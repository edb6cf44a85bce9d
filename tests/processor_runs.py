"""Feeding the streams, running `fraudstream process` as a user does, in a process of its own that a
test can kill, and reading back what it wrote (the crash tests)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from ml_model.features import FEATURE_SPEC
from tests.lake_reader import read_parquet

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from fraudstream.config import ResourceSettings

__all__ = [
    "LABEL",
    "ROW",
    "WINDOW",
    "ProcessRun",
    "alert_ids",
    "crashed_and_reference",
    "lake_batch_ids",
    "lake_labels",
    "lake_rows",
    "lake_windows",
    "put_transactions",
    "run_process",
]

# What a row is, whatever batch wrote it.
ROW = ["transaction_id", "card_id", "event_time", "amount", "score", "is_alert", *FEATURE_SPEC.names]
WINDOW = ["card_id", "window_start", "window_end", "tx_count", "amount_sum", "amount_mean", "amount_max"]
# What a chargeback in the lake is, whatever batch wrote it: the contract's fields and its record.
LABEL = [
    "transaction_id",
    "sequence_number",
    "card_id",
    "terminal_id",
    "tx_event_time",
    "label_time",
    "is_fraud",
    "stream_name",
    "shard_id",
    "arrival_time",
]


def crashed_and_reference(session: boto3.Session, prefix: str) -> tuple[ResourceSettings, ResourceSettings]:
    """Two runs over the same streams (2 shards), provisioned, each with its own lake and alerts
    table: the one a test kills, and the uninterrupted one it is compared with."""
    from fraudstream.config import ResourceSettings
    from fraudstream.local.provision import provision

    streams = {"transactions_stream": f"{prefix}-tx", "labels_stream": f"{prefix}-labels"}
    crashed = ResourceSettings(**streams, lake_bucket=f"{prefix}-crash-lake", alerts_table=f"{prefix}-crash-alerts")
    reference = ResourceSettings(
        **streams, lake_bucket=f"{prefix}-reference-lake", alerts_table=f"{prefix}-reference-alerts"
    )
    for resources in (crashed, reference):
        provision(resources, shards=2, session=session)
    return crashed, reference


def put_transactions(session: boto3.Session, stream: str, rows: pd.DataFrame, dead_letter: Path) -> None:
    """The rows' transactions on `stream` as the producer sends them (keyed by card), all delivered."""
    from producer.dead_letter import DeadLetterFile
    from producer.delivery import encode_transactions
    from producer.kinesis_writer import KinesisWriter

    writer = KinesisWriter(stream, dead_letter=DeadLetterFile(dead_letter), client=session.client("kinesis"))
    for data, card in zip(encode_transactions(rows), rows["card_id"], strict=True):
        writer.put(card, data)
    writer.flush()


def read_lake_table(s3: Any, bucket: str, prefix: str, columns: list[str]) -> pd.DataFrame:
    rows = read_parquet(s3, bucket, prefix, columns)
    return rows.sort_values(columns[:2]).reset_index(drop=True)


def lake_rows(s3: Any, bucket: str) -> pd.DataFrame:
    return read_lake_table(s3, bucket, "transactions/", ROW)


def lake_windows(s3: Any, bucket: str) -> pd.DataFrame:
    return read_lake_table(s3, bucket, "aggregates/", WINDOW)


def lake_labels(s3: Any, bucket: str) -> pd.DataFrame:
    return read_lake_table(s3, bucket, "labels/", LABEL)


def alert_ids(session: boto3.Session, table: str) -> list[str]:
    """Every alert's transaction id (a scan answers at most 1 MB a page: all the pages)."""
    pages = (
        session.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=table, ConsistentRead=True, ProjectionExpression="transaction_id")
    )
    return sorted(item["transaction_id"]["S"] for page in pages for item in page["Items"])


def lake_batch_ids(s3: Any, bucket: str) -> set[int]:
    """The ids of the batches with a file in the lake (`.../batch-<id>-<partition>-<query>.parquet`)."""
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="transactions/")
        for o in page.get("Contents", [])
    ]
    return {int(k.rsplit("/batch-", 1)[1].split("-", 1)[0]) for k in keys}


def _spark_log(checkpoint: Path) -> Path:
    """Where the runs on `checkpoint` append Spark's own output (beside it, not in the working directory)."""
    return checkpoint.with_name(f"{checkpoint.name}-spark.log")


def _process(env: dict[str, str], checkpoint: Path, model: Path, options: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "fraudstream", "process", "--until-idle", "--checkpoint", str(checkpoint)]
        + ["--model", str(model), "--trigger-interval", "0 seconds", "--spark-log", str(_spark_log(checkpoint))]
        + list(options),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@dataclass(frozen=True)
class ProcessRun:
    """One run of `fraudstream process`, from its start to its exit (or kill)."""

    returncode: int
    output: str
    new_batches: set[int]  # ids of the batches that landed in the lake during the run and not before it
    recover_s: float | None  # from the start to the first of them landing (seen by a 0.1 s poll)


def run_process(
    env: dict[str, str], checkpoint: Path, model: Path, options: list[str], *, kill_after: int | None
) -> ProcessRun:
    """Run `fraudstream process --until-idle` on the checkpoint with further `options`; with
    `kill_after`, SIGKILL it once that many new batches landed in the lake."""
    s3 = boto3.Session().client("s3")
    bucket = env["FRAUD_LAKE_BUCKET"]
    before = lake_batch_ids(s3, bucket)
    started = time.monotonic()
    process = _process(env, checkpoint, model, options)
    output: list[bytes] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout or []), daemon=True)
    reader.start()
    recover_s: float | None = None
    landed = threading.Event()
    while process.poll() is None and not landed.wait(0.1):
        new = lake_batch_ids(s3, bucket) - before
        if new and recover_s is None:
            recover_s = time.monotonic() - started
        if kill_after is not None and len(new) >= kill_after:
            landed.set()
    if kill_after is not None:
        process.send_signal(signal.SIGKILL)
    returncode = process.wait(60)
    reader.join(10)
    assert process.stdout is not None
    process.stdout.close()
    new = lake_batch_ids(s3, bucket) - before
    if new and recover_s is None:  # landed in the last poll interval before the exit
        recover_s = time.monotonic() - started
    printed = b"".join(output).decode(errors="replace")[-3000:]
    log = _spark_log(checkpoint)
    spark = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    return ProcessRun(returncode, f"{printed}\n--- Spark's output (end) ---\n{spark}", new, recover_s)
