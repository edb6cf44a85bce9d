"""A history to start a new checkpoint's state from, so that a new deployment scores its first
transactions with the card and terminal history a model was trained on.

The history is a batch-input file (CSV or Parquet with the transaction fields and `is_fraud`) or the
lake's `transactions/` (a local folder or an `s3://` prefix; its rows have no chargebacks, so the
terminals' fraud counts start at zero). Its rows become the initial state of the card and terminal
stages (Spark's `initialState` for transformWithState: used once, when the checkpoint is new, and
ignored when the query restarts from its checkpoint).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from processor.exceptions import ProcessorError
from processor.records import CARD_STAGE_INPUT_SCHEMA, PACKED_SCHEMA, bucket_routes, frame_table, packed

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from processor.records import StageKeys

__all__ = ["HISTORY_COLUMNS", "read_history", "seed_frames"]

# What the stages keep of a history transaction.
HISTORY_COLUMNS: Final = (
    "transaction_id",
    "event_time",
    "card_id",
    "terminal_id",
    "amount",
    "channel",
    "lat",
    "lon",
    "is_fraud",
)


def read_history(location: str, *, naive_times_utc: bool = False) -> pd.DataFrame:
    """The history's transactions (HISTORY_COLUMNS, `is_fraud` 0 where unknown).

    Args:
        location: the lake's transactions (an s3:// prefix or a folder of it), or a batch-input file.
        naive_times_utc: read a batch file's event times that have no UTC offset as UTC
            (`fraudstream.batch_files.load_batch_file`); by default they refuse the file.

    Raises:
        ProcessorError: nothing readable there (the message says what to pass).
    """
    if urlparse(location).scheme == "s3" or Path(location).is_dir():
        frame = _lake_transactions(location)
    else:
        from fraudstream.batch_files import read_batch_file
        from fraudstream.exceptions import BatchFileError

        try:
            frame = read_batch_file(Path(location), naive_times_utc=naive_times_utc)
        except BatchFileError as e:
            raise ProcessorError(f"history {location}: {e}", hint=getattr(e, "hint", None)) from e
    out = pd.DataFrame({name: frame[name] if name in frame else None for name in HISTORY_COLUMNS})
    # The lake's rows have no is_fraud (a column of None): numbers first, so that none become 0.
    out["is_fraud"] = pd.to_numeric(out["is_fraud"]).fillna(0).astype(np.int32)
    out["event_time"] = pd.to_datetime(out["event_time"], utc=True)
    return out


def _lake_transactions(location: str) -> pd.DataFrame:
    import pyarrow.dataset as ds

    from fraudstream.aws import s3_filesystem

    url = urlparse(location)
    filesystem = s3_filesystem() if url.scheme == "s3" else None
    root = f"{url.netloc}{url.path}".rstrip("/") if url.scheme == "s3" else location
    try:
        dataset = ds.dataset(root, filesystem=filesystem, format="parquet", partitioning="hive")
        columns = [c for c in HISTORY_COLUMNS if c in dataset.schema.names]
        frame: pd.DataFrame = dataset.to_table(columns=columns).to_pandas()
    except (OSError, ValueError) as e:
        raise ProcessorError(
            f"history {location}: cannot read the lake's transactions ({e})",
            hint="pass a batch-input file, or the lake's transactions/ prefix (s3://BUCKET/transactions/)",
        ) from e
    return frame


def seed_frames(spark: SparkSession, history: pd.DataFrame, keys: StageKeys) -> tuple[DataFrame, DataFrame]:
    """The card and terminal stages' initial state: the history's rows packed per stage key (card key,
    terminal key), in CARD_STAGE_INPUT_SCHEMA with `is_fraud`."""
    table = frame_table(
        history.assign(
            route="", stream_name="history", shard_id="", sequence_number="0", arrival_time=history["event_time"]
        ),
        CARD_STAGE_INPUT_SCHEMA,
    )
    no_time = np.full(len(history), np.datetime64("NaT"), dtype="datetime64[us]")
    cards = packed(table, bucket_routes(history["card_id"].to_numpy(dtype=object), keys.cards), no_time)
    terminals = packed(table, bucket_routes(history["terminal_id"].to_numpy(dtype=object), keys.terminals), no_time)
    return spark.createDataFrame(cards, PACKED_SCHEMA), spark.createDataFrame(terminals, PACKED_SCHEMA)
