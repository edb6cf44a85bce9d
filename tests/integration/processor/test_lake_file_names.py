"""Lake files never collide across queries: two checkpoints over different records of the same
streams both keep all their rows, although each query's first batch is batch 0.

A lake file is named `batch-<id>-<partition>-<query>.parquet`, the query id being the one Spark
keeps in the checkpoint; named by batch and partition only, the second query's batch 0 would
overwrite the first one's files in every hour folder they share.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from fraudstream.local.provision import provision
from processor.config import ProcessorSettings
from processor.job import run_job
from synthetic.generator import GeneratorConfig, generate_history
from tests.lake_reader import read_parquet
from tests.processor_runs import alert_ids, put_transactions

if TYPE_CHECKING:
    from pathlib import Path

    import boto3

    from fraudstream.config import ResourceSettings

pytestmark = pytest.mark.integration


def _query_id(checkpoint: Path) -> str:
    """The query id Spark wrote into the checkpoint (read here, not with the job's own reader)."""
    return str(json.loads((checkpoint / "metadata").read_text())["id"])


def _file_name(key: str) -> tuple[int, int, str]:
    """`.../batch-<id>-<partition>-<query>.parquet` -> (id, partition, query)."""
    batch, partition, query = key.rsplit("/", 1)[1].removesuffix(".parquet").removeprefix("batch-").split("-")
    return int(batch), int(partition), query


def test_two_checkpoints_over_different_records_both_keep_all_their_rows(
    spark: Any,
    aws_env: dict[str, str],
    boto_session: boto3.Session,
    unique_resources: ResourceSettings,
    artifact_path: Path,
    tmp_path: Path,
) -> None:
    resources = unique_resources
    provision(resources, shards=2, session=boto_session)

    def put(rows: pd.DataFrame) -> None:
        put_transactions(boto_session, resources.transactions_stream, rows, tmp_path / "dl.jsonl")

    def settings(checkpoint: Path, **more: Any) -> ProcessorSettings:
        return ProcessorSettings(
            checkpoint_location=str(checkpoint),
            model_dir=str(artifact_path),
            trigger_interval="0 seconds",
            aggregates=False,
            threshold=0.0,  # every row is an alert: both runs write alerts
            **more,
        )

    # GIVEN a day of a small world, in two halves A and B that share the hour folders of the lake
    day = generate_history(GeneratorConfig(seed=3, n_cards=60, n_terminals=30, n_cities=2), date(2026, 11, 9), 1)
    a, b = day.iloc[::2], day.iloc[1::2]
    assert len(a) > 50 and len(b) > 50
    # AND A in the streams, drained by a query on checkpoint 1 (from the streams' start)
    put(a)
    first, second = tmp_path / "checkpoint-1", tmp_path / "checkpoint-2"
    run_job(settings(first), resources, until_idle=True, spark=spark)
    # AND B put after a moment that A arrived before (a whole second: any timestamp precision keeps it)
    between = datetime.fromtimestamp(math.ceil(time.time()), UTC)
    while datetime.now(UTC) <= between:
        time.sleep(0.01)
    put(b)

    # WHEN a query on a new checkpoint 2 drains the streams from that moment on
    run_job(settings(second, starting_position=between.isoformat()), resources, until_idle=True, spark=spark)

    # THEN the lake holds every row of A and of B exactly once
    lake = read_parquet(boto_session.client("s3"), resources.lake_bucket, "transactions/")
    assert Counter(lake["transaction_id"]) == Counter([*a["transaction_id"], *b["transaction_id"]])
    # AND each half sits in its own query's files, and both queries wrote a batch 0 to the same
    # folders and partitions: named by batch and partition only, those files would have collided
    names = pd.DataFrame(lake["key"].map(_file_name).tolist(), columns=["batch", "partition", "query"])
    names["folder"] = lake["key"].str.rsplit("/", n=1).str[0]
    query = dict(zip(lake["transaction_id"], names["query"], strict=True))
    assert {query[t] for t in a["transaction_id"]} == {_query_id(first)[:8]}
    assert {query[t] for t in b["transaction_id"]} == {_query_id(second)[:8]}
    old_names = {
        q: set(zip(rows["folder"], rows["batch"], rows["partition"], strict=True))
        for q, rows in names[names["batch"] == 0].groupby("query")
    }
    assert len(old_names) == 2
    assert set.intersection(*old_names.values())
    # AND the alerts table holds both queries' alerts
    assert alert_ids(boto_session, resources.alerts_table) == sorted([*a["transaction_id"], *b["transaction_id"]])
