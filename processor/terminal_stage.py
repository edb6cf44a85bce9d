"""The terminal stage: per terminal, its transactions and known frauds per UTC hour, and from them the
terminal features of each accepted transaction.

Keyed by a hash bucket of the terminal; inside a bucket, each terminal's state is one MapState entry
read and written only when the terminal has a transaction or a fraud mark in the batch: its hourly
`(hour, transactions, frauds)` of the label delay plus 30 days before its newest hour, what any
window of a later transaction reaches. The fraud counts come from the card stage's fraud marks (a
chargeback of a transaction the stream accepted). The features are computed by the same function as
offline (`ml_model.features.terminal_window_features`) on the same hourly counts.

Records that are not accepted transactions (chargebacks and closed windows among them) travel under
the pass-through keys and come out untouched, as the card stage packed them; fraud marks never leave
the stage. Rows come and go packed (`processor.records`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql.streaming.stateful_processor import StatefulProcessor, StatefulProcessorHandle
from pyspark.sql.types import BinaryType, StringType, StructField, StructType

from ml_model.features import (
    TERMINAL_WINDOWS_H,
    hour_of,
    hourly_counts,
    label_delay_hours,
    terminal_window_features,
)
from processor.records import (
    CARD_STAGE_INPUT_SCHEMA,
    CARD_STAGE_SCHEMA,
    PACKED_SCHEMA,
    STAGED_SCHEMA,
    THROUGH_ROUTE,
    RecordStatus,
    column,
    emit_floor,
    epoch_us,
    packed,
    read_packed,
    table_of,
)
from processor.spark import prepare_worker_task
from processor.state_calls import get_values, update_values

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql.streaming.stateful_processor import TimerValues

__all__ = ["TERMINAL_HOUR", "TerminalStage"]

# One hour of a terminal.
TERMINAL_HOUR: Final = np.dtype([("hour", "<i8"), ("count", "<f8"), ("frauds", "<f8")])
_TERMINAL_KEY: Final = StructType([StructField("terminal_id", StringType())])
_TERMINAL_VALUE: Final = StructType([StructField("hours", BinaryType())])

_LONGEST_WINDOW_H: Final = max(width for _, width in TERMINAL_WINDOWS_H)


class TerminalStage(StatefulProcessor):
    """See the module doc.

    Args:
        label_delay_days: the label delay of the terminal features (a whole number of hours).
    """

    def __init__(self, *, label_delay_days: float) -> None:
        self.delay_hours = label_delay_hours(label_delay_days)

    def init(self, handle: StatefulProcessorHandle) -> None:
        prepare_worker_task()
        # No timers and no expiry: a terminal's entry is bounded by the pruning below, and terminals,
        # unlike cards, are a fleet that changes slowly.
        self.terminals = handle.getMapState("terminals", _TERMINAL_KEY, _TERMINAL_VALUE)

    def close(self) -> None:
        pass

    def handleInitialState(self, key: Any, initialState: pd.DataFrame, timerValues: TimerValues) -> None:
        """A new checkpoint's history (`processor.history`): each terminal's hourly transactions and
        frauds, as if the stream had seen them."""
        table = read_packed(initialState["rows"], CARD_STAGE_INPUT_SCHEMA)
        terminal_ids = column(table, "terminal_id")
        codes = pd.factorize(terminal_ids)[0].astype(np.int64)
        hours = hour_of(epoch_us(table, "event_time") / 1e6)
        frauds = column(table, "is_fraud").astype(np.float64)
        self._save(list(pd.unique(terminal_ids)), hourly_counts(codes, hours, np.ones(len(codes)), frauds))

    def handleInputRows(
        self, key: Any, rows: Iterator[pd.DataFrame], timerValues: TimerValues
    ) -> Iterator[pd.DataFrame]:
        blobs = [blob for frame in rows for blob in frame["rows"]]
        floor = emit_floor(int(timerValues.getCurrentWatermarkInMs()))
        if key[0].startswith(THROUGH_ROUTE):
            # Passed on as they came: whoever reads them as staged rows gets null terminal features.
            passed = {"route": key[0], "event_time": floor, "rows": blobs}
            yield pd.DataFrame(passed, columns=PACKED_SCHEMA.fieldNames())
            return
        table = read_packed(blobs, CARD_STAGE_SCHEMA)
        routes = np.full(table.num_rows, key[0], dtype=object)
        status = column(table, "status")
        is_mark = status == RecordStatus.FRAUD_MARK.value
        accepted = np.flatnonzero(status == RecordStatus.OK.value)
        terminal_ids = column(table, "terminal_id")
        codes = pd.factorize(terminal_ids)[0].astype(np.int64)
        terminals = list(pd.unique(terminal_ids))
        stored = [
            np.frombuffer(value[0], TERMINAL_HOUR) if value else np.zeros(0, TERMINAL_HOUR)
            for value in get_values(self.terminals, [(terminal,) for terminal in terminals])
        ]
        hours = hour_of(epoch_us(table, "event_time") / 1e6)
        marks = np.flatnonzero(is_mark)
        table_hours = hourly_counts(
            np.concatenate(
                [np.repeat(np.arange(len(stored)), [len(s) for s in stored]), codes[accepted], codes[marks]]
            ),
            np.concatenate([*[s["hour"] for s in stored], hours[accepted], hours[marks]]),
            np.concatenate([*[s["count"] for s in stored], np.ones(len(accepted)), np.zeros(len(marks))]),
            np.concatenate(
                [
                    *[s["frauds"] for s in stored],
                    np.zeros(len(accepted)),
                    column(table, "is_fraud")[marks].astype(np.float64),
                ]
            ),
        )
        features = terminal_window_features(table_hours, codes[accepted], hours[accepted], delay_hours=self.delay_hours)
        self._save(terminals, table_hours)
        # Fraud marks stop here; every other row goes on with its terminal features.
        kept = np.flatnonzero(~is_mark)
        added = {}
        for name in features.columns:
            values = np.full(table.num_rows, np.nan)
            values[accepted] = features[name].to_numpy()
            added[name] = values[kept]
        if len(kept):
            yield packed(table_of(STAGED_SCHEMA, table.take(pa.array(kept)), added), routes[kept], floor)

    def _save(self, terminals: list[str], table: tuple[np.ndarray, ...]) -> None:
        groups, hours, counts, frauds = table
        if len(groups) == 0:
            return
        starts = np.flatnonzero(np.concatenate([[True], groups[1:] != groups[:-1]]))
        ends = np.append(starts[1:], len(groups))
        # What any window of a later transaction reaches: the label delay plus 30 days before the
        # terminal's newest hour (the last of its group).
        horizon = np.repeat(hours[ends - 1] - self.delay_hours - _LONGEST_WINDOW_H, ends - starts)
        keep = hours >= horizon
        entries = np.zeros(int(keep.sum()), TERMINAL_HOUR)
        entries["hour"], entries["count"], entries["frauds"] = hours[keep], counts[keep], frauds[keep]
        bounds = np.concatenate([[0], np.cumsum(np.add.reduceat(keep, starts))])
        update_values(
            self.terminals,
            [
                ((terminals[int(groups[start])],), (entries[low:high].tobytes(),))
                for start, low, high in zip(starts, bounds[:-1], bounds[1:], strict=True)
            ],
        )
