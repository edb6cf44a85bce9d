"""Local endpoint vs in-process predict, measured side by side in one run.

- Throughput on 10,000-row requests: rows/s through boto3's `invoke_endpoint` against the local
  server (own process, as `fraudstream serve` runs; text/csv both ways) vs `Booster.inplace_predict`
  on the same rows in this process. Target: endpoint >= 0.5x in-process.
- Latency of a 500-row `invoke_endpoint`: p50/p99 over sequential calls. Target: p99 <= 20 ms.

The model is sized like a production fraud model (300 trees of depth 6 on the 27 features), so the
figures weigh parsing against a realistic predict. Bodies are encoded once, before timing.

Size: `rounds` of `requests` throughput calls, `latency_calls` latency calls; the model, the
request sizes and the client count stay as they are with `--quick`.
Run: `fraudstream bench --only endpoint`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import xgboost as xgb
from botocore.config import Config

from bench.results import BenchResult, Target, format_ratio
from ml_model.artifact import ModelCard, load_artifact, write_artifact
from ml_model.features import FEATURE_SPEC
from ml_model.scoring.sagemaker import encode_rows

if TYPE_CHECKING:
    from collections.abc import Iterator

THROUGHPUT_ROWS = 10_000
LATENCY_ROWS = 500
ENDPOINT = "bench-endpoint"
THROUGHPUT_TARGET = 0.5
LATENCY_TARGET_P99_MS = 20.0
THROUGHPUT_TARGETS = (Target("throughput_ratio", ">=", THROUGHPUT_TARGET, f">= {THROUGHPUT_TARGET}x"),)
LATENCY_TARGETS = (
    Target("latency_500_rows_p99_ms", "<=", LATENCY_TARGET_P99_MS, f"p99 <= {LATENCY_TARGET_P99_MS:g} ms"),
)
TARGETS = THROUGHPUT_TARGETS + LATENCY_TARGETS
SIZE: dict[str, Any] = {"rounds": 5, "requests": 8, "latency_calls": 1000}
QUICK_SIZE: dict[str, Any] = {"rounds": 2, "requests": 4, "latency_calls": 200}


def _rows(n: int, seed: int) -> np.ndarray:
    """Feature rows shaped like the real ones: 0/1 flags, whole counts and seconds, amounts and sums
    in cents, means, ratios, rates and distances at full float64 precision; 5% missing elsewhere."""
    rng = np.random.default_rng(seed)
    rows: np.ndarray = rng.lognormal(mean=2.0, sigma=1.5, size=(n, len(FEATURE_SPEC)))
    for i, name in enumerate(FEATURE_SPEC.names):
        if name.startswith(("is_", "channel_")):
            rows[:, i] = rng.random(n) < 0.2
        elif "_count_" in name or "distinct" in name or "seconds" in name:
            rows[:, i] = np.floor(rows[:, i])
        elif name == "amount" or "_sum_" in name:
            rows[:, i] = np.round(rows[:, i], 2)
        else:
            rows[rng.random(n) < 0.05, i] = np.nan
    return rows


def _model(workdir: Path) -> Path:
    rows = _rows(20_000, seed=1)
    rng = np.random.default_rng(2)
    signal = np.nan_to_num(np.log1p(rows[:, 0]) + np.log1p(rows[:, 7]) - np.log1p(rows[:, 14]))
    labels = (signal + rng.normal(size=len(rows)) > 4.0).astype(int)
    params = {"objective": "binary:logistic", "max_depth": 6, "eta": 0.05, "tree_method": "hist", "seed": 0}
    booster = xgb.train(params, xgb.DMatrix(rows, label=labels), num_boost_round=300)
    card = ModelCard(model_version="bench", feature_spec_hash=FEATURE_SPEC.hash, threshold=0.5)
    return write_artifact(booster, FEATURE_SPEC, card, workdir)


@contextmanager
def _endpoint_process(artifact: Path) -> Iterator[str]:
    with subprocess.Popen(
        [sys.executable, "-m", "ml_model.serving", "--model", str(artifact), "--port", "0", "--name", ENDPOINT],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    ) as process:
        try:
            assert process.stdout is not None
            match = re.match(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
            if match is None:
                raise RuntimeError("the endpoint did not start")
            yield match.group(0)
        finally:
            process.terminate()
            process.wait(timeout=30)


def _client(url: str) -> Any:
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 (any value works against the local server)
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60, max_pool_connections=8),
    )


def _invoke(client: Any, body: bytes) -> int:
    response = client.invoke_endpoint(EndpointName=ENDPOINT, Body=body, ContentType="text/csv", Accept="text/csv")
    return len(response["Body"].read().split())


def run(rounds: int = 5, requests: int = 8, latency_calls: int = 1000, clients: int = 2) -> dict[str, Any]:
    """Measure both figures; returns them (rows/s, ratio, p50/p99 ms).

    Throughput alternates in-process and endpoint in `rounds` rounds of `requests` calls each and
    reports medians, so that other load on the machine weighs on both sides alike.
    """
    with tempfile.TemporaryDirectory(prefix="bench-endpoint-") as tmp:
        artifact_path = _model(Path(tmp))
        booster = load_artifact(artifact_path).booster
        big = _rows(THROUGHPUT_ROWS, seed=3)
        small = _rows(LATENCY_ROWS, seed=4)
        big_body = ("\n".join(encode_rows(big)) + "\n").encode()
        small_body = ("\n".join(encode_rows(small)) + "\n").encode()

        booster.inplace_predict(big)
        with _endpoint_process(artifact_path) as url, ThreadPoolExecutor(clients) as pool:
            client = _client(url)
            assert _invoke(client, big_body) == THROUGHPUT_ROWS  # warm-up, and a check
            in_process, endpoint = [], []
            for _ in range(rounds):
                # In process: the same rows, the same number of times.
                started = time.perf_counter()
                for _ in range(requests):
                    booster.inplace_predict(big)
                in_process.append(requests * THROUGHPUT_ROWS / (time.perf_counter() - started))
                started = time.perf_counter()
                scored = sum(pool.map(lambda _: _invoke(client, big_body), range(requests)))
                endpoint.append(scored / (time.perf_counter() - started))
            in_process_rps = float(np.median(in_process))
            endpoint_rps = float(np.median(endpoint))
            ratio = float(np.median(np.array(endpoint) / np.array(in_process)))

            for _ in range(50):
                _invoke(client, small_body)
            latencies = np.empty(latency_calls)
            for i in range(latency_calls):
                t0 = time.perf_counter()
                _invoke(client, small_body)
                latencies[i] = (time.perf_counter() - t0) * 1000

    figures = {
        "in_process_rows_per_s": in_process_rps,
        "endpoint_rows_per_s": endpoint_rps,
        "throughput_ratio": ratio,
        "throughput_ratio_per_round": (np.array(endpoint) / np.array(in_process)).round(2).tolist(),
        "throughput_target": THROUGHPUT_TARGET,
        "latency_500_rows_p50_ms": float(np.percentile(latencies, 50)),
        "latency_500_rows_p99_ms": float(np.percentile(latencies, 99)),
        "latency_target_p99_ms": LATENCY_TARGET_P99_MS,
        "body_bytes_10k_rows": len(big_body),
        "clients": clients,
        "trees": booster.num_boosted_rounds(),
    }
    return figures


def measure(quick: bool = False) -> list[BenchResult]:
    """The benchmark's two rows, throughput and latency: `run` at the default or the `--quick` size."""
    size = QUICK_SIZE if quick else SIZE
    f = run(**size)
    model = f"{f['trees']} trees of depth 6 on {len(FEATURE_SPEC)} features"
    latency = {k: v for k, v in f.items() if k.startswith("latency_")}
    throughput = {k: v for k, v in f.items() if k not in latency}
    return [
        BenchResult(
            benchmark="endpoint",
            name="endpoint-throughput",
            description=(
                f"local endpoint, {THROUGHPUT_ROWS:,}-row `invoke_endpoint` calls vs in-process `predict` on the same "
                f"rows ({model}, {f['clients']} clients, median of {size['rounds']} rounds)"
            ),
            measured=(
                f"{f['endpoint_rows_per_s']:,.0f} vs {f['in_process_rows_per_s']:,.0f} rows/s = "
                f"**{format_ratio(f['throughput_ratio'])}x**"
            ),
            figures=throughput,
            targets=THROUGHPUT_TARGETS,
            size=size,
        ),
        BenchResult(
            benchmark="endpoint",
            name="endpoint-latency",
            description=(
                f"local endpoint, {LATENCY_ROWS}-row `invoke_endpoint` latency ({size['latency_calls']:,} "
                "sequential calls)"
            ),
            measured=f"p50 {f['latency_500_rows_p50_ms']:.1f} ms, **p99 {f['latency_500_rows_p99_ms']:.1f} ms**",
            figures=latency,
            targets=LATENCY_TARGETS,
            size=size,
        ),
    ]


if __name__ == "__main__":
    from bench.results import print_results

    print_results(measure())
