"""The Spark session the job runs in: the same settings locally and under spark-submit on EMR, plus,
for a local master only, this machine's tuning (`processor.local_spark`)."""

from __future__ import annotations

import gc
import os
import sys
from typing import TYPE_CHECKING

from processor.local_spark import is_local_master, local_session_options

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import SparkSession

__all__ = ["build_session", "prepare_worker_task"]

ROCKSDB_PROVIDER = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"


def build_session(
    app_name: str = "fraudstream-processor",
    master: str | None = "local[*]",
    *,
    shuffle_partitions: int | None = None,
    extra: dict[str, str] | None = None,
    output: Path | None = None,
) -> SparkSession:
    """A session with the RocksDB state store (needed by transformWithStateInPandas) and UTC time.

    Args:
        app_name: the Spark application name.
        master: `local[*]` to run here; None to keep what spark-submit set (EMR Serverless).
        shuffle_partitions: partitions of the keyed state; default 4, locally no more than the cores
            (each partition of each stateful stage is a task and a state store per batch). A query
            keeps the number of its checkpoint.
        extra: further Spark settings.
        output: append the JVM's stdout and stderr (log4j, and its Python workers' chatter) to this
            file instead of this process's terminal.

    A process that already runs Spark (the test suite's session) gets its session as it is: the
    settings of a running session are not changed under it.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is not None:  # noqa: SLF001 - no public check
        return SparkSession.builder.getOrCreate()  # a new builder: no settings to apply

    local = is_local_master(master)
    if shuffle_partitions is None:
        shuffle_partitions = min(4, os.cpu_count() or 1) if local else 4

    options = {
        "spark.app.name": app_name,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.streaming.stateStore.providerClass": ROCKSDB_PROVIDER,
        # Each batch commits a changelog of the keys it changed instead of a snapshot of every
        # RocksDB instance: a batch's checkpoint costs what it touched, not the whole state.
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
    }
    if master is not None and local:
        options |= local_session_options(master)  # this machine's tuning (processor.local_spark)
    options |= extra or {}
    conf = SparkConf().setAll(list(options.items()))
    if output is not None and SparkContext._gateway is None:  # noqa: SLF001 - a JVM is started once per process
        from pyspark.java_gateway import launch_gateway

        with output.open("ab") as log:  # the JVM keeps its own copy of the descriptor
            gateway = launch_gateway(conf, popen_kwargs={"stdout": log, "stderr": log})  # type: ignore[no-untyped-call]
        SparkContext(conf=conf, gateway=gateway)
    return SparkSession.builder.config(conf=conf).getOrCreate()


def prepare_worker_task() -> None:
    """In a Spark Python worker, where the job's code starts a task: two of the worker's per-task
    costs taken away.

    Jars on the path: Spark puts its core jar on its Python workers' path (no Python module is
    inside), and the worker calls `importlib.invalidate_caches()` before every task, which on Python
    3.11 re-reads the whole directory of every zip or jar it has an importer for (about 25 ms per
    task on two cores). Python is told that no importer serves them.

    Garbage collection: a reused worker runs a full `gc.collect()` after every task, which walks
    every object the process holds (pandas, pyarrow, botocore's service models, the model, the
    sinks), on two cores about half of the workers' CPU time at 1,000 transactions/s. `gc.freeze()`
    moves the objects alive now (the collection after the previous task has just run) out of the
    collector's reach: what a task creates is collected as before, the process's long-lived objects
    are no longer walked after every task (one of them that later becomes garbage held only by a
    reference cycle, such as an evicted entry of the sinks' two-entry cache, is not freed). Only in
    a task: elsewhere (the driver, tests that call a step directly) nothing collects after each
    call, and freezing would only keep garbage.
    """
    from pyspark import TaskContext

    if TaskContext.get() is None:
        return
    for entry in list(sys.path_importer_cache):
        if entry.endswith(".jar") or ".jar/" in entry:
            sys.path_importer_cache[entry] = None
    gc.freeze()
