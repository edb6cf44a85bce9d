"""`processor.local_spark`: this machine's tuning applies to local sessions only, never on a cluster (EMR)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

import processor.warm_up
from processor.local_spark import LOCAL_CHECKPOINT_OPTIONS, is_local_master, local_session_options, start_local_warm_up

if TYPE_CHECKING:
    from pathlib import Path


def _session(master: str) -> Any:
    return SimpleNamespace(sparkContext=SimpleNamespace(master=master, applicationId=f"app-{master}"))


@pytest.mark.parametrize(
    ("master", "local"),
    [
        ("local", True),
        ("local[*]", True),
        ("local[2]", True),
        (None, False),
        ("yarn", False),
        ("spark://h:7077", False),
    ],
)
def test_only_a_local_master_is_local(master: str | None, local: bool) -> None:
    # GIVEN a session's master WHEN asked THEN only local[...] masters (None: spark-submit's, as on EMR) are local
    assert is_local_master(master) is local


@pytest.mark.parametrize(("master", "warmed_up"), [("local[2]", True), ("yarn", False)])
def test_the_warm_up_starts_on_a_local_session_only(
    master: str, warmed_up: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a warm-up that only records the sessions it was started for
    started: list[Any] = []
    monkeypatch.setattr(processor.warm_up, "start_warm_up", started.append)
    session = _session(master)

    # WHEN the job asks for it
    start_local_warm_up(session)

    # THEN it ran for the local session, and not on a cluster's (EMR Serverless runs under YARN)
    assert started == ([session] if warmed_up else [])


def test_a_local_session_keeps_to_loopback_and_the_local_checkpoint_manager(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a SPARK_HOME already chosen (no folder of links is made)
    monkeypatch.setenv("SPARK_HOME", str(tmp_path))

    # WHEN the local options are built
    options = local_session_options("local[2]")

    # THEN the session listens on loopback only and checkpoints through the local file manager
    assert options["spark.master"] == "local[2]"
    assert options["spark.driver.bindAddress"] == "127.0.0.1"
    assert LOCAL_CHECKPOINT_OPTIONS.items() <= options.items()
