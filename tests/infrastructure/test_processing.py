"""The processor on EMR Serverless: application, job role, and the StartJobRun request in the outputs."""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any

from aws_cdk.assertions import Match

from fraudstream.lake import LAKE_TABLES, MONITORING
from infrastructure.config import ResourceNames
from infrastructure.constants import (
    ARTIFACTS_CHECKPOINT_PREFIX,
    ARTIFACTS_CODE_PREFIX,
    DEFAULT_ENDPOINT_NAME,
    EMR_RELEASE_LABEL,
    OUTPUTS,
    PROCESSOR_JOB_NAME,
)
from tests.infrastructure.helpers import (
    as_list,
    models_by_version,
    only,
    render,
    resources,
    statements_by_sid,
)

if TYPE_CHECKING:
    from aws_cdk.assertions import Template


def _output(template: Template, key: str) -> Any:
    return render(template.find_outputs(key)[key]["Value"])


def _spark_conf(parameters: str) -> dict[str, str]:
    words = shlex.split(parameters)
    assert words[::2] == ["--conf"] * (len(words) // 2)
    return dict(word.split("=", 1) for word in words[1::2])


def _ids(template: Template) -> dict[str, str]:
    """Logical ids by role, found by what the resources are (never hard-coded)."""
    buckets = resources(template, "AWS::S3::Bucket")
    lake = next(i for i, b in buckets.items() if "VersioningConfiguration" in b["Properties"])
    logged = [i for i, b in buckets.items() if "LoggingConfiguration" in b["Properties"]]
    (artifacts,) = [i for i in logged if i != lake]
    return {
        "lake": lake,
        "artifacts": artifacts,
        "key": only(template, "AWS::KMS::Key")[0],
        "table": only(template, "AWS::DynamoDB::Table")[0],
        "app": _processor_app(template)[0],
        "logs": only(template, "AWS::Logs::LogGroup")[0],
    }


def _processor_app(template: Template) -> tuple[str, dict[str, Any]]:
    """The processor's application (the model monitoring job has one of its own)."""
    (found,) = (
        (i, a)
        for i, a in resources(template, "AWS::EMRServerless::Application").items()
        if render(a["Properties"]["Name"]).endswith("-processor")
    )
    return found


def _job_role(template: Template) -> tuple[str, dict[str, Any]]:
    """The processor's job role: the EMR Serverless role its application (and only it) assumes."""
    app = f"<{_processor_app(template)[0]}.Arn>"
    (found,) = (
        (i, r)
        for i, r in resources(template, "AWS::IAM::Role").items()
        if any(
            render(s.get("Condition", {}).get("ArnLike", {})).get("aws:SourceArn") == app
            for s in r["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        )
    )
    return found


def test_the_application_runs_spark_4_one_streaming_run_at_a_time_and_logs_encrypted(dev: Template) -> None:
    ids = _ids(dev)
    _, app = _processor_app(dev)
    props = render(app["Properties"])
    assert props["ReleaseLabel"] == EMR_RELEASE_LABEL
    assert props["Type"] == "Spark"
    assert props["Architecture"] == "X86_64"
    assert props["AutoStopConfiguration"] == {"Enabled": True, "IdleTimeoutMinutes": 15}
    assert props["MaximumCapacity"] == {"Cpu": "8 vCPU", "Memory": "32 GB"}
    assert props["SchedulerConfiguration"] == {"MaxConcurrentRuns": 1}
    assert props["InteractiveConfiguration"] == {"LivyEndpointEnabled": False, "StudioEnabled": False}
    assert props["MonitoringConfiguration"] == {
        "CloudWatchLoggingConfiguration": {
            "Enabled": True,
            "LogGroupName": f"<{ids['logs']}>",
            "EncryptionKeyArn": f"<{ids['key']}.Arn>",
            # Without LogTypeMap EMR Serverless would ship the driver's stdout and stderr only.
            "LogTypeMap": [
                {"Key": "SPARK_DRIVER", "Value": ["STDOUT", "STDERR"]},
                {"Key": "SPARK_EXECUTOR", "Value": ["STDOUT", "STDERR"]},
            ],
        },
        "ManagedPersistenceMonitoringConfiguration": {"Enabled": True, "EncryptionKeyArn": f"<{ids['key']}.Arn>"},
    }
    dev.has_resource_properties(
        "AWS::Logs::LogGroup", {"KmsKeyId": {"Fn::GetAtt": [ids["key"], "Arn"]}, "RetentionInDays": 14}
    )


def test_the_job_role_is_assumable_only_by_this_application(dev: Template) -> None:
    ids = _ids(dev)
    _, role = _job_role(dev)
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert render(trust["Condition"]) == {
        "StringEquals": {"aws:SourceAccount": "<AWS::AccountId>"},
        "ArnLike": {"aws:SourceArn": f"<{ids['app']}.Arn>"},
    }


def test_the_job_role_reaches_only_the_pipeline_resources(dev: Template) -> None:
    # GIVEN the job role's statements
    ids = _ids(dev)
    role_id, _ = _job_role(dev)
    statements = statements_by_sid(dev, role_id)
    streams = sorted(f"<{i}.Arn>" for i in resources(dev, "AWS::Kinesis::Stream"))
    # THEN every action is named (no wildcard actions) and every resource is the stack's own
    for statement in statements.values():
        assert statement["Effect"] == "Allow"
        assert not any("*" in action for action in as_list(statement["Action"])), statement
    assert sorted(as_list(statements["ReadStreams"]["Resource"])) == streams
    assert "kinesis:PutRecords" not in as_list(statements["ReadStreams"]["Action"])
    assert statements["UseStackKey"]["Resource"] == f"<{ids['key']}.Arn>"
    assert sorted(as_list(statements["WriteLakeTables"]["Resource"])) == sorted(
        f"<{ids['lake']}.Arn>/{t.prefix}*" for t in LAKE_TABLES if t is not MONITORING
    )
    assert statements["CheckpointsAndState"]["Resource"] == f"<{ids['artifacts']}.Arn>/{ARTIFACTS_CHECKPOINT_PREFIX}*"
    assert statements["ReadJobCode"]["Resource"] == f"<{ids['artifacts']}.Arn>/{ARTIFACTS_CODE_PREFIX}*"
    assert as_list(statements["ReadJobCode"]["Action"]) == ["s3:GetObject"]
    assert statements["WriteAlerts"]["Resource"] == f"<{ids['table']}.Arn>"
    assert sorted(as_list(statements["WriteAlerts"]["Action"])) == [
        "dynamodb:BatchWriteItem",
        "dynamodb:DescribeTable",
        "dynamodb:PutItem",
    ]
    endpoint = f"arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:endpoint/{DEFAULT_ENDPOINT_NAME}"
    assert statements["ScoreThroughEndpoint"]["Resource"] == endpoint
    # The model-card chain names the endpoint, its configuration and each variant's model exactly.
    _, config = only(dev, "AWS::SageMaker::EndpointConfig")
    chain = sorted(as_list(statements["ReadEndpointModelChain"]["Resource"]))
    models = models_by_version(dev)
    arn = "arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>"
    assert chain == sorted(
        [
            endpoint,
            f"{arn}:endpoint-config/{config['Properties']['EndpointConfigName']}",
            f"{arn}:model/{models['champion-1']['ModelName']}",
            f"{arn}:model/{models['challenger-1']['ModelName']}",
        ]
    )
    assert statements["JobLogs"]["Resource"] == f"<{ids['logs']}.Arn>"


def test_the_job_role_reads_its_code_checkpoint_and_the_variants_artifacts_and_nothing_else(dev: Template) -> None:
    # GIVEN the job role's statements and what the job reads when it starts: its code and venv, its
    # checkpoint, and the champion's artifact (the fallback model, FRAUD_PROCESSOR__MODEL_DIR)
    ids = _ids(dev)
    role_id, _ = _job_role(dev)
    statements = statements_by_sid(dev, role_id)
    models = models_by_version(dev)
    conf = _spark_conf(_output(dev, OUTPUTS.PROCESSOR_SPARK_SUBMIT_PARAMETERS))
    fallback = conf["spark.emr-serverless.driverEnv.FRAUD_PROCESSOR__MODEL_DIR"]
    assert fallback == models["champion-1"]["PrimaryContainer"]["ModelDataUrl"]
    # WHEN the objects it may read are collected
    readable = sorted(
        resource
        for statement in statements.values()
        if "s3:GetObject" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    )
    # THEN they are exactly the variants' artifacts (the champion's the fallback model, the challenger's
    # for its card), the code prefix, the checkpoint and the tables it writes
    challenger = models["challenger-1"]
    assert readable == sorted(
        [
            fallback.replace("s3://", "arn:<AWS::Partition>:s3:::"),
            challenger["PrimaryContainer"]["ModelDataUrl"].replace("s3://", "arn:<AWS::Partition>:s3:::"),
            f"<{ids['artifacts']}.Arn>/{ARTIFACTS_CODE_PREFIX}*",
            f"<{ids['artifacts']}.Arn>/{ARTIFACTS_CHECKPOINT_PREFIX}*",
            *(f"<{ids['lake']}.Arn>/{t.prefix}*" for t in LAKE_TABLES if t is not MONITORING),
        ]
    )
    # and neither the lake's models/ nor its training/ folders
    text = json.dumps(statements)
    assert f"<{ids['lake']}.Arn>/models/" not in text
    assert f"<{ids['lake']}.Arn>/training/" not in text


def test_the_log_group_output_says_what_the_application_ships(dev: Template) -> None:
    output = dev.find_outputs(OUTPUTS.PROCESSOR_LOG_GROUP)[OUTPUTS.PROCESSOR_LOG_GROUP]
    assert output["Description"].startswith("stdout and stderr of the job runs' Spark driver and executors ")
    dev.has_resource_properties(
        "AWS::EMRServerless::Application",
        {
            "MonitoringConfiguration": Match.object_like(
                {
                    "CloudWatchLoggingConfiguration": Match.object_like(
                        {
                            "LogTypeMap": Match.array_with(
                                [{"Key": "SPARK_EXECUTOR", "Value": Match.array_with(["STDOUT", "STDERR"])}]
                            )
                        }
                    )
                }
            )
        },
    )


def test_outputs_give_the_exact_streaming_start_job_run_request(dev: Template) -> None:
    # GIVEN the StartJobRun request in the outputs (tokens rendered as <LogicalId> placeholders)
    ids = _ids(dev)
    request = json.loads(_output(dev, OUTPUTS.PROCESSOR_START_JOB_RUN))
    role_id, _ = _job_role(dev)
    # THEN it starts this application's job in streaming mode with the packaged entry point
    assert request["applicationId"] == f"<{ids['app']}.ApplicationId>"
    assert request["executionRoleArn"] == f"<{role_id}.Arn>"
    assert request["name"] == PROCESSOR_JOB_NAME
    assert request["mode"] == "STREAMING"
    assert request["retryPolicy"] == {"maxFailedAttemptsPerHour": 5}
    code = f"s3://<{ids['artifacts']}>/{ARTIFACTS_CODE_PREFIX}"
    driver = request["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == f"{code}main.py"
    assert driver["sparkSubmitParameters"] == _output(dev, OUTPUTS.PROCESSOR_SPARK_SUBMIT_PARAMETERS)
    assert _output(dev, OUTPUTS.PROCESSOR_ENTRY_POINT) == driver["entryPoint"]
    assert _output(dev, OUTPUTS.PROCESSOR_CODE_LOCATION) == code
    # and the Spark parameters ship the code (--py-files), the venv (--archives) and the settings
    conf = _spark_conf(driver["sparkSubmitParameters"])
    assert conf["spark.submit.pyFiles"] == f"{code}fraudstream.zip"
    assert conf["spark.archives"] == f"{code}pyspark_env.tar.gz#environment"
    for key in (
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON",
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON",
        "spark.executorEnv.PYSPARK_PYTHON",
    ):
        assert conf[key] == "./environment/bin/python"
    env = {k.removeprefix("spark.emr-serverless.driverEnv."): v for k, v in conf.items() if "driverEnv.FRAUD" in k}
    names = ResourceNames()
    champion = next(
        m["Properties"]
        for m in resources(dev, "AWS::SageMaker::Model").values()
        if {"Key": "fraudstream:model-version", "Value": "champion-1"} in m["Properties"]["Tags"]
    )
    assert env == {
        "FRAUD_TRANSACTIONS_STREAM": names.transactions_stream,
        "FRAUD_LABELS_STREAM": names.labels_stream,
        "FRAUD_LAKE_BUCKET": f"<{ids['lake']}>",
        "FRAUD_ALERTS_TABLE": names.alerts_table,
        "FRAUD_PROCESSOR__CHECKPOINT_LOCATION": f"s3://<{ids['artifacts']}>/{ARTIFACTS_CHECKPOINT_PREFIX}",
        "FRAUD_PROCESSOR__MODEL_DIR": render(champion["PrimaryContainer"]["ModelDataUrl"]),
        "FRAUD_PROCESSOR__ENDPOINT_NAME": DEFAULT_ENDPOINT_NAME,
        "FRAUD_PROCESSOR__METRICS": "emf",
    }
    # (no threshold: each row alerts at its model's card's, the champion's or the challenger's)
    assert env["FRAUD_PROCESSOR__MODEL_DIR"].endswith("model.tar.gz")  # read as a file, not a folder
    assert conf["spark.dynamicAllocation.enabled"] == "false"
    assert _output(dev, OUTPUTS.PROCESSOR_CHECKPOINT_LOCATION) == env["FRAUD_PROCESSOR__CHECKPOINT_LOCATION"]


def test_prod_sizes_the_job_larger(prod: Template) -> None:
    conf = _spark_conf(_output(prod, OUTPUTS.PROCESSOR_SPARK_SUBMIT_PARAMETERS))
    assert (conf["spark.executor.instances"], conf["spark.executor.cores"], conf["spark.executor.memory"]) == (
        "4",
        "4",
        "16g",
    )
    prod.has_resource_properties(
        "AWS::EMRServerless::Application", {"MaximumCapacity": {"Cpu": "32 vCPU", "Memory": "128 GB"}}
    )
