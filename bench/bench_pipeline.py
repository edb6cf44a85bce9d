"""The whole stream processor's backlog drain rate vs raw GetRecords on the same emulator.

A day of synthetic transactions (and their chargebacks) is put on the streams; a single client
reads the transactions stream to its end with GetRecords (raw); then `run_job(until_idle=True)`
drains both streams through every stage and sink: parse, card and terminal state, scoring with the
model in process, lake, alerts, quarantine (pipeline). The Spark session is started beforehand, so
the pipeline's time is its query start-up plus its batches. Target: >= 0.5x raw and >= 10,000
transactions/s on 2 cores.

Size: `days` of synthetic history from a world of `cards` cards (twice as many terminals); the
default, 5,000 cards, is the generator's default world (about 11,000 transactions a day). `--quick`
takes a small world so that the run stays short; its figures say little about the target.
Run: `fraudstream bench --only pipeline`.
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
from bench.bench_source import _raw_drain
from bench.results import BenchResult, Target, format_ratio
from fraudstream.config import ResourceSettings
from producer.dead_letter import DeadLetterFile
from producer.delivery import DeliveryConfig, StreamKind, deliveries
from producer.generator import GeneratorConfig, generate_history
from producer.kinesis_writer import KinesisWriter

TARGET_RATIO = 0.5
TARGET_PER_S = 10_000
TARGETS = (
    Target("ratio", ">=", TARGET_RATIO, f">= {TARGET_RATIO}x"),
    Target("pipeline_per_s", ">=", TARGET_PER_S, f">= {TARGET_PER_S:,}/s"),
)
SIZE: dict[str, Any] = {"days": 4, "cards": 5_000}
QUICK_SIZE: dict[str, Any] = {"days": 1, "cards": 250}


def _model(history: Any, folder: Path) -> Path:
    """A model trained on the benchmark's own features (scoring cost is what matters here)."""
    import xgboost as xgb

    from ml_model.artifact import ModelCard, write_artifact
    from ml_model.features import FEATURE_SPEC, compute_features

    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 6, "seed": 1, "tree_method": "hist"},
        xgb.DMatrix(compute_features(history).to_numpy(), label=history["is_fraud"]),
        num_boost_round=100,
    )
    card = ModelCard(model_version="bench", feature_spec_hash=FEATURE_SPEC.hash, threshold=0.5)
    return write_artifact(booster, FEATURE_SPEC, card, folder)


def run(days: int = 1, shards: int = 2, aggregates: bool = True, cards: int = 5_000) -> dict[str, Any]:
    from fraudstream.local.provision import provision
    from processor.config import ProcessorSettings
    from processor.job import run_job
    from processor.spark import build_session

    world = GeneratorConfig(seed=3, n_cards=cards, n_terminals=2 * cards)
    history = generate_history(world, date(2026, 1, 1), days)
    workdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    model = _model(history, workdir / "model")
    with emulator_process() as env:
        os.environ.update(env)
        resources = ResourceSettings()
        provision(resources, shards=shards)
        kinesis = boto3.client("kinesis")
        streams = {StreamKind.TRANSACTIONS: resources.transactions_stream, StreamKind.LABELS: resources.labels_stream}
        writers = {
            kind: KinesisWriter(name, dead_letter=DeadLetterFile(workdir / f"{kind}.jsonl"), client=kinesis)
            for kind, name in streams.items()
        }
        n = 0
        for d in deliveries([history], DeliveryConfig(label_delay_days=1.0)):
            writers[d.stream].put(d.partition_key, d.data)
            n += d.stream is StreamKind.TRANSACTIONS
        for writer in writers.values():
            writer.flush()
            writer.close()

        t0 = time.perf_counter()
        assert _raw_drain(kinesis, resources.transactions_stream) == n
        raw = n / (time.perf_counter() - t0)

        spark = build_session("bench-pipeline", "local[2]", shuffle_partitions=2, extra={"spark.ui.enabled": "false"})
        spark.sparkContext.setLogLevel("ERROR")
        settings = ProcessorSettings(
            checkpoint_location=str(workdir / "checkpoint"),
            model_dir=str(model),
            trigger_interval="0 seconds",
            aggregates=aggregates,
        )
        summary = run_job(settings, resources, until_idle=True, spark=spark)
        spark.stop()
        assert summary.rows_in == n, (summary.rows_in, n)
        pipeline = n / summary.elapsed_s
        return {
            "transactions": n,
            "shards": shards,
            "aggregates": aggregates,
            "batches": summary.batches,
            "raw_get_records_per_s": round(raw),
            "pipeline_per_s": round(pipeline),
            "ratio": round(pipeline / raw, 3),
            "met": pipeline / raw >= TARGET_RATIO and pipeline >= TARGET_PER_S,
        }


def measure(quick: bool = False, aggregates: bool = True) -> list[BenchResult]:
    """The benchmark's row: `run` at the default or the `--quick` size."""
    size = QUICK_SIZE if quick else SIZE
    f = run(aggregates=aggregates, **size)
    day_s = "a day" if size["days"] == 1 else f"{size['days']} days"
    return [
        BenchResult(
            benchmark="pipeline",
            name="pipeline",
            description=(
                f"whole processor (`run_job`, every stage and sink, aggregates {'on' if aggregates else 'off'}) "
                f"draining {day_s} of synthetic history ({f['transactions']:,} transactions of {size['cards']:,} "
                f"cards, {f['shards']} shards) vs raw GetRecords, same emulator"
            ),
            measured=(
                f"{f['pipeline_per_s']:,} vs {f['raw_get_records_per_s']:,} transactions/s = "
                f"**{format_ratio(f['ratio'])}x**"
            ),
            figures=f,
            targets=TARGETS,
            size=size,
        )
    ]


if __name__ == "__main__":
    from bench.results import print_results

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    print_results(measure(aggregates="--no-aggregates" not in sys.argv))
