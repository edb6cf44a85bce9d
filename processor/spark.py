"""The Spark session the job runs in: the same settings locally and under spark-submit on EMR."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["LOCAL_CHECKPOINT_OPTIONS", "SHORT_RUN_JAVA_OPTIONS", "build_session", "skip_jars_on_python_path"]

ROCKSDB_PROVIDER = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
# For runs of a few minutes (the demo, the crash test's processes): the JVM's start-up JIT compiler
# alone and one GC thread leave a small machine's cores to the work (quick demo on 2 cores: 92 s -> 78 s).
# Nor does it verify the bytecode of Spark's jars (they come with the installed pyspark package, as
# trusted as the Python code it runs): session start on 2 cores 21-22 -> 18-19 CPU seconds.
# Long runs keep the JVM's defaults, whose optimising compiler pays off after a few minutes.
SHORT_RUN_JAVA_OPTIONS: Final = (
    "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:+UnlockDiagnosticVMOptions -XX:-BytecodeVerificationRemote"
)
# Local machines only: checkpoints on the local disk. Spark's default checkpoint file manager goes
# through Hadoop's FileContext, whose local rename asks the shell for `readlink` (a process started
# from the JVM for every file of every batch: the offsets and commits logs, each state store's
# changelog). The FileSystem-based manager renames with java.io, on this single-writer local disk
# as atomically. On 2 cores it halves a micro-batch's fixed cost (rate source -> one stateful stage:
# 515 -> 322 ms per trigger). EMR's checkpoints are on S3, where Spark's default is kept.
LOCAL_CHECKPOINT_OPTIONS: Final = {
    "spark.sql.streaming.checkpointFileManagerClass": (
        "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager"
    ),
}


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

    if shuffle_partitions is None:
        local = master is not None and master.startswith("local")
        shuffle_partitions = min(4, os.cpu_count() or 1) if local else 4

    options = {
        "spark.app.name": app_name,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.streaming.stateStore.providerClass": ROCKSDB_PROVIDER,
        # Each batch commits a changelog of the keys it changed instead of a snapshot of every
        # RocksDB instance (latency benchmark at 100/s: a no-data batch 12.5 s -> 4.5 s).
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
    }
    if master is not None and master.startswith("local"):
        # Locally the Python workers must be this interpreter, and nothing listens beyond loopback.
        # Set before the JVM starts: it and its Python workers inherit this environment.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        if "SPARK_HOME" not in os.environ and (pip_pyspark := _pip_installed_pyspark()) is not None:
            os.environ["SPARK_HOME"] = _spark_home_without_python_archives(pip_pyspark)
        options |= {
            "spark.master": master,
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            **LOCAL_CHECKPOINT_OPTIONS,
        }
    options |= extra or {}
    conf = SparkConf().setAll(list(options.items()))
    if output is not None and SparkContext._gateway is None:  # noqa: SLF001 - a JVM is started once per process
        from pyspark.java_gateway import launch_gateway

        with output.open("ab") as log:  # the JVM keeps its own copy of the descriptor
            gateway = launch_gateway(conf, popen_kwargs={"stdout": log, "stderr": log})  # type: ignore[no-untyped-call]
        SparkContext(conf=conf, gateway=gateway)
    return SparkSession.builder.config(conf=conf).getOrCreate()


def _spark_home_without_python_archives(installed: Path) -> str:
    """A SPARK_HOME for pip-installed PySpark from which its Python workers import the installed pyspark.

    Spark puts `$SPARK_HOME/python/lib/pyspark.zip` (and py4j's zip) first on its Python workers'
    path, and the pip package ships both archives: every worker process then compiles each pyspark
    module it imports from source, as Python caches no bytecode for zip imports (1.5 s more per
    process on a 2-core machine, and a query starts several in turn). This folder links everything
    of the installed package but `python/`, so the workers import the same pyspark from
    site-packages, with its compiled bytecode. Removed when this process exits; its children (the
    JVM, processes that start sessions of their own) inherit it through the environment.
    """
    home = Path(tempfile.mkdtemp(prefix="fraudstream-spark-home-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    for entry in installed.iterdir():
        if entry.name != "python":
            (home / entry.name).symlink_to(entry)
    return str(home)


def _pip_installed_pyspark() -> Path | None:
    """The folder of the imported pyspark when it is the pip package (its jars inside), else None."""
    import pyspark

    installed = Path(pyspark.__file__).parent
    return installed if (installed / "jars").is_dir() else None


def skip_jars_on_python_path() -> None:
    """In a Spark Python worker: tell Python that no importer serves the jars on its path.

    Spark puts its core jar on its Python workers' path (no Python module is inside), and the
    worker calls `importlib.invalidate_caches()` before every task, which on Python 3.11 re-reads
    the whole directory of every zip or jar it has an importer for (about 25 ms per task on two
    cores, for each task of every batch). Called where the job's Python code starts in a worker.
    """
    for entry in list(sys.path_importer_cache):
        if entry.endswith(".jar") or ".jar/" in entry:
            sys.path_importer_cache[entry] = None
