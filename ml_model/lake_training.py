"""`fraudstream train --from-lake`: the training set as the lake knew it at training time.

The lake's `transactions/` (every valid transaction the processor saw) joined with its `labels/`
(the chargebacks of the labels stream), with the label contract of ARCHITECTURE.md:

- the label cut-off is the newest `label_time` in `labels/`: the point up to which the lake's
  chargebacks are known (event time, the clock the label delay is counted on, also when history is
  replayed long after it happened);
- a transaction whose label delay has passed by the cut-off (event_time + delay <= cut-off) is
  labelled by its chargeback's newest verdict (by `label_time`), or genuine without one;
- one whose delay has not passed is left out, even when its chargeback already came: among those
  only the frauds would be labelled (their chargebacks come early, a genuine transaction's label is
  the delay passing), so keeping them would overstate the fraud of the last days. The rows kept all
  precede the rows left out in event time, so no kept row's features miss a transaction.

The rows come back in the batch-input schema with `is_fraud`, as `train --data` reads a file, so
the features are computed by the same code. `model compare` reads the same labelled rows, with
`history_days` of transactions before --since as well: the features of the period's first rows
need the windows' history, which is labelled alike (the terminal features count its frauds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from fraudstream.contracts import TRANSACTION_ARROW_SCHEMA
from fraudstream.exceptions import FraudstreamError
from fraudstream.lake import LABELS, TRANSACTIONS

if TYPE_CHECKING:
    from datetime import date

    import numpy.typing as npt
    import pyarrow as pa

__all__ = ["CUTOFF_SOURCE", "LakeTrainingError", "LakeTrainingSet", "label_transactions", "read_lake_training_set"]

# What the label cut-off is: recorded in the model card.
CUTOFF_SOURCE: Final = "newest label_time in labels/"
_LABEL_COLUMNS: Final = ("transaction_id", "label_time", "is_fraud", "processed_at", "sequence_number")


class LakeTrainingError(FraudstreamError):
    """The lake holds no training set: no transactions, no labels, or none in the range asked for."""

    hint = (
        "run the pipeline (`fraudstream produce` with chargebacks and `fraudstream process`) so that the lake holds "
        "transactions/ and labels/, or widen --since/--until"
    )


@dataclass(frozen=True)
class LakeTrainingSet:
    """The labelled transactions (batch-input columns and `is_fraud`, in event-time order) and how
    they were labelled."""

    transactions: pd.DataFrame
    since: date | None
    until: date | None
    label_cutoff: pd.Timestamp
    label_delay_days: float
    fraud_by_chargeback: int
    genuine_by_chargeback: int
    genuine_by_delay: int
    left_out_pending: int
    history_days: int = 0

    def in_range(self) -> npt.NDArray[np.bool_]:
        """Which rows lie in the range asked for (event days `since`..`until`, UTC, both included); the
        others are the `history_days` read before `since` for the features' windows."""
        day = pd.to_datetime(self.transactions["event_time"], utc=True).dt.strftime("%Y-%m-%d")
        mask = np.ones(len(day), dtype=bool)
        if self.since is not None:
            mask &= (day >= self.since.isoformat()).to_numpy()
        if self.until is not None:
            mask &= (day <= self.until.isoformat()).to_numpy()
        return mask

    def data_ranges(self) -> dict[str, str]:
        """What the model card records of the lake read (ISO dates and times, UTC)."""
        times = self.transactions["event_time"]
        return {
            "lake_since": self.since.isoformat() if self.since else "",
            "lake_until": self.until.isoformat() if self.until else "",
            "lake_first_event": times.min().isoformat(),
            "lake_last_event": times.max().isoformat(),
            "label_cutoff": self.label_cutoff.isoformat(),
            "label_cutoff_source": CUTOFF_SOURCE,
        }

    def summary(self) -> dict[str, Any]:
        """The counts of the labelling, for the card and the terminal."""
        return {
            "rows": len(self.transactions),
            "fraud_by_chargeback": self.fraud_by_chargeback,
            "genuine_by_chargeback": self.genuine_by_chargeback,
            "genuine_by_delay": self.genuine_by_delay,
            "left_out_label_pending": self.left_out_pending,
            "label_delay_days": self.label_delay_days,
            "history_days": self.history_days,
        }


def label_transactions(
    transactions: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    label_delay_days: float,
    since: date | None = None,
    until: date | None = None,
    history_days: int = 0,
) -> LakeTrainingSet:
    """Label the lake's transactions with the chargebacks known by the cut-off (the newest label_time).

    Args:
        transactions: rows of `transactions/` (at least the event fields).
        labels: rows of `labels/` (transaction_id, label_time, is_fraud; processed_at and
            sequence_number break ties of label_time when present).
        label_delay_days: days after which a transaction without a chargeback counts as genuine.
        since, until: the range read (recorded only).
        history_days: days read before `since` for the features' history (recorded only).

    Raises:
        LakeTrainingError: no labels, or no transaction whose label is known.
        ValueError: the delay is not a whole number of hours (as the feature spec requires).
    """
    from ml_model.feature_spec import label_delay_hours

    if labels.empty:
        raise LakeTrainingError(
            "labels/ holds no chargebacks: without them no transaction's label is known (none can be told genuine "
            "either: the label cut-off is the newest chargeback's label_time)"
        )
    cutoff = pd.Timestamp(labels["label_time"].max())
    if cutoff.tzinfo is None:
        cutoff = cutoff.tz_localize("UTC")
    ties = [c for c in ("label_time", "processed_at", "sequence_number") if c in labels.columns]
    newest = labels.sort_values(ties, kind="stable").drop_duplicates("transaction_id", keep="last")
    verdict = newest.set_index("transaction_id")["is_fraud"].astype("int64")
    frame = transactions.drop_duplicates("transaction_id", keep="last")
    known = frame["transaction_id"].map(verdict)
    event_time = pd.to_datetime(frame["event_time"], utc=True)
    delay_passed = (event_time + pd.Timedelta(hours=label_delay_hours(label_delay_days))) <= cutoff
    keep = delay_passed.to_numpy()
    out = frame.loc[keep].assign(is_fraud=known[keep].fillna(0).astype("int64"))
    if out.empty:
        raise LakeTrainingError(
            f"no transaction's label is known by the label cut-off {cutoff.isoformat()} ({CUTOFF_SOURCE}): none is "
            f"older than the label delay ({label_delay_days:g} days) by then"
        )
    columns = [c for c in TRANSACTION_ARROW_SCHEMA.names if c in out.columns] + ["is_fraud"]
    out = out[columns].sort_values(["event_time", "transaction_id"], kind="stable").reset_index(drop=True)
    out["event_time"] = pd.to_datetime(out["event_time"], utc=True)
    return LakeTrainingSet(
        transactions=out,
        since=since,
        until=until,
        label_cutoff=cutoff,
        label_delay_days=label_delay_days,
        fraud_by_chargeback=int(((known == 1) & keep).sum()),
        genuine_by_chargeback=int(((known == 0) & keep).sum()),
        genuine_by_delay=int((known.isna() & keep).sum()),
        left_out_pending=int((~keep).sum()),
        history_days=history_days,
    )


