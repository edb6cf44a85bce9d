"""The lake's named queries: defined once, saved in the Athena workgroup by the CDK app, and run
unchanged by `fraudstream query` (DuckDB, same table names).

Each statement is written in the SQL that Athena (Trino) and DuckDB share: `CASE` instead of
`count_if`/`FILTER`, explicit `CAST(... AS DOUBLE)` for rates, and a partition filter on `dt` (a
string, `YYYY-MM-DD`) computed from `current_date`, which Athena folds into a constant so that
partition projection reads only the days asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fraudstream.contracts import ScoredBy
from fraudstream.lake import AGGREGATES, LABELS, QUARANTINE, TRANSACTIONS

__all__ = ["EXAMPLE_CARD_ID", "NAMED_QUERIES", "NamedQuery", "since_days_ago"]


@dataclass(frozen=True)
class NamedQuery:
    """A saved query: its name in Athena, what it answers, and the SQL."""

    name: str
    description: str
    sql: str


def since_days_ago(days: int) -> str:
    """A predicate on `dt` keeping the last `days` UTC days (a string comparison, as `dt` is one)."""
    return f"dt >= CAST(CAST(current_date - INTERVAL '{days}' DAY AS DATE) AS VARCHAR)"


def _alerts(column: str = "is_alert") -> str:
    return f"sum(CASE WHEN {column} THEN 1 ELSE 0 END)"


_T: Final = TRANSACTIONS.name
_FALLBACK_ROWS: Final = f"sum(CASE WHEN scored_by = '{ScoredBy.FALLBACK.value}' THEN 1 ELSE 0 END)"
# NOTE: the card id below is an example (the synthetic generator's format); edit it before running.
EXAMPLE_CARD_ID: Final = "card-000042"

NAMED_QUERIES: Final = (
    NamedQuery(
        name="fraud-rate-by-hour",
        description="Share of transactions flagged as fraud (score at or above the threshold) and mean score, "
        "per UTC hour, last 7 days.",
        sql=f"""SELECT dt, hour,
       count(*) AS transactions,
       {_alerts()} AS alerts,
       round(CAST({_alerts()} AS DOUBLE) / count(*), 6) AS alert_rate,
       round(avg(score), 6) AS mean_score
FROM {_T}
WHERE {since_days_ago(7)}
GROUP BY dt, hour
ORDER BY dt, hour""",  # noqa: S608 - built from module constants, no input
    ),
    NamedQuery(
        name="top-risky-terminals",
        description="The 20 terminals with the most alerts over the last 7 days, with their alert rate and scores.",
        sql=f"""SELECT terminal_id,
       count(*) AS transactions,
       {_alerts()} AS alerts,
       round(CAST({_alerts()} AS DOUBLE) / count(*), 6) AS alert_rate,
       round(avg(score), 6) AS mean_score,
       round(max(score), 6) AS max_score
FROM {_T}
WHERE {since_days_ago(7)}
GROUP BY terminal_id
HAVING {_alerts()} > 0
ORDER BY alerts DESC, mean_score DESC, terminal_id
LIMIT 20""",  # noqa: S608 - built from module constants, no input
    ),
    NamedQuery(
        name="alerts-of-one-card",
        description=f"Every alert of one card over the last 90 days, newest first (edit the card id, "
        f"{EXAMPLE_CARD_ID} here).",
        sql=f"""SELECT transaction_id, event_time, amount, score, reasons, terminal_id, model_version, scored_by
FROM {_T}
WHERE card_id = '{EXAMPLE_CARD_ID}'
  AND is_alert
  AND {since_days_ago(90)}
ORDER BY event_time DESC, transaction_id
LIMIT 100""",  # noqa: S608 - built from module constants, no input
    ),
    NamedQuery(
        name="fallback-share-by-hour",
        description="Share of transactions scored by the local fallback model instead of the endpoint, "
        "per UTC hour, last 7 days.",
        sql=f"""SELECT dt, hour,
       count(*) AS transactions,
       {_FALLBACK_ROWS} AS fallback_scored,
       round(CAST({_FALLBACK_ROWS} AS DOUBLE) / count(*), 6) AS fallback_share
FROM {_T}
WHERE {since_days_ago(7)}
GROUP BY dt, hour
ORDER BY dt, hour""",  # noqa: S608 - built from module constants, no input
    ),
    NamedQuery(
        name="quarantine-by-reason",
        description="Quarantined records per UTC hour and reason, last 7 days.",
        sql=f"""SELECT dt, hour, reason, count(*) AS records
FROM {QUARANTINE.name}
WHERE {since_days_ago(7)}
GROUP BY dt, hour, reason
ORDER BY dt, hour, records DESC, reason""",  # noqa: S608 - built from module constants, no input
    ),
    NamedQuery(
        name="busiest-card-windows",
        description="The 20 busiest 10-minute card windows of the last day (count, sum and largest amount).",
        sql=f"""SELECT card_id, window_start, window_end, tx_count, amount_sum, amount_max
FROM {AGGREGATES.name}
WHERE {since_days_ago(1)}
ORDER BY tx_count DESC, amount_sum DESC, card_id, window_start
LIMIT 20""",  # noqa: S608 - built from module constants, no input
    ),
    NamedQuery(
        name="chargebacks-by-day",
        description="Chargebacks per UTC day they were known (label_time), fraud and genuine, the "
        "transactions they name and how long after the transaction they came, last 30 days.",
        sql=f"""SELECT dt,
       count(*) AS chargebacks,
       sum(is_fraud) AS fraud,
       count(*) - sum(is_fraud) AS genuine,
       count(DISTINCT transaction_id) AS transactions,
       round(avg(CAST(date_diff('second', tx_event_time, label_time) AS DOUBLE)) / 86400, 3) AS mean_delay_days
FROM {LABELS.name}
WHERE {since_days_ago(30)}
GROUP BY dt
ORDER BY dt""",  # noqa: S608 - built from module constants, no input
    ),
)
