"""The endpoint goes away in the middle of a run and comes back: every row is still scored (by the
local fallback meanwhile), none is lost, and scoring returns to the endpoint."""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from fraudstream.config import ResourceSettings
from fraudstream.local.provision import provision
from ml_model.artifact import load_artifact
from ml_model.serving import LocalEndpointServer
from processor.config import ProcessorSettings
from processor.job import JobSummary, run_job
from producer.dead_letter import DeadLetterFile
from producer.delivery import encode_transactions
from producer.kinesis_writer import KinesisWriter
from synthetic.generator import GeneratorConfig, generate_history
from tests.conftest import FAKE_ENV
from tests.lake_reader import read_parquet

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pandas as pd

    from fraudstream.local.emulator import EmbeddedAws
    from tests.fault_figures import FaultFigures

pytestmark = pytest.mark.integration

ENDPOINT = "fraud-detector"
DEADLINE_S = 180


def _lake(s3: Any, bucket: str) -> pd.DataFrame:
    return read_parquet(s3, bucket, "transactions/", ["transaction_id", "score", "scored_by", "processed_at"])


def _await(condition: Callable[[], bool], job: threading.Thread, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    pause = threading.Event()
    while not condition():
        assert job.is_alive(), f"the job stopped while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        pause.wait(0.2)


def test_rows_are_scored_by_the_fallback_during_an_outage_and_by_the_endpoint_after_it(
    spark: Any,
    embedded_aws: EmbeddedAws,
    artifact_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault_figures: FaultFigures,
) -> None:
    for name, value in {**FAKE_ENV, "AWS_ENDPOINT_URL": embedded_aws.endpoint_url}.items():
        monkeypatch.setenv(name, value)
    session = boto3.Session()
    resources = ResourceSettings(
        transactions_stream="outage-tx", labels_stream="outage-labels", lake_bucket="outage-lake", alerts_table="outage"
    )
    provision(resources, shards=1, session=session)
    s3 = session.client("s3")
    artifact = load_artifact(artifact_path)
    history = generate_history(GeneratorConfig(seed=3, n_cards=500, n_terminals=100, n_cities=3), date(2026, 11, 16), 1)
    payloads = iter(zip(history["transaction_id"], encode_transactions(history), history["card_id"], strict=True))
    writer = KinesisWriter(
        resources.transactions_stream,
        dead_letter=DeadLetterFile(tmp_path / "dl.jsonl"),
        client=session.client("kinesis"),
    )

    def send(n: int) -> list[str]:
        sent = []
        for tx_id, data, card in (next(payloads) for _ in range(n)):
            writer.put(card, data)
            sent.append(tx_id)
        writer.flush()
        return sent

    def landed(ids: list[str]) -> Callable[[], bool]:
        return lambda: set(ids) <= set(_lake(s3, resources.lake_bucket)["transaction_id"])

    endpoint = LocalEndpointServer(artifact, port=0, endpoint_name=ENDPOINT).start()
    port = endpoint.port
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", endpoint.url)
    settings = ProcessorSettings(
        checkpoint_location=str(tmp_path / "checkpoint"),
        model_dir=str(artifact_path),
        endpoint_name=ENDPOINT,
        trigger_interval="0 seconds",
        allowed_lateness="1 day",
        aggregates=False,
    )
    stop = threading.Event()
    summary: list[JobSummary] = []
    job = threading.Thread(target=lambda: summary.append(run_job(settings, resources, stop=stop, spark=spark)))
    job.start()
    try:
        # GIVEN a running job scoring through the endpoint
        before = send(30)
        _await(landed(before), job, "the rows sent before the outage")
        # WHEN the endpoint stops, rows keep coming
        endpoint.stop()
        during = send(30)
        _await(landed(during), job, "the rows sent during the outage")
        # AND when it is back, rows keep coming until one is scored by it again
        endpoint = LocalEndpointServer(artifact, port=port, endpoint_name=ENDPOINT).start()
        back_at, back_at_wall = time.monotonic(), time.time()
        after: list[str] = []

        def back_on_the_endpoint() -> bool:
            after.extend(send(5))
            _await(landed(after), job, "the rows sent after the outage")
            lake = _lake(s3, resources.lake_bucket).set_index("transaction_id")
            return bool((lake.loc[after, "scored_by"] == f"endpoint:{ENDPOINT}").any())

        _await(back_on_the_endpoint, job, "scoring to return to the endpoint")
        recover_s = time.monotonic() - back_at
        last = send(10)
        _await(landed(last), job, "the last rows")
    finally:
        stop.set()
        job.join(120)
        endpoint.stop()

    # THEN every row is in the lake exactly once, with a score
    lake = _lake(s3, resources.lake_bucket)
    sent = before + during + after + last
    out = list(lake["transaction_id"])
    rescored = lake[lake["transaction_id"].isin(after) & (lake["scored_by"] == f"endpoint:{ENDPOINT}")]
    batch_started_s = rescored["processed_at"].min().timestamp() - back_at_wall
    fault_figures.record(
        "endpoint outage",
        sent=sent,
        received=out,
        recover_s=recover_s,
        recovery=f"endpoint back -> first row scored by it seen in the lake (0.2 s poll; {len(after)} rows sent "
        f"meanwhile; that row's batch started at +{batch_started_s:.2f} s)",
    )
    assert sorted(lake["transaction_id"]) == sorted(sent)
    assert lake["score"].between(0, 1).all()
    by = lake.set_index("transaction_id")["scored_by"]
    # scored by the endpoint before the outage, by the fallback during it, by the endpoint after it
    assert set(by[before]) == {f"endpoint:{ENDPOINT}"}
    assert set(by[during]) == {"fallback"}
    assert set(by[last]) == {f"endpoint:{ENDPOINT}"}
    assert summary and summary[0].fallback_scored >= len(during)
