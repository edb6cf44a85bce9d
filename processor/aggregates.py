"""Per-card windowed aggregates: 10-minute windows sliding every 5 minutes (count, sum, mean, max
amount). The card stage emits a window once the watermark has closed it (a window's row is final),
as a staged row of status `aggregate`; this module turns those rows into the lake's table."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from fraudstream.lake import AGGREGATES
from processor.records import RecordStatus

__all__ = ["aggregate_table"]


def aggregate_table(staged: pd.DataFrame, batch_id: int) -> pa.Table:
    """The closed windows among a batch's staged rows, in the `aggregates/` schema."""
    windows = staged[staged["status"] == RecordStatus.AGGREGATE.value]
    rows = windows.assign(  # the session's time zone is UTC
        window_start=pd.to_datetime(windows["window_start"], utc=True),
        window_end=pd.to_datetime(windows["window_end"], utc=True),
        tx_count=windows["tx_count"].astype("int64"),
        batch_id=batch_id,
    )
    return pa.Table.from_pandas(rows[AGGREGATES.schema.names], schema=AGGREGATES.schema, preserve_index=False)
