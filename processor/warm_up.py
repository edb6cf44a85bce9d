"""Start Spark's Python helper processes early, in the background, while the query is still being set up.

Spark runs the Python parts of a query in processes it starts on first use, one kind at a time:
a daemon per kind of helper (create a data source, plan its read, run Arrow UDFs, run
transformWithState) that then forks the workers. The first micro-batch of a new session waits for
each in turn, a few seconds apiece on a small machine, while the other cores sit idle. A one-row
batch job of the same shape (a Python data source, `mapInPandas`, `transformWithStateInPandas`)
run on another thread starts them in parallel with the query's own set-up, so that the query finds
them running: the daemons live as long as the session.

It changes nothing the query computes: it reads no stream and writes nothing, and a failure is
only logged (the query then starts the helpers itself, as it would have).

Local-machine tuning: the job starts it through `processor.local_spark.start_local_warm_up`, which
does nothing on a cluster (EMR Serverless).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
from pyspark.sql.streaming.stateful_processor import StatefulProcessor

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    import pandas as pd
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming.stateful_processor import StatefulProcessorHandle, TimerValues

__all__ = ["start_warm_up"]

logger = logging.getLogger(__name__)

_SCHEMA = "key string"
_started: dict[str, threading.Thread] = {}
_lock = threading.Lock()


class _OneRowSource(DataSource):
    @classmethod
    def name(cls) -> str:
        return "fraudstream-warm-up"

    def schema(self) -> str:
        return _SCHEMA

    def reader(self, schema: Any) -> DataSourceReader:
        return _OneRowReader()


class _OneRowReader(DataSourceReader):
    def read(self, partition: InputPartition) -> Iterator[tuple[str]]:
        yield ("warm-up",)


class _PassThrough(StatefulProcessor):
    def init(self, handle: StatefulProcessorHandle) -> None:
        self.seen = handle.getValueState("seen", "seen boolean")

    def handleInputRows(
        self, key: Any, rows: Iterator[pd.DataFrame], timerValues: TimerValues
    ) -> Iterator[pd.DataFrame]:
        self.seen.update((True,))
        yield from rows

    def close(self) -> None:
        pass


def _same_frames(frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    yield from frames


def _read_and_map(spark: SparkSession) -> None:
    # Data source creation and read planning (driver), then the Arrow UDF workers (executors).
    spark.dataSource.register(_OneRowSource)
    spark.read.format(_OneRowSource.name()).load().mapInPandas(_same_frames, _SCHEMA).collect()


def _keep_state(spark: SparkSession) -> None:
    # transformWithState's workers are a kind of their own (their daemon's environment differs).
    # Its state is loaded through the StateStoreCoordinator, which the session registers only when its
    # streaming query manager is first used: on a session that has run no query yet (the warm-up runs
    # while the first one is still being set up) the batch would fail without it.
    spark.streams.active  # noqa: B018 - read for its side effect: the manager registers the coordinator
    frame = spark.range(1).selectExpr("'warm-up' AS key")
    frame.groupBy("key").transformWithStateInPandas(_PassThrough(), _SCHEMA, "Append", "None").collect()


def _run(spark: SparkSession) -> None:
    def attempt(part: Callable[[SparkSession], None]) -> None:
        try:
            part(spark)
        except Exception:  # noqa: BLE001 - a head start only: the query starts whatever is missing itself
            logger.warning("warming up Spark's Python helpers failed; the query starts them itself", exc_info=True)

    # The two parts need different helpers: side by side, neither waits for the other's to start.
    other = threading.Thread(target=attempt, args=(_keep_state,), name="spark-warm-up-state", daemon=True)
    other.start()
    attempt(_read_and_map)
    other.join()


def start_warm_up(spark: SparkSession) -> threading.Thread:
    """Start the helpers of this session in a daemon thread, once per session (later calls return the same thread).

    Args:
        spark: the session the query will run in.

    Returns:
        The thread (join it to wait for the helpers).
    """
    application = spark.sparkContext.applicationId
    with _lock:
        thread = _started.get(application)
        if thread is None:
            thread = threading.Thread(target=_run, args=(spark,), name="spark-warm-up", daemon=True)
            _started[application] = thread
            thread.start()
    return thread
