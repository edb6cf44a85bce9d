"""The processor's per-batch figures: one JSON log line per batch and, on AWS, the same figures as
CloudWatch metrics in the embedded metric format (EMF), all through this one module."""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_SERVICE",
    "DIMENSION",
    "METRICS",
    "BatchMetrics",
    "MetricDefinition",
    "MetricUnit",
    "MetricsEmitter",
]

logger = logging.getLogger(__name__)


class MetricUnit(StrEnum):
    """CloudWatch units used by the processor."""

    COUNT = "Count"
    COUNT_PER_SECOND = "Count/Second"
    MILLISECONDS = "Milliseconds"


@dataclass(frozen=True)
class BatchMetrics:
    """What one micro-batch did."""

    batch_id: int
    rows_in: int
    quarantined: int
    duplicates_dropped: int
    late: int
    alerts: int
    fallback_scored: int
    rows_per_s: float
    event_to_sink_p50_ms: float
    event_to_sink_p99_ms: float
    source_lag_ms: float


@dataclass(frozen=True)
class MetricDefinition:
    """One CloudWatch metric of the processor: its name and unit."""

    name: str
    unit: MetricUnit


# The one table of the processor's metrics: BatchMetrics field -> metric. The emitter writes these and
# the CloudWatch dashboard and alarms (infrastructure/monitoring.py) read them; batch_id is a property
# of the log line, not a metric.
METRICS: Final[Mapping[str, MetricDefinition]] = MappingProxyType(
    {
        "rows_in": MetricDefinition("RowsIn", MetricUnit.COUNT),
        "quarantined": MetricDefinition("Quarantined", MetricUnit.COUNT),
        "duplicates_dropped": MetricDefinition("DuplicatesDropped", MetricUnit.COUNT),
        "late": MetricDefinition("Late", MetricUnit.COUNT),
        "alerts": MetricDefinition("Alerts", MetricUnit.COUNT),
        "fallback_scored": MetricDefinition("FallbackScored", MetricUnit.COUNT),
        "rows_per_s": MetricDefinition("RowsPerSecond", MetricUnit.COUNT_PER_SECOND),
        "event_to_sink_p50_ms": MetricDefinition("EventToSinkLatencyP50", MetricUnit.MILLISECONDS),
        "event_to_sink_p99_ms": MetricDefinition("EventToSinkLatencyP99", MetricUnit.MILLISECONDS),
        "source_lag_ms": MetricDefinition("SourceLag", MetricUnit.MILLISECONDS),
    }
)
DEFAULT_NAMESPACE: Final = "fraudstream"
# The one dimension of every metric, and its value unless the emitter is given another.
DIMENSION: Final = "Service"
DEFAULT_SERVICE: Final = "processor"


class MetricsEmitter:
    """Emits each batch's figures.

    Args:
        mode: `log` (a JSON log line) or `emf` (an EMF document on `stream`, which CloudWatch Logs
            turns into metrics, plus the log line).
        namespace: CloudWatch namespace.
        service: the `Service` dimension.
        stream: where EMF documents are written.
    """

    def __init__(
        self,
        mode: str = "log",
        *,
        namespace: str = DEFAULT_NAMESPACE,
        service: str = DEFAULT_SERVICE,
        stream: IO[str] | None = None,
    ) -> None:
        if mode not in ("log", "emf"):
            raise ValueError("metrics mode must be 'log' or 'emf'")
        self.mode = mode
        self.namespace = namespace
        self.service = service
        self.stream = stream or sys.stdout

    def emit(self, metrics: BatchMetrics) -> None:
        figures = asdict(metrics)
        # The figures are the JSON log line's fields (--log-format json); the message is for a terminal.
        logger.info(
            "batch %d: %d rows in, %d quarantined (%d late), %d duplicates, %d alerts, %d by the fallback, "
            "%.0f rows/s, event-to-sink p50 %.0f ms p99 %.0f ms, source lag %.0f ms",
            metrics.batch_id,
            metrics.rows_in,
            metrics.quarantined,
            metrics.late,
            metrics.duplicates_dropped,
            metrics.alerts,
            metrics.fallback_scored,
            metrics.rows_per_s,
            metrics.event_to_sink_p50_ms,
            metrics.event_to_sink_p99_ms,
            metrics.source_lag_ms,
            extra=figures,
        )
        if self.mode == "emf":
            self.stream.write(json.dumps(self.emf_document(metrics)) + "\n")
            self.stream.flush()

    def emf_document(self, metrics: BatchMetrics) -> dict[str, Any]:
        """The CloudWatch embedded-metric-format document for one batch."""
        figures = asdict(metrics)
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [[DIMENSION]],
                        "Metrics": [{"Name": m.name, "Unit": m.unit.value} for m in METRICS.values()],
                    }
                ],
            },
            DIMENSION: self.service,
            "batch_id": metrics.batch_id,
        }
        for field, metric in METRICS.items():
            document[metric.name] = figures[field]
        return document
