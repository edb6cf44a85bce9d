"""Model monitoring on AWS: the daily schedule that starts the monitoring job on its EMR Serverless
application, the job's and the scheduler's roles, and the alarms on the job's metrics (named by the
job's own metrics table) on the stack's one alarm topic."""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any

from fraudstream.lake import LABELS, TRANSACTIONS
from fraudstream.monitoring_table import MONITORING
from infrastructure.app import DEV, PROD
from infrastructure.constants import ARTIFACTS_CODE_PREFIX, EMR_RELEASE_LABEL
from infrastructure.model_monitoring import MODEL_MONITORING_JOB_NAME
from ml_model.model_store import MODELS_PREFIX
from ml_model.monitor_metrics import METRICS, NAMESPACE
from tests.infrastructure.helpers import as_list, only, render, resources, role_for_service, statements_by_sid

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_cdk.assertions import Template

    from tests.infrastructure._stacks import SynthesizedApp


def _schedule(template: Template) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schedule's rendered properties and its StartJobRun input."""
    _, schedule = only(template, "AWS::Scheduler::Schedule")
    props = render(schedule["Properties"])
    return props, json.loads(props["Target"]["Input"])


def _monitoring_app(template: Template) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (i, a)
        for i, a in resources(template, "AWS::EMRServerless::Application").items()
        if render(a["Properties"]["Name"]).endswith("-model-monitoring")
    ]
    return found


def _monitoring_alarms(template: Template) -> dict[str, dict[str, Any]]:
    """The alarms on the monitoring job's namespace, by the first words of their description."""
    found = {}
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        stats = [m["MetricStat"] for m in props.get("Metrics", []) if "MetricStat" in m]
        if stats and all(s["Metric"]["Namespace"] == NAMESPACE for s in stats):
            found[props["AlarmDescription"].split(":")[0]] = props
    return found


def test_the_schedule_starts_the_monitoring_job_daily_on_its_own_application(dev: Template) -> None:
    # GIVEN the schedule, its input and the two EMR Serverless applications
    props, request = _schedule(dev)
    app_id, app = _monitoring_app(dev)
    processor_app = next(a for i, a in resources(dev, "AWS::EMRServerless::Application").items() if i != app_id)[
        "Properties"
    ]
    # THEN it runs daily by default, at a fixed time, encrypted with the stack's key
    assert props["ScheduleExpression"] == DEV.model_monitoring.schedule == "cron(0 3 * * ? *)"
    assert props["ScheduleExpressionTimezone"] == "UTC"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["State"] == "ENABLED"
    assert props["KmsKeyArn"] == f"<{only(dev, 'AWS::KMS::Key')[0]}.Arn>"
    # ... through Scheduler's universal target for EMR Serverless' StartJobRun, no function in between
    assert props["Target"]["Arn"] == "arn:<AWS::Partition>:scheduler:::aws-sdk:emrserverless:startJobRun"
    # ... on the monitoring application (not the processor's, whose one run never ends), a batch run
    assert request["ApplicationId"] == f"<{app_id}.ApplicationId>"
    assert request["Mode"] == "BATCH" and request["Name"] == MODEL_MONITORING_JOB_NAME
    assert request["ClientToken"] == "<aws.scheduler.execution-id>"
    assert request["ExecutionTimeoutMinutes"] == DEV.model_monitoring.timeout_minutes
    app_props = app["Properties"]
    assert app_props["ReleaseLabel"] == processor_app["ReleaseLabel"] == EMR_RELEASE_LABEL
    assert app_props["SchedulerConfiguration"] == {"MaxConcurrentRuns": 1}
    assert app_props["AutoStopConfiguration"]["Enabled"] is True
    # ... logging to the processor's log group, encrypted
    logging_ = render(app_props["MonitoringConfiguration"]["CloudWatchLoggingConfiguration"])
    processor_logging = render(processor_app["MonitoringConfiguration"]["CloudWatchLoggingConfiguration"])
    assert logging_["LogGroupName"] == processor_logging["LogGroupName"]
    assert logging_["EncryptionKeyArn"] == processor_logging["EncryptionKeyArn"]
    # ... running the job module with the processor's code and environment, against the champion's card
    driver = request["JobDriver"]["SparkSubmit"]
    assert driver["EntryPoint"].endswith(".py")
    args = driver["EntryPointArguments"]
    assert "--spark-session" in args and args[args.index("--lookback-days") + 1] == "14"
    words = shlex.split(driver["SparkSubmitParameters"])
    conf = dict(w.split("=", 1) for w in words[1::2])
    assert conf["spark.submit.pyFiles"].endswith(f"/{ARTIFACTS_CODE_PREFIX}fraudstream.zip")
    assert conf["spark.archives"].endswith("pyspark_env.tar.gz#environment")
    assert conf["spark.driver.cores"] == str(DEV.model_monitoring.driver_cores)
    assert conf["spark.emr-serverless.driverEnv.FRAUD_LAKE_BUCKET"].startswith("<StorageLake")
    assert conf["spark.emr-serverless.driverEnv.FRAUD_PROCESSOR__MODEL_DIR"].endswith("-model.tar.gz")


