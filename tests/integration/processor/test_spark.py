"""`build_session`: a process that already runs Spark gets the running session, unchanged; locally,
Spark's Python workers import the installed pyspark."""

from __future__ import annotations

from typing import Any

import pytest

from processor.spark import build_session

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
