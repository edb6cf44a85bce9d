"""The whole stream processor's backlog drain rate vs raw GetRecords on the same emulator.

A day of synthetic transactions (and their chargebacks) is put on the streams; a single client
reads the transactions stream to its end with GetRecords (raw); then `run_job(until_idle=True)`
drains both streams through every stage and sink: parse, card and terminal state, scoring with the
model in process, lake, alerts, quarantine (pipeline). The Spark session is started beforehand, so
the pipeline's time is its query start-up plus its batches. Target: >= 0.5x raw and >= 10,000
transactions/s on 2 cores.
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
from fraudstream.config import ResourceSettings
from producer.dead_letter import DeadLetterFile
from producer.delivery import DeliveryConfig, StreamKind, deliveries
from producer.generator import GeneratorConfig, generate_history
from producer.kinesis_writer import KinesisWriter

TARGET_RATIO = 0.5
TARGET_PER_S = 10_000


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


def run(days: int = 1, shards: int = 2, aggregates: bool = True) -> dict[str, Any]:
    from fraudstream.local.provision import provision
    from processor.config import ProcessorSettings
    from processor.job import run_job
    from processor.spark import build_session

    history = generate_history(GeneratorConfig(seed=3), date(2026, 1, 1), days)
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


if __name__ == "__main__":
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in run(aggregates="--no-aggregates" not in sys.argv).items():
        print(f"{key:24} {value}")
