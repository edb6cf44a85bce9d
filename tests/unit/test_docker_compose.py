"""docker-compose.yml cannot be started here (no Docker engine): check what can be checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fraudstream.aws import AWS_SERVICES_USED
from fraudstream.local.emulator import DEFAULT_PORT

COMPOSE = Path(__file__).parents[2] / "docker-compose.yml"


def _localstack() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    service: dict[str, Any] = doc["services"]["localstack"]
    return service


def test_localstack_runs_exactly_the_services_the_code_uses() -> None:
    services = _localstack()["environment"]["SERVICES"].split(",")
    assert sorted(services) == sorted(AWS_SERVICES_USED)


def test_localstack_listens_where_the_embedded_emulator_does_and_has_a_health_check() -> None:
    service = _localstack()
    assert f"127.0.0.1:{DEFAULT_PORT}:4566" in service["ports"]
    assert service["image"].startswith("localstack/localstack:")
    assert not service["image"].endswith(":latest")  # a pinned version, not a moving target
    check = " ".join(service["healthcheck"]["test"])
    assert "/_localstack/health" in check
