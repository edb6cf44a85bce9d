"""Producer throughput vs the raw PutRecords rate of the same emulator, measured in one run.

Raw: the same records, already encoded, sent with back-to-back 500-record PutRecords calls and
nothing else. Producer: the whole producer path (generation, delivery scheduling, JSON encoding,
batching with per-key order, retries bookkeeping) over the same world. Target: >= 0.8 of raw.

Size: `days` of the generator's default world (about 11,000 records a day), `repeats` runs of each.
Run: `fraudstream bench --only producer`.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any

import boto3

from bench._emulator import emulator_process
from bench.results import BenchResult, Target, format_ratio
from producer.dead_letter import DeadLetterFile
from producer.delivery import DeliveryConfig, StreamKind, deliveries
from producer.kinesis_writer import KinesisWriter
from producer.stream_producer import Pacing, ProducerRun
from synthetic.generator import GeneratorConfig, TransactionGenerator

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd

TARGET_RATIO = 0.8
TARGETS = (Target("ratio", ">=", TARGET_RATIO, f">= {TARGET_RATIO}x"),)
SIZE: dict[str, Any] = {"days": 4, "repeats": 2}
QUICK_SIZE: dict[str, Any] = {"days": 1, "repeats": 1}


def _stream(kinesis: Any, shards: int = 4) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name)
    return name


def _days(config: GeneratorConfig, start: date, days: int) -> Iterator[pd.DataFrame]:
    gen = TransactionGenerator(config, start)
    return (gen.next_day() for _ in range(days))


def run(days: int = 4, repeats: int = 2) -> dict[str, Any]:
    """Run the benchmark and return its figures."""
    config = GeneratorConfig(seed=1)
    start = date(2026, 1, 1)
    with emulator_process() as env, TemporaryDirectory() as tmp:
        os.environ.update(env)
        kinesis = boto3.client("kinesis")
        records = list(deliveries(_days(config, start, days), DeliveryConfig(emit_labels=False)))
        n = len(records)
        raw_rates, producer_rates = [], []
        for _ in range(repeats):
            # Raw PutRecords: encoded records, back-to-back calls.
            stream = _stream(kinesis)
            t0 = time.perf_counter()
            for i in range(0, n, 500):
                kinesis.put_records(
                    StreamName=stream,
                    Records=[{"Data": d.data, "PartitionKey": d.partition_key} for d in records[i : i + 500]],
                )
            raw_rates.append(n / (time.perf_counter() - t0))

            # The producer, end to end, over the same world and days.
            stream = _stream(kinesis)
            writer = KinesisWriter(stream, dead_letter=DeadLetterFile(Path(tmp) / "dl.jsonl"), client=kinesis)
            t0 = time.perf_counter()
            summary = ProducerRun({StreamKind.TRANSACTIONS: writer}, pacing=Pacing(speedup=None)).run(
                deliveries(_days(config, start, days), DeliveryConfig(emit_labels=False))
            )
            producer_rates.append(summary.transactions_put / (time.perf_counter() - t0))
            assert writer.stats.sent == n, (writer.stats.sent, n)
        raw, producer = max(raw_rates), max(producer_rates)
        return {
            "records": n,
            "raw_put_records_per_s": round(raw),
            "producer_per_s": round(producer),
            "ratio": round(producer / raw, 3),
            "target_ratio": TARGET_RATIO,
            "met": producer / raw >= TARGET_RATIO,
        }


def measure(quick: bool = False) -> list[BenchResult]:
    """The benchmark's row: `run` at the default or the `--quick` size."""
    size = QUICK_SIZE if quick else SIZE
    f = run(**size)
    runs = f"best of {size['repeats']} runs" if size["repeats"] > 1 else "one run"
    return [
        BenchResult(
            benchmark="producer",
            name="producer",
            description=(
                "producer (generation, encoding, ordered batching) vs raw PutRecords of the same "
                f"{f['records']:,} records, embedded emulator in its own process ({runs})"
            ),
            measured=(
                f"{f['producer_per_s']:,} vs {f['raw_put_records_per_s']:,} records/s = **{format_ratio(f['ratio'])}x**"
            ),
            figures=f,
            targets=TARGETS,
            size=size,
        )
    ]


if __name__ == "__main__":
    from bench.results import print_results

    print_results(measure())
