"""Per-batch metrics: the JSON log line and the CloudWatch EMF document."""

from __future__ import annotations

import io
import json
import logging

import pytest

from processor.metrics import DEFAULT_NAMESPACE, DEFAULT_SERVICE, DIMENSION, METRICS, BatchMetrics, MetricsEmitter

FIGURES = BatchMetrics(
    batch_id=12,
    rows_in=1000,
    quarantined=3,
    duplicates_dropped=2,
    late=1,
    alerts=7,
    fallback_scored=0,
    rows_per_s=2500.0,
    event_to_sink_p50_ms=180.0,
    event_to_sink_p99_ms=640.0,
    source_lag_ms=0.0,
)


def test_emf_document_declares_every_figure_with_its_unit() -> None:
    out = io.StringIO()
    MetricsEmitter("emf", namespace="fs-test", stream=out).emit(FIGURES)
    doc = json.loads(out.getvalue())
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "fs-test" and directive["Dimensions"] == [["Service"]]
    names = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert names["RowsIn"] == "Count" and names["EventToSinkLatencyP99"] == "Milliseconds"
    assert names["RowsPerSecond"] == "Count/Second"
    # every declared metric has its value at the top level, as EMF requires
    assert all(name in doc for name in names)
    assert doc["RowsIn"] == 1000 and doc["Alerts"] == 7 and doc["Service"] == "processor" and doc["batch_id"] == 12
    assert isinstance(doc["_aws"]["Timestamp"], int)


def test_log_mode_writes_one_structured_log_record(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    with caplog.at_level(logging.INFO, logger="processor.metrics"):
        MetricsEmitter("log", stream=out).emit(FIGURES)
    assert out.getvalue() == ""
    (record,) = caplog.records
    assert record.getMessage().startswith("batch 12: 1000 rows in,") and "7 alerts" in record.getMessage()
    assert record.__dict__["batch_id"] == 12 and record.__dict__["event_to_sink_p99_ms"] == 640.0


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="log' or 'emf"):
        MetricsEmitter("statsd")


def test_the_emf_document_declares_exactly_the_exported_metrics_table() -> None:
    # GIVEN the exported table the dashboard reads; WHEN a batch is emitted as EMF
    out = io.StringIO()
    MetricsEmitter("emf", stream=out).emit(FIGURES)
    doc = json.loads(out.getvalue())
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    # THEN the document declares those metrics, with those units, under the default namespace and dimension
    assert directive["Metrics"] == [{"Name": m.name, "Unit": m.unit.value} for m in METRICS.values()]
    assert directive["Namespace"] == DEFAULT_NAMESPACE and directive["Dimensions"] == [[DIMENSION]]
    assert doc[DIMENSION] == DEFAULT_SERVICE
    assert {f: doc[m.name] for f, m in METRICS.items()} == {f: getattr(FIGURES, f) for f in METRICS}
