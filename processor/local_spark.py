"""Local-machine tuning of the Spark session: what `build_session` adds for a `local[...]` master.

None of it applies on EMR Serverless, where spark-submit starts the JVM and the session's master is
spark-submit's (`build_session(master=None)`): the settings below are chosen for one small machine
that runs the driver, the executors and their Python workers side by side, with checkpoints on its
own disk.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import threading

    from pyspark.sql import SparkSession

__all__ = [
    "LOCAL_CHECKPOINT_OPTIONS",
    "SHORT_RUN_JAVA_OPTIONS",
    "is_local",
    "is_local_master",
    "local_session_options",
    "start_local_warm_up",
]

# For runs of a few minutes (the demo, the crash test's processes): the JVM's start-up JIT compiler
# alone and one GC thread leave a small machine's cores to the work, and Spark's jars (installed with
# the pyspark package, as trusted as the Python code it runs) are not verified again at every start.
# Long runs keep the JVM's defaults, whose optimising compiler pays off after a few minutes.
SHORT_RUN_JAVA_OPTIONS: Final = (
    "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:+UnlockDiagnosticVMOptions -XX:-BytecodeVerificationRemote"
)
# Checkpoints on the local disk. Spark's default checkpoint file manager goes through Hadoop's
# FileContext, whose local rename asks the shell for `readlink` (a process started from the JVM for
# every file of every batch: the offsets and commits logs, each state store's changelog), a large
# part of a micro-batch's fixed cost on a small machine. The FileSystem-based manager renames with
# java.io, on this single-writer local disk as atomically. EMR's checkpoints are on S3, where
# Spark's default is kept.
LOCAL_CHECKPOINT_OPTIONS: Final = {
    "spark.sql.streaming.checkpointFileManagerClass": (
        "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager"
    ),
}


def is_local_master(master: str | None) -> bool:
    """Whether a session with this master runs on this machine (`local`, `local[*]`, `local[2]`, ...)."""
    return master is not None and master.startswith("local")


def is_local(spark: SparkSession | Any) -> bool:
    """Whether a running session runs on this machine (not under a cluster manager, as on EMR)."""
    return is_local_master(str(spark.sparkContext.master))


def local_session_options(master: str) -> dict[str, str]:
    """The Spark settings of a local session, after preparing the environment its JVM inherits.

    Locally the Python workers must be this interpreter, and nothing listens beyond loopback. The
    environment is set before the JVM starts: it and its Python workers inherit it.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if "SPARK_HOME" not in os.environ and (pip_pyspark := _pip_installed_pyspark()) is not None:
        os.environ["SPARK_HOME"] = _spark_home_without_python_archives(pip_pyspark)
    return {
        "spark.master": master,
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        **LOCAL_CHECKPOINT_OPTIONS,
    }


def start_local_warm_up(spark: SparkSession) -> threading.Thread | None:
    """Start Spark's Python helpers in the background (`processor.warm_up`) on a local session.

    On a cluster (EMR Serverless) nothing is started: the warm-up pays off on a small machine whose
    cores would sit idle while the helpers start one kind after another; a cluster's executors are
    other hosts, of which its one-row jobs would reach one, and a job that runs for days gains
    nothing from a head start of seconds.

    Returns:
        The warm-up's thread, or None on a session that is not local.
    """
    if not is_local(spark):
        return None
    from processor.warm_up import start_warm_up

    return start_warm_up(spark)


def _spark_home_without_python_archives(installed: Path) -> str:
    """A SPARK_HOME for pip-installed PySpark from which its Python workers import the installed pyspark.

    Spark puts `$SPARK_HOME/python/lib/pyspark.zip` (and py4j's zip) first on its Python workers'
    path, and the pip package ships both archives: every worker process then compiles each pyspark
    module it imports from source, as Python caches no bytecode for zip imports (seconds per
    process on a small machine, and a query starts several in turn). This folder links everything
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
