"""`start_warm_up`: Spark's Python helpers started in the background, once per session, never a failure.

What it starts is observed on an application of its own, in a fresh process: in the suite's shared
session every earlier query has already started the helpers (and `run_job` the warm-up itself)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import processor.warm_up

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.spark_daemons import WarmUpObservation

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def test_the_warm_up_starts_each_kind_of_python_helper_once_per_session(tmp_path: Path) -> None:
    # GIVEN a Spark application of its own, in a fresh process: the suite's session already has its
    # helpers running (every earlier query started them), so it could not show what the warm-up starts
    out = tmp_path / "observation.json"
    # WHEN the warm-up is started twice for that application and awaited
    child = subprocess.run(  # noqa: S603 - this interpreter, a module of the tests
        [sys.executable, str(ROOT / "tests" / "spark_daemons.py"), str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert child.returncode == 0, child.stdout + child.stderr
    seen: WarmUpObservation = json.loads(out.read_text())

    # THEN none of the helpers ran before it
    needed = {
        "pyspark.sql.worker.create_data_source",
        "pyspark.sql.worker.plan_data_source_read",
        "pyspark.worker",
    }
    assert not needed & set(seen["before"])
    # ... both calls shared one background run, which ended, each of its parts without a failure
    assert seen["same_thread"]
    assert seen["ended"]
    assert seen["warnings"] == []
    # ... and it left running the helpers a query's first batch needs: data source creation and read
    # planning on the driver, Arrow UDF and transformWithState workers
    assert needed <= set(seen["after"])
    # ... and no query of its own
    assert seen["active_queries"] == 0


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
