"""A new checkpoint started from a history (`process --history`): the stream's first transactions get
the features of the whole history, exactly the offline ones; without the history they would not."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import pandas as pd
import pytest

from fraudstream.config import ResourceSettings
from fraudstream.local.provision import provision
from ml_model.features import FEATURE_SPEC, compute_features
from processor.config import ProcessorSettings
from processor.job import run_job
from synthetic.generator import GeneratorConfig, generate_history
from tests.conftest import FAKE_ENV
from tests.lake_reader import read_parquet
from tests.model_fixtures import with_label_delay
from tests.processor_runs import put_transactions

if TYPE_CHECKING:
    from pathlib import Path

    from fraudstream.local.emulator import EmbeddedAws

pytestmark = pytest.mark.integration

LABEL_DELAY_DAYS = 1.0


def test_a_new_checkpoint_starts_from_a_history_with_its_features(
    spark: Any, embedded_aws: EmbeddedAws, artifact_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {**FAKE_ENV, "AWS_ENDPOINT_URL": embedded_aws.endpoint_url}.items():
        monkeypatch.setenv(key, value)
    session = boto3.Session()
    resources = ResourceSettings(
        transactions_stream="history-tx", labels_stream="history-labels", lake_bucket="history-lake", alerts_table="h"
    )
    provision(resources, shards=1, session=session)
    # GIVEN six days of a small world (fraud made common, so that terminal rates move): five days of
    # history in a batch-input file with is_fraud, and the sixth day's transactions in the stream
    days = generate_history(
        GeneratorConfig(seed=7, n_cards=40, n_terminals=15, n_cities=2, fraud_rate=0.2), date(2026, 3, 1), 6
    )
    cut = pd.Timestamp("2026-03-06", tz="UTC")
    history, live = days[days["event_time"] < cut], days[days["event_time"] >= cut]
    history_file = tmp_path / "history.parquet"
    history.to_parquet(history_file)
    put_transactions(session, resources.transactions_stream, live, tmp_path / "dl.jsonl")

    model = with_label_delay(artifact_path, LABEL_DELAY_DAYS, tmp_path / "model")  # trained with the delay

    def settings(checkpoint: str, **more: Any) -> ProcessorSettings:
        return ProcessorSettings(
            checkpoint_location=str(tmp_path / checkpoint),
            model_dir=str(model),
            trigger_interval="0 seconds",
            aggregates=False,  # no label delay set: the model's, which the offline features below use
            **more,
        )

    # WHEN the job drains the stream on a new checkpoint started from the history
    run_job(settings("warm", history=str(history_file)), resources, until_idle=True, spark=spark)
    lake = read_parquet(session.client("s3"), resources.lake_bucket, "transactions/").set_index("transaction_id")

    # THEN every live transaction has the features the whole six days give it offline
    offline = compute_features(days, label_delay_days=LABEL_DELAY_DAYS).set_index(days["transaction_id"])
    names = list(FEATURE_SPEC.names)
    streamed = lake.loc[live["transaction_id"], names].to_numpy(dtype=np.float64)
    np.testing.assert_allclose(streamed, offline.loc[live["transaction_id"], names].to_numpy(), rtol=1e-9, atol=1e-6)
    assert (lake.loc[live["transaction_id"], "card_tx_count_30d"] > 1).mean() > 0.9  # the history counted
    assert lake.loc[live["transaction_id"], "terminal_fraud_rate_30d"].gt(0).any()

    # AND a restart of that checkpoint does not start from the history again
    run_job(settings("warm", history=str(tmp_path / "not-read.parquet")), resources, until_idle=True, spark=spark)
