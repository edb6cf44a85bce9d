"""`build_session`: a process that already runs Spark gets the running session, unchanged; locally,
Spark's Python workers import the installed pyspark. `prepare_worker_task`: a worker's long-lived
objects leave the collector's reach, a task's garbage does not."""

from __future__ import annotations

from typing import Any

import pytest

from processor.spark import build_session, prepare_worker_task

pytestmark = pytest.mark.integration


def test_a_second_build_returns_the_running_session_without_changing_its_settings(spark: Any) -> None:
    # GIVEN the suite's running session (2 shuffle partitions, UTC)
    before = {key: spark.conf.get(key) for key in ("spark.sql.shuffle.partitions", "spark.sql.session.timeZone")}

    # WHEN the demo asks for a session sized and set otherwise
    again = build_session(
        "another-app", shuffle_partitions=1, extra={"spark.sql.session.timeZone": "Europe/Paris"}, output=None
    )

    # THEN it gets the running session, whose settings did not move under the tests that share it
    assert again.sparkContext is spark.sparkContext
    assert before == {"spark.sql.shuffle.partitions": "2", "spark.sql.session.timeZone": "UTC"}
    assert {key: again.conf.get(key) for key in before} == before


def test_python_workers_import_the_installed_pyspark_not_sparks_zip_archive(spark: Any) -> None:
    # GIVEN the suite's session, built by build_session on a local master
    import pyspark

    def origin(_: Any) -> Any:
        import pyspark as worker_pyspark

        yield worker_pyspark.__file__

    # WHEN a Python worker says where its pyspark comes from
    worker = spark.sparkContext.parallelize([0], 1).mapPartitions(origin).collect()

    # THEN it is the package the driver imports (byte-compiled), not $SPARK_HOME/python/lib/pyspark.zip,
    # which Spark puts first on its workers' path and Python compiles from source in every process
    assert worker == [pyspark.__file__]


def test_a_task_start_freezes_the_workers_objects_and_its_own_garbage_is_still_collected(spark: Any) -> None:
    # GIVEN a Python worker task that starts as the job's steps do
    def task(_: Any) -> Any:
        import gc

        prepare_worker_task()
        frozen = gc.get_freeze_count()
        cycle: list[Any] = []
        cycle.append(cycle)  # garbage that only the collector frees
        probe = id(cycle)
        del cycle
        gc.collect()
        yield frozen, any(id(o) == probe for o in gc.get_objects())

    # WHEN it runs
    [(frozen, garbage_left)] = spark.sparkContext.parallelize([0], 1).mapPartitions(task).collect()

    # THEN the objects the worker held at the start (modules, caches) are out of the collector's walk,
    # while what the task created and dropped is collected as before
    assert frozen > 10_000
    assert not garbage_left


def test_outside_a_task_nothing_is_frozen() -> None:
    import gc

    # GIVEN the driver (or a test calling a step directly), where nothing collects after each call
    before = gc.get_freeze_count()
    # WHEN a step's start runs here
    prepare_worker_task()
    # THEN nothing is frozen: frozen garbage would never be freed
    assert gc.get_freeze_count() == before
