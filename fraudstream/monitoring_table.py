"""The lake's `monitoring/` table: one row per monitored day of scored transactions, written by
`fraudstream monitor` and the scheduled monitoring job (`ml_model.monitor_job`), read by Athena
(Glue) and `fraudstream query` like the other lake tables.

A core module, so that the Glue catalog and the query command can declare it without importing the
model code: its columns are derived here from the feature names (`fraudstream.feature_names`), one
`psi__<feature>` per feature, in the model's order. Layout: `monitoring/dt=YYYY-MM-DD/monitoring.parquet`,
one file per day, replaced when the day is monitored again (for example once its labels are known).
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

from fraudstream.feature_names import FEATURE_NAMES
from fraudstream.lake_table import LakeTable

__all__ = [
    "CARD_PRECISION_AT_K",
    "MONITORING",
    "MONITORING_FILE",
    "MONITORING_FIGURES",
    "PSI_PREFIX",
    "SCORE_QUANTILES",
    "psi_column",
]

# The score quantiles recorded per day, and the k of card precision@k.
SCORE_QUANTILES: Final = (0.5, 0.9, 0.99)
CARD_PRECISION_AT_K: Final = 100
# A feature's drift column is `psi__<feature>`.
PSI_PREFIX: Final = "psi__"
MONITORING_FILE: Final = "monitoring.parquet"


def psi_column(feature: str) -> str:
    """The drift column of a feature: `psi__<feature>`."""
    return PSI_PREFIX + feature


# The figures of a day, in the order `ml_model.monitoring.daily_metrics` computes them (`dt`, the
# monitored day, is the partition): counts int64, `labels_known` bool, shares, scores and PSI float64.
# `frauds`, `precision`, `recall` and card precision@k are null while the day's labels are not known.
MONITORING_FIGURES: Final = pa.schema(
    [
        pa.field("rows", pa.int64()),
        pa.field("alert_rate", pa.float64()),
        pa.field("fallback_share", pa.float64()),
        pa.field("score_mean", pa.float64()),
        *(pa.field(f"score_p{round(q * 100)}", pa.float64()) for q in SCORE_QUANTILES),
        pa.field("psi_score", pa.float64()),
        *(pa.field(psi_column(name), pa.float64()) for name in FEATURE_NAMES),
        pa.field("labels_known", pa.bool_()),
        pa.field("frauds", pa.int64()),
        pa.field("precision", pa.float64()),
        pa.field("recall", pa.float64()),
        pa.field(f"card_precision_at_{CARD_PRECISION_AT_K}", pa.float64()),
    ]
)

MONITORING: Final = LakeTable(
    name="monitoring",
    prefix="monitoring/",
    schema=pa.schema(
        [
            pa.field("model_version", pa.string()),
            *MONITORING_FIGURES,
            pa.field("computed_at", pa.timestamp("us", tz="UTC")),
        ]
    ),
    # NOTE: a row summarises the transactions whose event_time falls on its day: the partition `dt` is
    # that day itself, and no column of the file holds it (computed_at is when it was computed).
    partition_time_column="dt",
    description="The model's health per day of scored transactions: rows, alert rate, score quantiles, "
    "drift (PSI) of the score and of every feature, fallback share, realised precision and recall.",
    partition_keys=("dt",),
)
