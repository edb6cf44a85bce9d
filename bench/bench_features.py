"""Offline feature throughput: every feature of 1.75 million synthetic transactions (the
generator's default world, about 160 days), against the 60-second target on 2 cores."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from ml_model.features import compute_features
from producer.generator import GeneratorConfig, generate_history

TARGET_S = 60.0


def run(transactions: int = 1_750_000) -> dict[str, Any]:
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


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:14} {value}")
