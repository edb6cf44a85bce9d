"""The whole stream processor draining a backlog vs raw GetRecords, with empty state and with 30 days
of history in state.

On one emulator and one Spark session (started beforehand), the same `days` of synthetic
transactions and their chargebacks (a world of `cards` cards, about 2.2 transactions per card and
day) are drained twice by `run_job(until_idle=True)` in batches of the job's default bound (100,000
records), every stage and sink (parse, card and terminal state, scoring with the model in process,
lake, alerts, quarantine, aggregates):

raw      a single client reads the backlog's transactions stream to its end with GetRecords;
empty    a new checkpoint drains the backlog;
history  on a second pair of streams, a checkpoint first drains the 30 days before the backlog (not
         measured), then the backlog is put on the streams and drained on the same checkpoint: every
         card and terminal has its 30 days of history in state;
alone    the same plan, stages and sinks fed from Parquet files of the backlog's records instead of
         Kinesis (Spark's file source, one file per batch): the processor's own ceiling, beside the
         emulator's read rate.

Figures per drain: the rate over the batches after the first (a backlog's batches run back to back),
the median time of a batch, the query's start and first batch, and the rate with the start included.
Targets: the empty drain's rate >= 0.5x raw and >= 10,000 transactions/s; with history, rate and
batch time within 1.25x of the empty drain's.

Run: `fraudstream bench --only pipeline` (`--quick`: a small world and few days, to show it works).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import boto3

from bench._emulator import emulator_process
from bench._processor import drain, model, put_history, replay_files
from bench.bench_source import _raw_drain
from bench.results import BenchResult, Target, format_ratio
from fraudstream.config import ResourceSettings
from processor.config import ProcessorSettings
from synthetic.generator import GeneratorConfig, TransactionGenerator

TARGETS = (
    Target("ratio", ">=", 0.5, ">= 0.5x"),
    Target("empty_per_s", ">=", 10_000, ">= 10,000/s"),
)
HISTORY_TARGETS = (
    Target("rate_ratio", ">=", 1 / 1.25, "rate >= 0.8x of empty state"),
    Target("batch_ratio", "<=", 1.25, "batch time <= 1.25x"),
)
HISTORY_DAYS = 30
# Batches as large as the job makes them by default (`process --max-records-per-batch`), on a backlog
# of several of them.
SIZE: dict[str, Any] = {
    "days": 40,
    "cards": 5_000,
    "history_days": HISTORY_DAYS,
    "max_records_per_batch": ProcessorSettings.model_fields["max_records_per_batch"].default,
}
QUICK_SIZE: dict[str, Any] = {"days": 1, "cards": 250, "history_days": 3, "max_records_per_batch": 200}


def run(days: int, cards: int, history_days: int, max_records_per_batch: int, shards: int = 2) -> dict[str, Any]:
    from fraudstream.local.provision import provision
    from processor.spark import build_session

    world = GeneratorConfig(seed=3, n_cards=cards, n_terminals=2 * cards)
    generator = TransactionGenerator(world, date(2026, 1, 1))
    history = [generator.next_day() for _ in range(history_days)]
    backlog = [generator.next_day() for _ in range(days)]
    workdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    trained = model(backlog[0], workdir / "model")

    def settings(checkpoint: str) -> ProcessorSettings:
        return ProcessorSettings(
            checkpoint_location=str(workdir / checkpoint),
            model_dir=str(trained),
            trigger_interval="0 seconds",
            max_records_per_batch=max_records_per_batch,
            label_delay_days=1.0,
        )

    with emulator_process() as env:
        os.environ.update(env)
        kinesis = boto3.client("kinesis")
        empty_streams = ResourceSettings(transactions_stream="tx-empty", labels_stream="labels-empty")
        history_streams = ResourceSettings(transactions_stream="tx-history", labels_stream="labels-history")
        for resources in (empty_streams, history_streams):
            provision(resources, shards=shards)
        n = put_history(backlog, empty_streams, kinesis)
        put_history(history, history_streams, kinesis)

        t0 = time.perf_counter()
        assert _raw_drain(kinesis, empty_streams.transactions_stream) == n
        raw = n / (time.perf_counter() - t0)

        spark = build_session("bench-pipeline", "local[2]", shuffle_partitions=2, extra={"spark.ui.enabled": "false"})
        spark.sparkContext.setLogLevel("ERROR")
        warm_up = drain(settings("history"), history_streams, spark)  # 30 days into state, not measured
        empty = drain(settings("empty"), empty_streams, spark)
        put_history(backlog, history_streams, kinesis)
        with_history = drain(settings("history"), history_streams, spark)
        alone = _alone(spark, backlog, empty_streams, workdir, settings("alone"), max_records_per_batch)
        spark.stop()
    assert empty.rows == with_history.rows >= n, (empty.rows, with_history.rows, n)
    # The replay's rows are accepted as Kinesis' are (a few late ones there: the producer's batching
    # reorders busy cards' records a little); a replay that quarantined them would measure less work.
    assert alone.rows == empty.rows and alone.quarantined <= max(empty.quarantined, alone.rows // 100), (alone, empty)
    return {
        "transactions": n,
        "history_transactions": warm_up.rows,
        "shards": shards,
        "raw_get_records_per_s": round(raw),
        **empty.figures("empty"),
        **with_history.figures("history"),
        **alone.figures("alone"),
        "ratio": round(empty.steady_per_s / raw, 3),
        "rate_ratio": round(with_history.steady_per_s / empty.steady_per_s, 3),
        "batch_ratio": round(with_history.batch_s / empty.batch_s, 3),
    }


def _alone(
    spark: Any, backlog: list[Any], resources: ResourceSettings, workdir: Path, settings: Any, per_file: int
) -> Any:
    """The drain fed from Parquet replay files of the backlog's records (the same rows Kinesis gives)."""
    from processor.kinesis_source import KINESIS_SCHEMA

    files = workdir / "replay"
    replay_files(backlog, resources, files, per_file)
    source = spark.readStream.schema(KINESIS_SCHEMA).option("maxFilesPerTrigger", 1).parquet(str(files))
    return drain(settings, resources, spark, source=source)


