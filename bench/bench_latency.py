"""Event-to-alert latency of the whole pipeline at a steady offered load (1,000 transactions/s).

The processor (`run_job`, every stage and sink) runs in a thread on a started Spark session while
the producer offers synthetic transactions at a fixed rate (`tps`) for a warm-up and then the
measured period. A row's latency is from its arrival in Kinesis (the record's approximate arrival
timestamp, kept in the lake as `arrival_time`) to the end of the micro-batch that wrote it to the
lake and its alert to DynamoDB. The query's first batch (Python workers, state stores) is taken by
a few priming records before the load starts; only rows that arrived after the warm-up count. Producer, emulator
and Spark share the same 2 cores, as on a laptop. Target (issue 4): p50 <= 0.5 s and p99 <= 1 s.

Run: `fraudstream bench --only latency`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench._emulator import emulator_process
from bench.bench_pipeline import _model
from bench.results import BenchResult, Target
from fraudstream.config import ResourceSettings
from producer.generator import GeneratorConfig, generate_history

if TYPE_CHECKING:
    from processor.metrics import BatchMetrics

TARGETS = (
    Target("p50_s", "<=", 0.5, "p50 <= 0.5 s"),
    Target("p99_s", "<=", 1.0, "p99 <= 1 s"),
)
CARDS = 5_000  # about 11,000 transactions per synthetic day
TX_PER_DAY = 11_000
SIZE: dict[str, Any] = {"tps": 1_000, "warmup_s": 20, "measured_s": 60}
QUICK_SIZE: dict[str, Any] = {"tps": 200, "warmup_s": 10, "measured_s": 15}


def run(tps: float, warmup_s: float, measured_s: float) -> dict[str, Any]:
    from fraudstream.aws import s3_filesystem
    from fraudstream.local.provision import provision
    from fraudstream.query import run_query
    from processor.config import ProcessorSettings
    from processor.job import run_job
    from processor.spark import build_session
    from producer.app import run_producer
    from producer.config import ProducerSettings

    workdir = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    world = GeneratorConfig(seed=3, n_cards=CARDS, n_terminals=2 * CARDS)
    model = _model(generate_history(world, date(2026, 1, 1), 2), workdir / "model")
    # The offered transactions' event times end before now: at `tps`, a day of events goes by in about
    # TX_PER_DAY / tps seconds; the span is three times what the run needs (nights are quiet), and the
    # duration ends the run.
    span_days = (warmup_s + measured_s) * tps / TX_PER_DAY * 3
    with emulator_process() as env:
        os.environ.update(env)
        resources = ResourceSettings()
        provision(resources, shards=2)
        spark = build_session("bench-latency", "local[2]", shuffle_partitions=2, extra={"spark.ui.enabled": "false"})
        spark.sparkContext.setLogLevel("ERROR")
        finished: dict[int, float] = {}
        drain, primed, failure = threading.Event(), threading.Event(), []

        def on_batch(metrics: BatchMetrics) -> None:
            finished[metrics.batch_id] = time.time()
            if metrics.rows_in:
                primed.set()

        def process() -> None:
            settings = ProcessorSettings(
                checkpoint_location=str(workdir / "checkpoint"), model_dir=str(model), trigger_interval="0 seconds"
            )
            try:
                run_job(settings, resources, until_idle=True, drain=drain, on_batch=on_batch, spark=spark)
            except Exception as e:  # noqa: BLE001 - re-raised in the main thread
                failure.append(e)

        job = threading.Thread(target=process, name="processor")
        job.start()
        history_start = datetime.now(UTC) - timedelta(days=span_days)
        # Priming: the query's first batch starts its Python workers and state stores (tens of
        # seconds); a few older transactions of another world take that before the load starts.
        run_producer(
            ProducerSettings(seed=4, cards=CARDS, terminals=2 * CARDS),
            resources,
            start_at=history_start - timedelta(days=1),
            speedup=0,
            count=100,
            on_progress=lambda _summary: None,
        )
        if not primed.wait(600):
            raise RuntimeError("the processor did not finish its first batch within 10 minutes")
        started = time.time()
        produced = run_producer(
            ProducerSettings(seed=3, cards=CARDS, terminals=2 * CARDS, label_delay_days=1.0),
            resources,
            days=span_days,
            start_at=history_start,
            speedup=0,
            tps=tps,
            duration=warmup_s + measured_s,
            on_progress=lambda _summary: None,
        )
        drain.set()
        job.join()
        spark.stop()
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
        "offered_per_s": round(produced.rate),
        "transactions": int(len(rows)),
        "measured_rows": int(measured.sum()),
        "batches": len(finished),
        "p50_s": round(p50, 2),
        "p99_s": round(p99, 2),
        "met": p50 <= TARGETS[0].bound and p99 <= TARGETS[1].bound,
    }


def measure(quick: bool = False) -> list[BenchResult]:
    size = QUICK_SIZE if quick else SIZE
    f = run(**size)
    return [
        BenchResult(
            benchmark="latency",
            name="latency",
            description=(
                f"event-to-alert latency (arrival in Kinesis to the micro-batch's lake and alert writes) at "
                f"{size['tps']:,} transactions/s offered for {size['measured_s']} s after a {size['warmup_s']} s "
                "warm-up; producer, emulator and Spark on the same 2 cores"
            ),
            measured=f"p50 **{f['p50_s']:g} s**, p99 **{f['p99_s']:g} s** at {f['offered_per_s']:,}/s offered",
            figures=f,
            targets=TARGETS,
            size=size,
        )
    ]


if __name__ == "__main__":
    from bench.results import print_results

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    print_results(measure(quick="--quick" in sys.argv))
