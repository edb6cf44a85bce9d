"""Spark's Python helper daemons as the operating system sees them, and a warm-up run on a Spark
application of its own (a fresh process): for the tests of `processor.warm_up`, which must not depend
on what earlier tests already started in the suite's shared session.

Run as `python tests/spark_daemons.py OUT`: starts a new local session, records the helper daemons
before and after `start_warm_up`, and writes what it saw to the JSON file OUT.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TypedDict

__all__ = ["WarmUpObservation", "helper_daemons"]


class WarmUpObservation(TypedDict):
    """What a warm-up on a fresh application did (written by the child process)."""

    before: list[str]  # helper daemons running before the warm-up started
    after: list[str]  # ... after it ended
    same_thread: bool  # a second call returned the first call's thread
    warnings: list[str]  # what the warm-up logged (a part that failed)
    ended: bool  # the thread ended within the timeout
    active_queries: int  # streaming queries left running by the warm-up


def helper_daemons() -> set[str]:
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


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(self.format(record))


def _warm_up_fresh_application(out: Path) -> None:
    from processor.spark import build_session
    from processor.warm_up import start_warm_up

    recorder = _Recorder()
    recorder.setFormatter(logging.Formatter("%(message)s: %(exc_info)s"))
    logging.getLogger("processor.warm_up").addHandler(recorder)

    with tempfile.TemporaryDirectory() as scratch:
        spark = build_session(
            "fraudstream-warm-up-test",
            "local[2]",
            shuffle_partitions=2,
            extra={
                "spark.ui.enabled": "false",
                "spark.sql.warehouse.dir": str(Path(scratch) / "warehouse"),
                "spark.driver.extraJavaOptions": f"-Dderby.system.home={Path(scratch) / 'derby'}",
            },
            output=Path(scratch) / "spark.log",
        )
        try:
            before = helper_daemons()
            first = start_warm_up(spark)
            again = start_warm_up(spark)
            first.join(timeout=300)
            observation = WarmUpObservation(
                before=sorted(before),
                after=sorted(helper_daemons()),
                same_thread=again is first,
                warnings=recorder.messages,
                ended=not first.is_alive(),
                active_queries=len(spark.streams.active),
            )
        finally:
            spark.stop()
    out.write_text(json.dumps(observation))


if __name__ == "__main__":
    _warm_up_fresh_application(Path(sys.argv[1]))
