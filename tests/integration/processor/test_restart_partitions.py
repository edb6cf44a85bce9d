"""A restarted query finds its state under the stage keys its checkpoint started with, even when the
session now has another number of shuffle partitions (Spark keeps the checkpoint's; the job names
its stage keys for those, `processor.job`). Named for the session's, every card and terminal whose
key name changed would restart with an empty history, and its features would be wrong."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from fraudstream.local.provision import provision
from ml_model.features import FEATURE_SPEC, compute_features
from processor.config import ProcessorSettings
from processor.job import run_job
from processor.records import bucket_routes, stage_keys
from synthetic.generator import GeneratorConfig, generate_history
from tests.lake_reader import read_parquet
from tests.model_fixtures import with_label_delay
from tests.processor_runs import put_transactions

if TYPE_CHECKING:
    from pathlib import Path

    import boto3

    from fraudstream.config import ResourceSettings

pytestmark = pytest.mark.integration

LABEL_DELAY_DAYS = 1.0
PARTITIONS = "spark.sql.shuffle.partitions"


def test_a_restart_under_other_shuffle_partitions_keeps_every_cards_and_terminals_history(
    spark: Any,
    aws_env: dict[str, str],
    boto_session: boto3.Session,
    unique_resources: ResourceSettings,
    artifact_path: Path,
    tmp_path: Path,
) -> None:
    resources = unique_resources
    provision(resources, shards=2, session=boto_session)
    settings = ProcessorSettings(
        checkpoint_location=str(tmp_path / "checkpoint"),
        model_dir=str(with_label_delay(artifact_path, LABEL_DELAY_DAYS, tmp_path / "model")),
        trigger_interval="0 seconds",
        aggregates=False,
    )
    # GIVEN two days of a small world; the first drained by a query on a new checkpoint
    days = generate_history(GeneratorConfig(seed=11, n_cards=40, n_terminals=20, n_cities=2), date(2026, 4, 1), 2)
    cut = pd.Timestamp("2026-04-02", tz="UTC")
    first, second = days[days["event_time"] < cut], days[days["event_time"] >= cut]
    put_transactions(boto_session, resources.transactions_stream, first, tmp_path / "dl.jsonl")
    run_job(settings, resources, until_idle=True, spark=spark)
    before = int(spark.conf.get(PARTITIONS))

    # WHEN the session's shuffle partitions change, and the job, restarted on its checkpoint, drains the second day
    put_transactions(boto_session, resources.transactions_stream, second, tmp_path / "dl.jsonl")
    spark.conf.set(PARTITIONS, str(before + 1))
    try:
        run_job(settings, resources, until_idle=True, spark=spark)
    finally:
        spark.conf.set(PARTITIONS, str(before))

    # THEN every transaction of the second day has the features both days give it offline (no
    # chargebacks were streamed: no fraud is known to either)
    lake = read_parquet(boto_session.client("s3"), resources.lake_bucket, "transactions/").set_index("transaction_id")
    assert len(lake) == len(days)
    offline = compute_features(days.assign(is_fraud=0), label_delay_days=LABEL_DELAY_DAYS)
    offline = offline.set_index(days["transaction_id"])
    ids, names = second["transaction_id"], list(FEATURE_SPEC.names)
    streamed = lake.loc[ids, names].to_numpy(dtype=np.float64)
    np.testing.assert_allclose(streamed, offline.loc[ids, names].to_numpy(), rtol=1e-9, atol=1e-6)
    # AND they reach back into the first day under every card key of the checkpoint: each card's
    # first transaction of the second day counts the first day's, where the card had any
    firsts = second.sort_values("event_time").drop_duplicates("card_id")
    known = firsts.loc[firsts["card_id"].isin(first["card_id"])]
    assert len(known) >= 15
    assert (lake.loc[known["transaction_id"], "card_tx_count_7d"] > 1).all()
    keys = stage_keys(spark, before)
    assert set(bucket_routes(known["card_id"].to_numpy(dtype=object), keys.cards)) == set(keys.cards)
    assert (lake.loc[ids, "terminal_tx_count_7d"] > 0).mean() > 0.4
