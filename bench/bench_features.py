"""Offline feature throughput: every feature of 1.75 million synthetic transactions (the
generator's default world, about 160 days), against the 60-second target on 2 cores.

Size: `transactions` (about; whole days of the default world are generated). The target scales with
it: 60 s per 1.75 million transactions, i.e. at least 29,167 rows/s.
Run: `fraudstream bench --only features`.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from bench.results import BenchResult, Target
from ml_model.features import compute_features
from synthetic.generator import GeneratorConfig, generate_history

TARGET_S = 60.0
TARGET_TRANSACTIONS = 1_750_000
TARGET_ROWS_PER_S = TARGET_TRANSACTIONS / TARGET_S
TARGETS = (
    Target(
        "rows_per_s",
        ">=",
        TARGET_ROWS_PER_S,
        f"<= {TARGET_S:g} s for {TARGET_TRANSACTIONS:,} transactions (>= {TARGET_ROWS_PER_S:,.0f} rows/s)",
    ),
)
SIZE: dict[str, Any] = {"transactions": TARGET_TRANSACTIONS}
QUICK_SIZE: dict[str, Any] = {"transactions": 50_000}


def run(transactions: int = TARGET_TRANSACTIONS) -> dict[str, Any]:
    """Generate about `transactions` rows, then time `compute_features` over all of them."""
    config = GeneratorConfig(seed=1)
    history = generate_history(config, date(2026, 1, 1), 10)
    days = max(1, round(transactions / (len(history) / 10)))
    history = generate_history(config, date(2026, 1, 1), days)
    t0 = time.perf_counter()
    features = compute_features(history)
    elapsed = time.perf_counter() - t0
    assert len(features) == len(history)
    return {
        "transactions": len(history),
        "days": days,
        "seconds": round(elapsed, 1),
        "rows_per_s": round(len(history) / elapsed),
        "target_s": TARGET_S,
        "met": elapsed <= TARGET_S * len(history) / transactions,
    }


def measure(quick: bool = False) -> list[BenchResult]:
    """The benchmark's row: `run` at the default or the `--quick` size."""
    size = QUICK_SIZE if quick else SIZE
    f = run(**size)
    return [
        BenchResult(
            benchmark="features",
            name="features",
            description=(
                f"offline features (`compute_features`, all {f['days']} days at once) of {f['transactions']:,} "
                "synthetic transactions, the generator's default world"
            ),
            measured=f"{f['transactions']:,} transactions in {f['seconds']:g} s = **{f['rows_per_s']:,} rows/s**",
            figures=f,
            targets=TARGETS,
            size=size,
        )
    ]


if __name__ == "__main__":
    from bench.results import print_results

    print_results(measure())
