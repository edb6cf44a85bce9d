"""`start_warm_up`: Spark's Python helpers started in the background, once per session, never a failure."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import processor.warm_up
from processor.warm_up import start_warm_up

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.integration


def _helper_daemons() -> set[str]:
    """The worker module of every `python -m pyspark.daemon MODULE` process descending from this one."""
    parents: dict[int, int] = {}
    commands: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().decode().split("\0")
        except OSError:  # the process ended meanwhile
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return {
        command[command.index("pyspark.daemon") + 1]
        for pid, command in commands.items()
        if "pyspark.daemon" in command[:-1] and descends(pid)
    }


def test_the_warm_up_starts_each_kind_of_python_helper_once_per_session(spark: Any) -> None:
    # WHEN the warm-up is started twice for the session
    first = start_warm_up(spark)
    again = start_warm_up(spark)

    # THEN both calls share one background run, which ends
    assert again is first
    first.join(timeout=300)
    assert not first.is_alive()
    # ... and left running the helpers a query's first batch needs: data source creation and read
    # planning on the driver, Arrow UDF and transformWithState workers
    assert {
        "pyspark.sql.worker.create_data_source",
        "pyspark.sql.worker.plan_data_source_read",
        "pyspark.worker",
    } <= _helper_daemons()
    # ... and no query of its own
    assert spark.streams.active == []


def test_a_failing_part_of_the_warm_up_is_logged_and_the_other_still_runs(
    spark: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a session on which the data source part fails
    def broken(_spark: Any) -> None:
        raise RuntimeError("no data sources here")

    ran: list[str] = []
    keep_state: Callable[[Any], None] = processor.warm_up._keep_state

    def counted(session: Any) -> None:
        keep_state(session)
        ran.append("state")

    monkeypatch.setattr(processor.warm_up, "_read_and_map", broken)
    monkeypatch.setattr(processor.warm_up, "_keep_state", counted)

    # WHEN the warm-up runs
    with caplog.at_level(logging.WARNING, logger="processor.warm_up"):
        processor.warm_up._run(spark)

    # THEN the failure is a warning with its cause, and the transformWithState part still ran
    assert "warming up Spark's Python helpers failed" in caplog.text
    assert "no data sources here" in caplog.text
    assert ran == ["state"]
