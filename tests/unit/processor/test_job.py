"""`Job.run`: a built job's query is started only when it runs, and stopped after the current batch."""

from __future__ import annotations

import threading
from unittest.mock import MagicMock

import pytest

from processor.batch import BatchHandler
from processor.exceptions import ProcessorError
from processor.job import QUERY_NAME, Job, JobSummary


def _job(query: MagicMock) -> tuple[Job, MagicMock]:
    frame = MagicMock()
    writer = frame.writeStream.queryName.return_value.outputMode.return_value.foreachBatch.return_value
    writer.option.return_value.trigger.return_value.start.return_value = query
    handler = MagicMock(spec_set=BatchHandler)
    return Job(frame, handler, "s3://lake/checkpoint", "1 second", JobSummary()), frame


def _query(*, error: Exception | None = None) -> MagicMock:
    query = MagicMock()
    query.isActive = True
    query.status = {"isTriggerActive": False}
    query.exception.return_value = error
    return query


def test_a_built_job_starts_its_query_only_when_run_and_stops_it_when_told() -> None:
    # GIVEN a built job whose query would run until stopped
    query = _query()
    job, frame = _job(query)
    assert not frame.writeStream.queryName.called

    # WHEN it runs with its stop already set
    stop = threading.Event()
    stop.set()
    summary = job.run(stop=stop)

    # THEN the query was started under the job's name and checkpoint, then stopped, and the summary is the job's
    frame.writeStream.queryName.assert_called_once_with(QUERY_NAME)
    writer = frame.writeStream.queryName.return_value.outputMode.return_value.foreachBatch.return_value
    writer.option.assert_called_once_with("checkpointLocation", "s3://lake/checkpoint")
    query.stop.assert_called_once_with()
    assert summary is job.summary
    assert summary.elapsed_s >= 0


def test_a_failed_query_is_one_processor_error_with_its_cause() -> None:
    # GIVEN a job whose query ends with a Python error inside Spark's text
    query = _query(error=RuntimeError("py4j said\nValueError: no such column\n  at ..."))
    job, _ = _job(query)
    stop = threading.Event()
    stop.set()

    # WHEN it runs THEN the error names the cause
    with pytest.raises(ProcessorError, match="the streaming query failed: ValueError: no such column"):
        job.run(stop=stop)