def test_the_scheduler_may_start_this_job_with_this_role_only(dev: Template) -> None:
    # GIVEN the scheduler's role and the job's (the schedule's ExecutionRoleArn)
    props, request = _schedule(dev)
    scheduler_id, scheduler = role_for_service(dev, "scheduler.amazonaws.com")
    job_id = request["ExecutionRoleArn"].strip("<>").removesuffix(".Arn")
    app_id, _ = _monitoring_app(dev)
    assert props["Target"]["RoleArn"] == f"<{scheduler_id}.Arn>"
    # THEN the scheduler assumes its role for this account only
    (trust,) = scheduler["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    # ... and may start runs of the monitoring application, passing the job role to EMR Serverless only
    statements = statements_by_sid(dev, scheduler_id)
    assert set(statements) == {"StartMonitoringJobRun", "PassJobRole", "DecryptSchedule"}
    assert as_list(statements["StartMonitoringJobRun"]["Resource"]) == [f"<{app_id}.Arn>"]
    assert as_list(statements["PassJobRole"]["Resource"]) == [f"<{job_id}.Arn>"]
    assert statements["PassJobRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}
    }


def test_the_job_role_reads_its_lake_prefixes_writes_monitoring_and_puts_its_own_metrics(dev: Template) -> None:
    # GIVEN the job's role
    _, request = _schedule(dev)
    job_id = request["ExecutionRoleArn"].strip("<>").removesuffix(".Arn")
    app_id, _ = _monitoring_app(dev)
    role = resources(dev, "AWS::IAM::Role")[job_id]["Properties"]
    statements = statements_by_sid(dev, job_id)
    lake = next(i for i, b in resources(dev, "AWS::S3::Bucket").items() if "VersioningConfiguration" in b["Properties"])
    # THEN EMR Serverless assumes it for the monitoring application only
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert render(trust["Condition"]["ArnLike"]) == {"aws:SourceArn": f"<{app_id}.Arn>"}
    # ... it reads transactions/, labels/, models/ and monitoring/ and writes monitoring/ only
    read = {TRANSACTIONS.prefix, LABELS.prefix, f"{MODELS_PREFIX}/", MONITORING.prefix}
    assert set(as_list(statements["ReadLake"]["Resource"])) == {f"<{lake}.Arn>/{p}*" for p in read}
    assert as_list(statements["WriteMonitoring"]["Resource"]) == [f"<{lake}.Arn>/{MONITORING.prefix}*"]
    assert "s3:DeleteObject" not in json.dumps(statements)
    # ... it puts metrics in the job's namespace only
    metrics = statements["PutMonitoringMetrics"]
    assert as_list(metrics["Action"]) == ["cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": NAMESPACE}}
    # ... and reaches neither the streams, the alerts table nor the endpoint
    actions = {a for s in statements.values() for a in as_list(s["Action"])}
    assert not {a for a in actions if a.split(":")[0] in ("kinesis", "dynamodb", "sagemaker")}
    assert all("*" not in a for a in actions)


def test_alarms_on_drift_alert_rate_and_precision_read_the_jobs_metric_names_and_notify_the_topic(
    dev: Template, prod: Template
) -> None:
    for template, config in ((dev, DEV), (prod, PROD)):
        # GIVEN the monitoring alarms and the stack's one topic
        topic_id, _ = only(template, "AWS::SNS::Topic")
        alarms = _monitoring_alarms(template)
        thresholds = config.model_monitoring
        # THEN there are the three, each telling the existing topic, keeping its state between daily figures
        assert set(alarms) == {"Model drift", "Alert rate change", "Realised precision drop"}
        for alarm in alarms.values():
            assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": topic_id}]
            assert alarm["TreatMissingData"] == "ignore"
            assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
            for m in alarm["Metrics"]:
                if "MetricStat" in m:
                    assert m["MetricStat"]["Period"] == 86400
                    # the series without dimension: whichever model version is deployed
                    assert "Dimensions" not in m["MetricStat"]["Metric"]

        def names(alarm: dict[str, Any]) -> dict[str, str]:
            return {m["Id"]: m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}

        def expression(alarm: dict[str, Any]) -> str:
            return str(next(m["Expression"] for m in alarm["Metrics"] if "Expression" in m))

        # ... drift: the largest feature PSI or the score PSI at or above the threshold
        drift = alarms["Model drift"]
        assert names(drift) == {"f": METRICS["max_feature_psi"].name, "s": METRICS["psi_score"].name}
        assert expression(drift) == "MAX([f, s])" and drift["Threshold"] == thresholds.max_psi == 0.25
        # ... the alert rate's change, up or down
        change = alarms["Alert rate change"]
        assert set(names(change).values()) == {METRICS["alert_rate_change"].name}
        assert expression(change) == "IF(up >= 2 OR down <= 0.5, 1, 0)" and change["Threshold"] == 1
        # ... realised precision below the card's by the threshold
        (precision,) = names(alarms["Realised precision drop"]).values()
        assert precision == METRICS["precision_drop"].name
        assert alarms["Realised precision drop"]["Threshold"] == thresholds.precision_drop
    # AND no second topic was made for them
    dev.resource_count_is("AWS::SNS::Topic", 1)


def test_the_dashboard_shows_the_jobs_metrics(dev: Template) -> None:
    _, dashboard = only(dev, "AWS::CloudWatch::Dashboard")
    body = json.loads(render(dashboard["Properties"]["DashboardBody"]))
    shown = {(m[0], m[1]) for w in body["widgets"] if "metrics" in w["properties"] for m in w["properties"]["metrics"]}
    for figure in ("max_feature_psi", "psi_score", "alert_rate", "precision", "recall"):
        assert (NAMESPACE, METRICS[figure].name) in shown


def test_the_localstack_stack_has_no_monitoring_job(synth_factory: Callable[..., SynthesizedApp]) -> None:
    # GIVEN the LocalStack stack (no EMR Serverless, no EventBridge Scheduler in the community edition)
    local = synth_factory(local="true").template("fraudstream-local")
    # THEN it has neither the job nor its schedule (`fraudstream monitor` runs locally instead)
    local.resource_count_is("AWS::Scheduler::Schedule", 0)
    local.resource_count_is("AWS::EMRServerless::Application", 0)
    assert _monitoring_alarms(local) == {}
