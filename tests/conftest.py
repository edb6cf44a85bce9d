"""Shared fixtures: isolation from the developer's AWS and fraudstream configuration, and one
embedded AWS emulator (a real moto server over HTTP) for the whole session."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from fraudstream.config import ResourceSettings
from fraudstream.local.emulator import EmbeddedAws

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytest_plugins: list[str] = ["tests.fault_figures", "tests.model_fixtures"]

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(autouse=True)
def _isolate_config(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never see a developer's real AWS or fraudstream configuration."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "FRAUD_")):
            monkeypatch.delenv(name)
    empty = tmp_path_factory.getbasetemp() / "no-aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def embedded_aws() -> Iterator[EmbeddedAws]:
    """One moto server over real HTTP on a free loopback port, for the whole session."""
    with EmbeddedAws(port=0) as aws:
        yield aws


@pytest.fixture
def aws_env(embedded_aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point boto3 (and anything reading the standard variables) at the embedded emulator."""
    env = {**FAKE_ENV, "AWS_ENDPOINT_URL": embedded_aws.endpoint_url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def boto_session(aws_env: dict[str, str]) -> boto3.Session:
    return boto3.Session(region_name=aws_env["AWS_REGION"])


@pytest.fixture
def stream_factory(boto_session: boto3.Session) -> Callable[..., str]:
    """Creates a uniquely named stream on the emulator and returns its name."""

    def create(shards: int = 2) -> str:
        name = f"test-{uuid.uuid4().hex[:12]}"
        kinesis = boto_session.client("kinesis")
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        return name

    return create


@pytest.fixture(scope="session")
def spark(embedded_aws: EmbeddedAws, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One local Spark session for the whole suite (it takes seconds to start)."""
    from processor.spark import build_session

    # Python workers inherit the driver's environment: point them at the emulator.
    os.environ.update({**FAKE_ENV, "AWS_ENDPOINT_URL": embedded_aws.endpoint_url})
    # The processor's own session settings (RocksDB state store, UTC, loopback only), sized for tests.
    session = build_session(
        "fraudstream-tests",
        "local[2]",
        shuffle_partitions=2,
        extra={
            "spark.ui.enabled": "false",
            "spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("warehouse")),
            "spark.driver.extraJavaOptions": "-Dderby.system.home=" + str(tmp_path_factory.mktemp("derby")),
        },
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def unique_resources() -> ResourceSettings:
    """Resource names no other test uses (not created)."""
    suffix = uuid.uuid4().hex[:8]
    return ResourceSettings(
        transactions_stream=f"tx-{suffix}",
        labels_stream=f"lb-{suffix}",
        lake_bucket=f"lake-{suffix}",
        alerts_table=f"al-{suffix}",
    )
