"""The model monitoring job's CloudWatch metrics: one table of their names and units, which the job
(`ml_model.monitor_job`) publishes by and the CDK alarms (`infrastructure/model_monitoring.py`) read,
as `processor.metrics` is for the processor's.

No heavy import here: the CDK app reads this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from fraudstream.monitoring_table import CARD_PRECISION_AT_K

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DIMENSION", "LABELLED_FIGURES", "METRICS", "NAMESPACE", "MetricDefinition", "MetricUnit"]


class MetricUnit(StrEnum):
    """CloudWatch units of the monitoring metrics."""

    COUNT = "Count"
    NONE = "None"


@dataclass(frozen=True)
class MetricDefinition:
    """One CloudWatch metric of the monitoring job: its name and unit."""

    name: str
    unit: MetricUnit


# The namespace of the job's metrics alone: its role may put metrics in this namespace and no other
# (the processor's are in `fraudstream`).
NAMESPACE: Final = "fraudstream/model-monitoring"
# Every figure is published twice: with this dimension (the version of the model card monitored
# against), and without any, the series the alarms watch whichever model is deployed.
DIMENSION: Final = "ModelVersion"

# The one table of the job's metrics: figure -> metric. A day's figures are published once, when they
# become known: the first ones when the day is first monitored, the realised ones (LABELLED_FIGURES)
# when its labels are known (the label delay after the day).
METRICS: Final[Mapping[str, MetricDefinition]] = MappingProxyType(
    {
        "rows": MetricDefinition("RowsMonitored", MetricUnit.COUNT),
        "alert_rate": MetricDefinition("AlertRate", MetricUnit.NONE),
        # The day's alert rate over the median of the (up to 7) monitored days before it.
        "alert_rate_change": MetricDefinition("AlertRateChange", MetricUnit.NONE),
        "fallback_share": MetricDefinition("FallbackShare", MetricUnit.NONE),
        "psi_score": MetricDefinition("ScorePSI", MetricUnit.NONE),
        # The largest PSI of any feature (the feature is named in the job's log line, not a dimension).
        "max_feature_psi": MetricDefinition("MaxFeaturePSI", MetricUnit.NONE),
        "precision": MetricDefinition("RealisedPrecision", MetricUnit.NONE),
        "recall": MetricDefinition("RealisedRecall", MetricUnit.NONE),
        f"card_precision_at_{CARD_PRECISION_AT_K}": MetricDefinition("CardPrecisionAt100", MetricUnit.NONE),
        # The model card's test precision minus the realised precision.
        "precision_drop": MetricDefinition("PrecisionDrop", MetricUnit.NONE),
        # Days computed by a run (0 when none was due): a run that did not report is a silent monitor.
        "days_monitored": MetricDefinition("DaysMonitored", MetricUnit.COUNT),
    }
)
LABELLED_FIGURES: Final = frozenset(
    {"precision", "recall", f"card_precision_at_{CARD_PRECISION_AT_K}", "precision_drop"}
)