def read_lake_training_set(
    bucket: str,
    *,
    label_delay_days: float,
    since: date | None = None,
    until: date | None = None,
    history_days: int = 0,
    session: Any = None,
) -> LakeTrainingSet:
    """Read `s3://BUCKET/transactions/` (event days `since`..`until`, both included) and every label
    of `s3://BUCKET/labels/` with pyarrow's S3 filesystem (configured as boto3 is: the embedded
    emulator, LocalStack or AWS alike), and label them (`label_transactions`).

    Args:
        bucket: the lake bucket.
        label_delay_days: days after which a transaction without a chargeback counts as genuine.
        since, until: the event days read (None: from the lake's first, to its last).
        history_days: with `since`, also read (and label) the transactions of this many days before
            it, for the features' windows; `LakeTrainingSet.in_range` tells the range's rows apart.
        session: boto3 session; the default one (boto3's standard configuration) when None.

    Raises:
        LakeTrainingError: an empty lake, no labels, or no transaction in the range.
        ResourceNotFoundError: the bucket does not exist.
        FraudstreamError: the bucket cannot be reached (AWS errors, as `fraudstream.aws` maps them).
    """
    import pyarrow.dataset as ds

    from fraudstream.aws import s3_filesystem
    from ml_model.model_store import require_bucket

    if since and until and since > until:
        raise LakeTrainingError(f"--since {since} is after --until {until}")
    require_bucket(bucket, session=session)
    filesystem = s3_filesystem(session)
    where: Any = None
    if since is not None:
        where = ds.field("dt") >= (since - timedelta(days=max(history_days, 0))).isoformat()
    if until is not None:
        upper = ds.field("dt") <= until.isoformat()
        where = upper if where is None else where & upper
    tx_columns = list(TRANSACTION_ARROW_SCHEMA.names)
    transactions = _read(bucket, TRANSACTIONS.prefix, filesystem, TRANSACTIONS.partition_keys, tx_columns, where)
    if transactions is None or (transactions.num_rows == 0 and where is None):
        raise LakeTrainingError(f"the lake s3://{bucket}/{TRANSACTIONS.prefix} holds no transactions")
    if transactions.num_rows == 0 or (
        since is not None and history_days > 0 and not _any_from(transactions, since.isoformat())
    ):
        raise LakeTrainingError(
            f"the lake holds no transactions from {since or 'its start'} to {until or 'its end'} "
            f"(s3://{bucket}/{TRANSACTIONS.prefix}, event days, both included)"
        )
    labels = _read(bucket, LABELS.prefix, filesystem, LABELS.partition_keys, list(_LABEL_COLUMNS), None)
    label_frame = labels.to_pandas() if labels is not None else pd.DataFrame(columns=list(_LABEL_COLUMNS))
    return label_transactions(
        transactions.drop_columns(["dt", "hour"]).to_pandas(),
        label_frame,
        label_delay_days=label_delay_days,
        since=since,
        until=until,
        history_days=history_days if since is not None else 0,
    )


def _any_from(table: pa.Table, day: str) -> bool:
    """Whether the table holds a row of partition day `day` or later."""
    import pyarrow.compute as pc

    return bool(pc.any(pc.greater_equal(table["dt"], day)).as_py())


def _read(
    bucket: str, prefix: str, filesystem: Any, keys: tuple[str, ...], columns: list[str], where: Any
) -> pa.Table | None:
    """A lake table's rows (its partition keys as strings too), None when it has no file."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from fraudstream.aws import aws_errors

    partitioning = ds.partitioning(pa.schema([pa.field(k, pa.string()) for k in keys]), flavor="hive")
    root = f"{bucket}/{prefix}".rstrip("/")
    with aws_errors():
        try:
            info = filesystem.get_file_info(root)
        except OSError as e:
            raise LakeTrainingError(f"cannot read s3://{root}/: {e}") from e
        if info.type.name == "NotFound":
            return None
        try:
            dataset = ds.dataset(root, filesystem=filesystem, format="parquet", partitioning=partitioning)
            present = [c for c in columns if c in dataset.schema.names]
            return dataset.to_table(columns=[*present, *keys], filter=where)
        except (OSError, ValueError) as e:
            raise LakeTrainingError(f"cannot read s3://{root}/: {e}") from e