def measure(quick: bool = False) -> list[BenchResult]:
    """The benchmark's rows (empty state, history in state): `run` at the default or the `--quick` size."""
    size = QUICK_SIZE if quick else SIZE
    f = run(**size)
    backlog = (
        f"{size['days']} days of synthetic history ({f['transactions']:,} transactions of {size['cards']:,} cards, "
        f"{f['shards']} shards, batches of at most {size['max_records_per_batch']:,} records)"
    )
    return [
        BenchResult(
            benchmark="pipeline",
            name="pipeline",
            description=(
                f"whole processor (`run_job`, every stage and sink) draining {backlog} vs raw GetRecords, same "
                "emulator; rate over the batches after the first (the query's start and first batch: "
                f"{f['empty_first_batch_s']:g} s; with it included: {f['empty_with_start_per_s']:,}/s)"
            ),
            measured=(
                f"{f['empty_per_s']:,} vs {f['raw_get_records_per_s']:,} transactions/s = "
                f"**{format_ratio(f['ratio'])}x**; a batch every {f['empty_batch_s']:g} s"
            ),
            figures=f,
            targets=TARGETS,
            size=size,
        ),
        BenchResult(
            benchmark="pipeline",
            name="pipeline-history",
            description=(
                f"the same drain with {size['history_days']} days of history in state "
                f"({f['history_transactions']:,} transactions drained first on the same checkpoint)"
            ),
            measured=(
                f"{f['history_per_s']:,} transactions/s = **{format_ratio(f['rate_ratio'])}x** the empty state's; "
                f"a batch every {f['history_batch_s']:g} s = **{format_ratio(f['batch_ratio'])}x**"
            ),
            figures=f,
            targets=HISTORY_TARGETS,
            size=size,
        ),
        BenchResult(
            benchmark="pipeline",
            name="pipeline-alone",
            description=(
                "the processor alone: the same plan, stages and sinks fed from Parquet files of the backlog's "
                "records (one per batch) instead of Kinesis"
            ),
            measured=(
                f"{f['alone_per_s']:,} transactions/s (a batch every {f['alone_batch_s']:g} s), "
                f"vs the emulator's {f['raw_get_records_per_s']:,}/s GetRecords"
            ),
            figures=f,
            target_note="(the processor's own ceiling on this machine)",
            size=size,
        ),
    ]


if __name__ == "__main__":
    from bench.results import print_results

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    print_results(measure(quick="--quick" in sys.argv))
