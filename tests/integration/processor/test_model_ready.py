"""A job whose model is still being trained (the demo trains one aside): the query starts with no
model, its first batch waits for it and is scored by it; a failed training fails the query with
its cause."""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import Future
from datetime import date
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from fraudstream.config import ResourceSettings
from fraudstream.local.provision import provision
from ml_model.artifact import load_artifact
from processor.config import ProcessorSettings
from processor.exceptions import ProcessorError
from processor.job import QUERY_NAME, JobSummary, run_job
from synthetic.generator import GeneratorConfig, generate_history
from tests.conftest import FAKE_ENV
from tests.lake_reader import read_parquet
from tests.processor_runs import put_transactions

if TYPE_CHECKING:
    from pathlib import Path

    from fraudstream.local.emulator import EmbeddedAws

pytestmark = pytest.mark.integration

DEADLINE_S = 180


def _job_settings(
    name: str, embedded_aws: EmbeddedAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[ProcessorSettings, ResourceSettings, list[str]]:
    """A provisioned set of resources with 40 transactions in the stream, and a job with no model yet."""
    for key, value in {**FAKE_ENV, "AWS_ENDPOINT_URL": embedded_aws.endpoint_url}.items():
        monkeypatch.setenv(key, value)
    session = boto3.Session()
    resources = ResourceSettings(
        transactions_stream=f"{name}-tx", labels_stream=f"{name}-labels", lake_bucket=f"{name}-lake", alerts_table=name
    )
    provision(resources, shards=1, session=session)
    history = generate_history(GeneratorConfig(seed=5, n_cards=200, n_terminals=50, n_cities=2), date(2026, 11, 9), 1)
    sent = history.head(40)
    put_transactions(session, resources.transactions_stream, sent, tmp_path / "dl.jsonl")
    settings = ProcessorSettings(
        checkpoint_location=str(tmp_path / "checkpoint"),
        model_dir=str(tmp_path / "model"),  # nothing there yet
        trigger_interval="0 seconds",
        allowed_lateness="1 day",
        aggregates=False,
    )
    return settings, resources, list(sent["transaction_id"])


def test_the_query_starts_before_the_model_exists_and_scores_with_it_once_trained(
    spark: Any, embedded_aws: EmbeddedAws, artifact_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN transactions in the stream and a model folder that is still empty
    settings, resources, sent = _job_settings("later-model", embedded_aws, tmp_path, monkeypatch)
    trained: Future[str | None] = Future()
    summary: list[JobSummary] = []
    errors: list[BaseException] = []

    def job() -> None:
        try:
            summary.append(run_job(settings, resources, until_idle=True, spark=spark, model_ready=trained))
        except BaseException as e:  # noqa: BLE001 - asserted below
            errors.append(e)

    running = threading.Thread(target=job)
    running.start()
    try:
        # WHEN the model is written only once the query is running a batch
        deadline = time.monotonic() + DEADLINE_S
        pause = threading.Event()
        while not any(q.name == QUERY_NAME and q.status["isTriggerActive"] for q in spark.streams.active):
            assert running.is_alive(), f"the job stopped before its first batch: {errors}"
            assert time.monotonic() < deadline, "timed out waiting for the query's first batch"
            pause.wait(0.1)
        shutil.copytree(artifact_path.parent, tmp_path / "model")
        trained.set_result(None)
    finally:
        if not trained.done():
            trained.set_exception(RuntimeError("the test gave up waiting"))  # lets the job stop
        running.join(DEADLINE_S)

    # THEN every transaction is in the lake once, scored by that model
    assert not errors, errors
    lake = read_parquet(boto3.Session().client("s3"), resources.lake_bucket, "transactions/")
    assert sorted(lake["transaction_id"]) == sorted(sent)
    assert set(lake["model_version"]) == {load_artifact(artifact_path).card.model_version}
    assert set(lake["scored_by"]) == {"local"}
    assert summary[0].accepted == len(sent)


def test_a_failed_training_fails_the_query_with_its_cause(
    spark: Any, embedded_aws: EmbeddedAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN transactions in the stream and a training that failed
    settings, resources, _ = _job_settings("failed-model", embedded_aws, tmp_path, monkeypatch)
    trained: Future[str | None] = Future()
    trained.set_exception(RuntimeError("training the model failed (exit 1): MemoryError"))

    # WHEN the job runs THEN it stops with that cause, and nothing reached the lake
    with pytest.raises(ProcessorError, match=r"RuntimeError: training the model failed \(exit 1\): MemoryError"):
        run_job(settings, resources, until_idle=True, spark=spark, model_ready=trained)
    objects = boto3.Session().client("s3").list_objects_v2(Bucket=resources.lake_bucket)
    assert "Contents" not in objects
