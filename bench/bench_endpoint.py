"""Local endpoint vs in-process predict, measured side by side in one run.

- Throughput on 10,000-row requests: rows/s through boto3's `invoke_endpoint` against the local
  server (own process, as `fraudstream serve` runs; text/csv both ways) vs `Booster.inplace_predict`
  on the same rows in this process. Target: endpoint >= 0.5x in-process.
- Latency of a 500-row `invoke_endpoint`: p50/p99 over sequential calls. Target: p99 <= 20 ms.

The model is sized like a production fraud model (300 trees of depth 6 on the 27 features), so the
figures weigh parsing against a realistic predict. Bodies are encoded once, before timing.

Run: `.venv/bin/python -m bench.bench_endpoint`.
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

from ml_model.artifact import ModelCard, load_artifact, write_artifact
from ml_model.features import FEATURE_SPEC
from ml_model.scoring.sagemaker import encode_rows

if TYPE_CHECKING:
    from collections.abc import Iterator

THROUGHPUT_ROWS = 10_000
LATENCY_ROWS = 500
ENDPOINT = "bench-endpoint"


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
    """Measure both figures; returns them (rows/s, ratio, p50/p99 ms) and prints a table.

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
        "throughput_target": 0.5,
        "latency_500_rows_p50_ms": float(np.percentile(latencies, 50)),
        "latency_500_rows_p99_ms": float(np.percentile(latencies, 99)),
        "latency_target_p99_ms": 20.0,
        "body_bytes_10k_rows": len(big_body),
        "clients": clients,
        "trees": booster.num_boosted_rounds(),
    }
    _print(figures)
    return figures


def _print(f: dict[str, Any]) -> None:
    ratio_ok = "ok" if f["throughput_ratio"] >= f["throughput_target"] else "MISSED"
    p99_ok = "ok" if f["latency_500_rows_p99_ms"] <= f["latency_target_p99_ms"] else "MISSED"
    print(f"local endpoint vs in-process ({f['trees']} trees, depth 6, {len(FEATURE_SPEC)} features)")
    print(f"{'measure':<44}{'value':>14}  target")
    print(f"{'in-process predict, 10,000-row calls':<44}{f['in_process_rows_per_s']:>10,.0f} r/s")
    print(f"{'endpoint, 10,000-row invoke_endpoint':<44}{f['endpoint_rows_per_s']:>10,.0f} r/s")
    print(f"{'  ratio endpoint / in-process (median)':<44}{f['throughput_ratio']:>14.2f}  >= 0.5 {ratio_ok}")
    print(f"{'  per round':<44}{str(f['throughput_ratio_per_round']):>14}")
    print(f"{'500-row invoke_endpoint p50':<44}{f['latency_500_rows_p50_ms']:>11.2f} ms")
    print(f"{'500-row invoke_endpoint p99':<44}{f['latency_500_rows_p99_ms']:>11.2f} ms  <= 20 {p99_ok}")


if __name__ == "__main__":
    run()
