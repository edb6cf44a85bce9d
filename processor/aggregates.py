"""Per-card windowed aggregates: 10-minute windows sliding every 5 minutes (count, sum, mean, max
amount). The card stage emits a window once the watermark has closed it (a window's row is final),
as a staged row of status `aggregate`; this module turns those rows into the lake's table."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from fraudstream.lake import AGGREGATES

__all__ = ["aggregate_table"]


def aggregate_table(windows: pa.Table, batch_id: int) -> pa.Table:
    """A batch's closed windows (staged rows of status `aggregate`) in the `aggregates/` schema."""
    columns = [windows.column(name) for name in AGGREGATES.schema.names if name != "batch_id"]
    batch = pa.array(np.full(windows.num_rows, batch_id, dtype=np.int64))
    return pa.Table.from_arrays([*columns, batch], schema=AGGREGATES.schema)
