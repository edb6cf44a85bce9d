"""Event-to-alert latency of the whole pipeline at a steady offered load (1,000 transactions/s), beside
Spark's own floor measured in the same run, with empty state and with 30 days of history in state.

In one Spark session (the processor's settings, started beforehand):
floor    the one-stage floor of `bench.bench_floor` (`rate` source -> one pass-through
         transformWithStateInPandas stage -> foreachBatch) at the same offered rate: what Spark's
         micro-batch engine itself takes on this machine, now;
empty    the processor (`run_job`, every stage and sink) on a new checkpoint while a producer, in a
         process of its own, offers `tps` synthetic transactions per second for a warm-up and then
         the measured period;
history  the same on a checkpoint that first drained the 30 days before the offered transactions
         (not measured): what a deployed job lives with.

A row's latency is from its arrival in Kinesis (the record's approximate arrival timestamp, kept in
the lake as `arrival_time`) to the end of the micro-batch that wrote it to the lake and its alert to
DynamoDB; the query's first batch is taken by a few priming records before the load starts, and only
rows that arrived after the warm-up count. Producer, emulator and Spark share the same 2 cores.

Targets (issue 17): p50 <= 1.75x and p99 <= 2x the floor's; with history, p50 and p99 within 1.25x
of the empty state's. Run: `fraudstream bench --only latency`.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench._emulator import emulator_process
from bench._processor import drain, model, put_history
from bench.results import BenchResult, Target, format_ratio
from fraudstream.config import ResourceSettings
from synthetic.generator import GeneratorConfig, TransactionGenerator

if TYPE_CHECKING:
    from processor.metrics import BatchMetrics

TARGETS = (
    Target("p50_ratio", "<=", 1.75, "p50 <= 1.75x the floor's"),
    Target("p99_ratio", "<=", 2.0, "p99 <= 2x"),
)
HISTORY_TARGETS = (
    Target("p50_ratio", "<=", 1.25, "p50 <= 1.25x empty state's"),
    Target("p99_ratio", "<=", 1.25, "p99 <= 1.25x"),
)
CARDS = 5_000  # about 11,000 transactions per synthetic day
TX_PER_DAY = 11_000
HISTORY_DAYS = 30
SIZE: dict[str, Any] = {"tps": 1_000, "warmup_s": 20, "measured_s": 60, "history_days": HISTORY_DAYS}
QUICK_SIZE: dict[str, Any] = {"tps": 200, "warmup_s": 10, "measured_s": 15, "history_days": 2}


def _produce(
    env: dict[str, str], resources: ResourceSettings, start: datetime, days: float, tps: float, seconds: float
) -> None:
    """The offered load, in a process of its own (a real producer does not share the driver's GIL)."""
    os.environ.update(env)
    from producer.app import run_producer
    from producer.config import ProducerSettings

    settings = ProducerSettings(seed=3, cards=CARDS, terminals=2 * CARDS, label_delay_days=1.0)
    run_producer(
        settings, resources, days=days, start_at=start, speedup=0, tps=tps, duration=seconds, on_progress=lambda _: None
    )


def _load(
    spark: Any, env: dict[str, str], resources: ResourceSettings, model_dir: Path, checkpoint: Path, **size: Any
) -> dict[str, Any]:
    """One latency run on `checkpoint`: prime, offer the load, drain, read the lake back."""
    from fraudstream.aws import s3_filesystem
    from fraudstream.query import run_query
    from processor.config import ProcessorSettings
    from processor.job import run_job
    from producer.app import run_producer
    from producer.config import ProducerSettings

    tps, warmup_s, measured_s = size["tps"], size["warmup_s"], size["measured_s"]
    # The offered transactions' event times end before now: at `tps`, a day of events goes by in about
    # TX_PER_DAY / tps seconds; the span is three times what the run needs (nights are quiet), and the
    # duration ends the run.
    span_days = (warmup_s + measured_s) * tps / TX_PER_DAY * 3
    start = datetime.now(UTC) - timedelta(days=span_days)
    finished: dict[int, float] = {}
    drain_now, primed, failure = threading.Event(), threading.Event(), []

    def on_batch(metrics: BatchMetrics) -> None:
        finished[metrics.batch_id] = time.time()
        if metrics.rows_in:
            primed.set()

    def process() -> None:
        settings = ProcessorSettings(
            checkpoint_location=str(checkpoint),
            model_dir=str(model_dir),
            trigger_interval="0 seconds",
            label_delay_days=1.0,
        )
        try:
            run_job(settings, resources, until_idle=True, drain=drain_now, on_batch=on_batch, spark=spark)
        except Exception as e:  # noqa: BLE001 - re-raised in the main thread
            failure.append(e)

    job = threading.Thread(target=process, name="processor")
    job.start()
    # Priming: a new query's first batch starts its Python workers and state stores; a few
    # transactions of another world take that before the load starts.
    run_producer(
        ProducerSettings(seed=4, cards=CARDS, terminals=2 * CARDS),
        resources,
        start_at=start - timedelta(hours=1),
        speedup=0,
        count=100,
        on_progress=lambda _summary: None,
    )
    deadline = time.monotonic() + 600
    while not primed.wait(0.2):
        if failure:
            raise failure[0]
        if time.monotonic() > deadline:
            raise RuntimeError("the processor did not finish its first batch within 10 minutes")
    started = time.time()
    producer = multiprocessing.get_context("spawn").Process(
        target=_produce, args=(env, resources, start, span_days, tps, warmup_s + measured_s), name="producer"
    )
    producer.start()
    producer.join()
    drain_now.set()
    job.join()
    if failure:
        raise failure[0]
    rows = run_query(
        "SELECT arrival_time, batch_id FROM transactions", resources.lake_bucket, s3_filesystem()
    ).to_pandas()
    arrival = (rows["arrival_time"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    done = rows["batch_id"].map(finished).to_numpy(dtype=float)
    measured = arrival >= started + warmup_s
    latency = (done - arrival)[measured]
    p50, p99 = (float(np.percentile(latency, q)) for q in (50, 99)) if len(latency) else (float("nan"),) * 2
    return {
        "measured_rows": int(measured.sum()),
        "offered_per_s": round(measured.sum() / measured_s),
        "batches": len(finished),
        "p50_s": round(p50, 2),
        "p99_s": round(p99, 2),
    }


def run(**size: Any) -> dict[str, Any]:
    from bench.bench_floor import run as floor_run
    from fraudstream.local.provision import provision
    from processor.config import ProcessorSettings
    from processor.spark import build_session

    workdir = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    world = GeneratorConfig(seed=3, n_cards=CARDS, n_terminals=2 * CARDS)
    with emulator_process() as env:
        # The emulator first: Spark's Python workers take their AWS configuration from the
        # environment the session starts in.
        os.environ.update(env)
        spark = build_session("bench-latency", "local[2]", shuffle_partitions=2, extra={"spark.ui.enabled": "false"})
        spark.sparkContext.setLogLevel("ERROR")
        try:
            floor_s = 40 if size["tps"] >= 1000 else 10
            floor = floor_run(spark, "one stage", tps=size["tps"], warmup_s=10, measured_s=floor_s)
            import boto3

            empty_streams = ResourceSettings(
                transactions_stream="tx-empty", labels_stream="labels-empty", lake_bucket="lake-empty"
            )
            history_streams = ResourceSettings(
                transactions_stream="tx-history", labels_stream="labels-history", lake_bucket="lake-history"
            )
            for resources in (empty_streams, history_streams):
                provision(resources, shards=2)
            # The history: the days before the offered load's, drained on the history checkpoint first.
            span_days = (size["warmup_s"] + size["measured_s"]) * size["tps"] / TX_PER_DAY * 3
            first_day = (datetime.now(UTC) - timedelta(days=span_days + size["history_days"])).date()
            generator = TransactionGenerator(world, first_day)
            days = [generator.next_day() for _ in range(size["history_days"])]
            trained = model(days[-1], workdir / "model")
            put_history(days, history_streams, boto3.client("kinesis"))
            history_settings = ProcessorSettings(
                checkpoint_location=str(workdir / "history"),
                model_dir=str(trained),
                trigger_interval="0 seconds",
                label_delay_days=1.0,
            )
            prefilled = drain(history_settings, history_streams, spark)
            empty = _load(spark, env, empty_streams, trained, workdir / "empty", **size)
            with_history = _load(spark, env, history_streams, trained, workdir / "history", **size)
        finally:
            spark.stop()
    return {
        "floor_p50_s": floor["p50_s"],
        "floor_p99_s": floor["p99_s"],
        "history_transactions": prefilled.rows,
        **{f"empty_{k}": v for k, v in empty.items()},
        **{f"history_{k}": v for k, v in with_history.items()},
    }


def measure(quick: bool = False) -> list[BenchResult]:
    size = QUICK_SIZE if quick else SIZE
    f = run(**size)
    load = (
        f"at {size['tps']:,} transactions/s offered for {size['measured_s']} s after a {size['warmup_s']} s warm-up; "
        "producer (own process), emulator and Spark on the same 2 cores"
    )
    empty = {
        "p50_s": f["empty_p50_s"],
        "p99_s": f["empty_p99_s"],
        "p50_ratio": round(f["empty_p50_s"] / f["floor_p50_s"], 2),
        "p99_ratio": round(f["empty_p99_s"] / f["floor_p99_s"], 2),
    }
    history = {
        "p50_s": f["history_p50_s"],
        "p99_s": f["history_p99_s"],
        "p50_ratio": round(f["history_p50_s"] / f["empty_p50_s"], 2),
        "p99_ratio": round(f["history_p99_s"] / f["empty_p99_s"], 2),
    }
    return [
        BenchResult(
            benchmark="latency",
            name="latency",
            description=(
                f"event-to-alert latency (arrival in Kinesis to the micro-batch's lake and alert writes) {load}, "
                f"beside the one-stage floor of the same run (p50 {f['floor_p50_s']:g} s, p99 {f['floor_p99_s']:g} s)"
            ),
            measured=(
                f"p50 **{empty['p50_s']:g} s** = **{format_ratio(empty['p50_ratio'])}x** the floor's, "
                f"p99 **{empty['p99_s']:g} s** = **{format_ratio(empty['p99_ratio'])}x**"
            ),
            figures={**f, **empty},
            targets=TARGETS,
            size=size,
        ),
        BenchResult(
            benchmark="latency",
            name="latency-history",
            description=(
                f"the same with {size['history_days']} days of history in state "
                f"({f['history_transactions']:,} transactions drained first on the same checkpoint)"
            ),
            measured=(
                f"p50 **{history['p50_s']:g} s** = **{format_ratio(history['p50_ratio'])}x** the empty state's, "
                f"p99 **{history['p99_s']:g} s** = **{format_ratio(history['p99_ratio'])}x**"
            ),
            figures={**f, **history},
            targets=HISTORY_TARGETS,
            size=size,
        ),
    ]


if __name__ == "__main__":
    from bench.results import print_results

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    print_results(measure(quick="--quick" in sys.argv))
