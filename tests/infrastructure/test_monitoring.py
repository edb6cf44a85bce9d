"""Dashboard, alarms and the alarm topic; the processor's metrics as the processor emits them."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from infrastructure.app import DEV
from infrastructure.constants import CHALLENGER_VARIANT, CHAMPION_VARIANT, DEFAULT_ENDPOINT_NAME
from ml_model.monitor_metrics import NAMESPACE as MODEL_MONITORING_NAMESPACE
from processor.metrics import BatchMetrics, MetricsEmitter
from tests.infrastructure._stacks import ALARM_EMAIL
from tests.infrastructure.helpers import only, render, resources

if TYPE_CHECKING:
    from aws_cdk.assertions import Template


def _emitted() -> dict[str, Any]:
    """An EMF document exactly as the processor writes it for one batch."""
    stream = io.StringIO()
    MetricsEmitter("emf", stream=stream).emit(
        BatchMetrics(
            batch_id=3,
            rows_in=100,
            quarantined=2,
            duplicates_dropped=1,
            late=1,
            alerts=4,
            fallback_scored=5,
            rows_per_s=50.0,
            event_to_sink_p50_ms=800.0,
            event_to_sink_p99_ms=1900.0,
            source_lag_ms=1200.0,
        )
    )
    document: dict[str, Any] = json.loads(stream.getvalue())
    return document


def _alarms(template: Template) -> dict[str, dict[str, Any]]:
    """Alarms by their rendered description's first words (logical ids are never hard-coded)."""
    return {
        render(a["Properties"]["AlarmDescription"]): a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
    }


def _metric_stats(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["Id"]: m["MetricStat"] for m in alarm.get("Metrics", []) if "MetricStat" in m}


def test_the_dashboard_shows_streams_endpoint_table_and_the_processors_own_metrics(dev: Template) -> None:
    # GIVEN the dashboard body and an EMF document of the processor
    _, dashboard = only(dev, "AWS::CloudWatch::Dashboard")
    body = json.loads(render(dashboard["Properties"]["DashboardBody"]))
    metrics = [m for w in body["widgets"] if "metrics" in w["properties"] for m in w["properties"]["metrics"]]
    shown = {(m[0], m[1]) for m in metrics}
    emitted = _emitted()
    (directive,) = emitted["_aws"]["CloudWatchMetrics"]
    # THEN every metric the processor emits is on it, under its namespace and dimension
    for metric in directive["Metrics"]:
        assert (directive["Namespace"], metric["Name"]) in shown, metric["Name"]
    processor = [m for m in metrics if m[0] == directive["Namespace"]]
    assert all(m[2:4] == ["Service", emitted["Service"]] for m in processor)
    # and the AWS metrics the issue asks for
    for expected in (
        ("AWS/Kinesis", "IncomingRecords"),
        ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds"),
        ("AWS/SageMaker", "Invocations"),
        ("AWS/SageMaker", "ModelLatency"),
        ("AWS/SageMaker", "Invocation5XXErrors"),
        ("AWS/SageMaker", "Invocation4XXErrors"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
        ("AWS/DynamoDB", "ReadThrottleEvents"),
    ):
        assert expected in shown, expected
    variants = {m[5] for m in metrics if m[0] == "AWS/SageMaker" and m[2:4] == ["EndpointName", DEFAULT_ENDPOINT_NAME]}
    assert variants == {CHAMPION_VARIANT, CHALLENGER_VARIANT}
    assert any(w["type"] == "alarm" for w in body["widgets"])


def test_alarms_on_iterator_age_endpoint_5xx_fallback_share_and_quarantine_rate_notify_the_topic(
    dev: Template,
) -> None:
    topic_id, _ = only(dev, "AWS::SNS::Topic")
    # The pipeline's alarms (the model monitoring job's, on its own namespace, are test_model_monitoring.py's).
    alarms = {
        i: a
        for i, a in resources(dev, "AWS::CloudWatch::Alarm").items()
        if not any(
            m.get("MetricStat", {}).get("Metric", {}).get("Namespace") == MODEL_MONITORING_NAMESPACE
            for m in a["Properties"].get("Metrics", [])
        )
    }
    assert len(alarms) == 5
    for alarm in alarms.values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic_id}]
        assert props["OKActions"] == [{"Ref": topic_id}]
        assert props["TreatMissingData"] == "notBreaching"
    thresholds = DEV.alarms
    iterator_age = [
        a["Properties"]
        for a in alarms.values()
        if a["Properties"].get("MetricName") == "GetRecords.IteratorAgeMilliseconds"
    ]
    streams = set(resources(dev, "AWS::Kinesis::Stream"))
    assert {a["Dimensions"][0]["Value"]["Ref"] for a in iterator_age} == streams
    assert {(a["Threshold"], a["Statistic"], a["Period"]) for a in iterator_age} == {
        (thresholds.iterator_age_ms, "Maximum", 60)
    }
    math = [a["Properties"] for a in alarms.values() if "Metrics" in a["Properties"]]
    by_expression = {next(m["Expression"] for m in a["Metrics"] if "Expression" in m): a for a in math}
    # Endpoint 5xx: summed over both variants.
    five_xx = by_expression["FILL(e0, 0) + FILL(e1, 0)"]
    assert {s["Metric"]["MetricName"] for s in _metric_stats(five_xx).values()} == {"Invocation5XXErrors"}
    assert five_xx["Threshold"] == thresholds.endpoint_5xx
    # Fallback share and quarantine rate: over the processor's own metric names.
    (directive,) = _emitted()["_aws"]["CloudWatchMetrics"]
    emitted_names = {m["Name"] for m in directive["Metrics"]}
    fallback = by_expression["IF(rows - q - d > 0, fb / (rows - q - d), 0)"]
    quarantine = by_expression["IF(rows > 0, q / rows, 0)"]
    assert fallback["Threshold"] == thresholds.fallback_share
    assert quarantine["Threshold"] == thresholds.quarantine_rate
    for alarm in (fallback, quarantine):
        for stat in _metric_stats(alarm).values():
            assert stat["Metric"]["Namespace"] == directive["Namespace"]
            assert stat["Metric"]["MetricName"] in emitted_names
    assert {s["Metric"]["MetricName"] for s in _metric_stats(fallback).values()} == {
        "RowsIn",
        "Quarantined",
        "DuplicatesDropped",
        "FallbackScored",
    }


def test_the_topic_is_encrypted_tls_only_and_has_the_subscriber(dev: Template) -> None:
    key_id, key = only(dev, "AWS::KMS::Key")
    topic_id, topic = only(dev, "AWS::SNS::Topic")
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    dev.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": ALARM_EMAIL, "TopicArn": {"Ref": topic_id}}
    )
    _, policy = only(dev, "AWS::SNS::TopicPolicy")
    deny = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert [s["Condition"] for s in deny] == [{"Bool": {"aws:SecureTransport": "false"}}]
    # CloudWatch may use the key for this account's alarms only.
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    alarms = next(s for s in statements if s.get("Sid") == "CloudWatchAlarmsOfThisAccount")
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    logs = next(s for s in statements if s.get("Sid") == "CloudWatchLogsOfThisAccount")
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]
