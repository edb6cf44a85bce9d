"""`fraudstream aws start-processor / stop-processor / env` against the embedded emulator (moto's
CloudFormation and EMR Serverless over real HTTP), with the StartJobRun request the dev stack outputs.

NOTE: moto accepts but does not keep StartJobRun's `mode` (nor `retryPolicy`), so the request as sent
is read from botocore's own event hook on the session; the job run's other fields are read back from
the emulator. moto creates job runs in state SUCCESS, and lists the runs of an application that has
none as ResourceNotFound: the tests adjust both in moto's backend (the same process).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from fraudstream.aws_cli import (
    ProcessorAlreadyRunningError,
    StackNotFoundError,
    StackOutputsError,
    environment_exports,
    stack_outputs,
    start_processor,
    stop_processor,
)
from infrastructure.constants import OUTPUTS, PROCESSOR_JOB_NAME
from tests.infrastructure.helpers import render, resources

if TYPE_CHECKING:
    import boto3
    from aws_cdk.assertions import Template

ACCOUNT = "123456789012"  # moto's default account


def _concrete(value: Any, refs: dict[str, str]) -> str:
    """A template output value with its references replaced by concrete values."""
    if isinstance(value, str):
        return value
    (fn, arg), *_ = value.items()
    if fn == "Ref":
        return refs[arg]
    if fn == "Fn::GetAtt":
        return refs[f"{arg[0]}.{arg[1]}"]
    if fn == "Fn::Join":
        return str(arg[0]).join(_concrete(part, refs) for part in arg[1])
    if fn == "Fn::Sub" and isinstance(arg, str):
        return re.sub(r"\$\{([^}]+)\}", lambda m: refs[m.group(1)], arg)
    raise AssertionError(f"unexpected intrinsic {fn}")


def _named_refs(template: Template) -> dict[str, str]:
    """Pseudo parameters, and the streams, tables and buckets by logical id, as a deployment resolves them."""
    refs = {"AWS::Region": "us-east-1", "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}
    for logical_id in resources(template, "AWS::S3::Bucket"):
        refs[logical_id] = f"bucket-{logical_id.lower()}"
    for logical_id, stream in resources(template, "AWS::Kinesis::Stream").items():
        refs[logical_id] = stream["Properties"]["Name"]
    for logical_id, table in resources(template, "AWS::DynamoDB::Table").items():
        refs[logical_id] = table["Properties"]["TableName"]
    return refs


@pytest.fixture
def deployed(boto_session: boto3.Session, dev: Template) -> dict[str, str]:
    """An EMR Serverless application and a CloudFormation stack whose outputs are the dev stack's,
    resolved against it: what `cdk deploy` leaves behind, minus the resources the command does not touch."""
    emr = boto_session.client("emr-serverless")
    # moto only knows `emr-<major>.<minor>.0` release labels; the command never reads the label.
    application_id = emr.create_application(name="processor", releaseLabel="emr-7.9.0", type="SPARK")["applicationId"]
    # moto answers ListJobRuns of an application without runs with ResourceNotFound; AWS with [].
    from moto.emrserverless.models import emrserverless_backends

    emrserverless_backends[ACCOUNT]["us-east-1"].job_runs.setdefault(application_id, [])
    refs = _named_refs(dev)
    # The processor's application (the model monitoring job has one of its own).
    (app_id,) = (
        i
        for i, a in resources(dev, "AWS::EMRServerless::Application").items()
        if render(a["Properties"]["Name"]).endswith("-processor")
    )
    refs[f"{app_id}.ApplicationId"] = application_id
    for logical_id in resources(dev, "AWS::IAM::Role"):
        refs[f"{logical_id}.Arn"] = f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"
    for logical_id in resources(dev, "AWS::Logs::LogGroup"):
        refs[logical_id] = f"/aws/emr-serverless/{logical_id}"
    outputs = dev.find_outputs("*")
    keys = (
        OUTPUTS.PROCESSOR_START_JOB_RUN,
        OUTPUTS.PROCESSOR_APPLICATION_ID,
        OUTPUTS.PROCESSOR_LOG_GROUP,
        OUTPUTS.ENDPOINT_NAME,
        OUTPUTS.TRANSACTIONS_STREAM,
        OUTPUTS.LABELS_STREAM,
        OUTPUTS.ALERTS_TABLE,
        OUTPUTS.LAKE_BUCKET,
        OUTPUTS.TRAINING_ROLE,
    )
    values = {key: _concrete(outputs[key]["Value"], refs) for key in keys}
    stack = f"fraudstream-test-{uuid.uuid4().hex[:8]}"
    template = {
        "Resources": {"Handle": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in values.items()},
    }
    boto_session.client("cloudformation").create_stack(StackName=stack, TemplateBody=json.dumps(template))
    return {"stack": stack, "application_id": application_id, **values}


def _sent(session: boto3.Session, operation: str) -> list[dict[str, Any]]:
    """Collects the parameters of every `operation` call made through clients of this session."""
    calls: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    session.events.register(f"provide-client-params.emr-serverless.{operation}", capture)
    return calls


def _set_state(application_id: str, job_run_id: str, state: str) -> None:
    from moto.emrserverless.models import emrserverless_backends

    for run in emrserverless_backends[ACCOUNT]["us-east-1"].job_runs[application_id]:
        if run.id == job_run_id:
            run.state = state


def test_start_processor_sends_the_stacks_request_in_streaming_mode(
    deployed: dict[str, str], boto_session: boto3.Session
) -> None:
    # GIVEN the deployed stack's outputs and a hook on what the client sends
    sent = _sent(boto_session, "StartJobRun")
    expected = json.loads(deployed[OUTPUTS.PROCESSOR_START_JOB_RUN])
    # WHEN the processor is started
    run = start_processor(deployed["stack"], session=boto_session)
    # THEN the request is the stack's, in streaming mode, with a fresh idempotency token
    (params,) = sent
    token = params.pop("clientToken")
    assert uuid.UUID(token)
    assert params == expected
    assert params["mode"] == "STREAMING"
    assert params["retryPolicy"] == {"maxFailedAttemptsPerHour": 5}
    # and EMR Serverless holds a job run with that name, role and driver
    emr = boto_session.client("emr-serverless")
    job = emr.get_job_run(applicationId=deployed["application_id"], jobRunId=run.job_run_id)["jobRun"]
    assert job["name"] == PROCESSOR_JOB_NAME
    assert job["executionRole"] == expected["executionRoleArn"]
    assert job["jobDriver"] == expected["jobDriver"]
    assert job["jobDriver"]["sparkSubmit"]["entryPoint"].endswith("/emr/main.py")


def test_a_second_start_is_refused_while_a_run_is_active_and_stop_cancels_it(
    deployed: dict[str, str], boto_session: boto3.Session
) -> None:
    # GIVEN a running processor
    run = start_processor(deployed["stack"], session=boto_session)
    _set_state(deployed["application_id"], run.job_run_id, "RUNNING")
    # WHEN it is started again THEN the second run is refused (it would share the checkpoint)
    with pytest.raises(ProcessorAlreadyRunningError, match=run.job_run_id):
        start_processor(deployed["stack"], session=boto_session)
    # WHEN it is stopped THEN that run is cancelled with a grace period to finish its batch
    sent = _sent(boto_session, "CancelJobRun")
    cancelled = stop_processor(deployed["stack"], grace_period_s=90, session=boto_session)
    assert [c.job_run_id for c in cancelled] == [run.job_run_id]
    assert sent == [
        {
            "applicationId": deployed["application_id"],
            "jobRunId": run.job_run_id,
            "shutdownGracePeriodInSeconds": 90,
        }
    ]
    emr = boto_session.client("emr-serverless")
    state = emr.get_job_run(applicationId=deployed["application_id"], jobRunId=run.job_run_id)["jobRun"]["state"]
    assert state == "CANCELLED"
    # and a second stop has nothing to do
    assert stop_processor(deployed["stack"], session=boto_session) == []


def test_the_commands_print_what_they_did_and_the_environment(
    deployed: dict[str, str], aws_env: dict[str, str]
) -> None:
    from fraudstream.cli import app

    runner = CliRunner()
    started = runner.invoke(app, ["aws", "start-processor", "--stack", deployed["stack"]])
    assert started.exit_code == 0, started.output
    assert "started job run" in started.output
    assert deployed[OUTPUTS.PROCESSOR_LOG_GROUP] in started.output
    env = runner.invoke(app, ["aws", "env", "--stack", deployed["stack"]])
    assert env.exit_code == 0, env.output
    lines = set(env.stdout.splitlines())
    assert f"export FRAUD_LAKE_BUCKET={deployed[OUTPUTS.LAKE_BUCKET]}" in lines
    assert "export FRAUD_TRANSACTIONS_STREAM=transactions" in lines
    assert "export FRAUD_ALERTS_TABLE=alerts" in lines
    assert f"export FRAUD_PROCESSOR__ENDPOINT_NAME={deployed[OUTPUTS.ENDPOINT_NAME]}" in lines
    assert f"export FRAUD_SAGEMAKER_ROLE_ARN={deployed[OUTPUTS.TRAINING_ROLE]}" in lines
    stopped = runner.invoke(app, ["aws", "stop-processor", "--stack", deployed["stack"]])
    assert stopped.exit_code == 0, stopped.output
    assert "no processor job run is active" in stopped.output  # moto finished it at once


def test_a_missing_stack_or_output_is_a_domain_error(boto_session: boto3.Session) -> None:
    with pytest.raises(StackNotFoundError, match="does not exist"):
        stack_outputs("no-such-stack", session=boto_session)
    # A LocalStack-style stack has the streams but no processor.
    stack = f"fraudstream-local-{uuid.uuid4().hex[:8]}"
    template = {
        "Resources": {"Handle": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {OUTPUTS.TRANSACTIONS_STREAM: {"Value": "transactions"}},
    }
    boto_session.client("cloudformation").create_stack(StackName=stack, TemplateBody=json.dumps(template))
    with pytest.raises(StackOutputsError, match=OUTPUTS.PROCESSOR_START_JOB_RUN):
        start_processor(stack, session=boto_session)
    assert environment_exports(stack_outputs(stack, session=boto_session)) == {
        "FRAUD_TRANSACTIONS_STREAM": "transactions"
    }


def test_env_exports_the_prod_stacks_own_names(prod: Template) -> None:
    # GIVEN the prod stack's outputs as a deployment resolves them (its fixed names end in -prod)
    refs = _named_refs(prod)
    keys = (
        OUTPUTS.TRANSACTIONS_STREAM,
        OUTPUTS.LABELS_STREAM,
        OUTPUTS.LAKE_BUCKET,
        OUTPUTS.ALERTS_TABLE,
        OUTPUTS.ENDPOINT_NAME,
    )
    outputs = {key: _concrete(output["Value"], refs) for key, output in prod.find_outputs("*").items() if key in keys}
    (lake_id,) = [
        i for i, b in resources(prod, "AWS::S3::Bucket").items() if "VersioningConfiguration" in b["Properties"]
    ]
    # WHEN they become the commands' environment THEN every name is prod's, none a dev default
    assert environment_exports(outputs) == {
        "FRAUD_TRANSACTIONS_STREAM": "transactions-prod",
        "FRAUD_LABELS_STREAM": "labels-prod",
        "FRAUD_LAKE_BUCKET": refs[lake_id],
        "FRAUD_ALERTS_TABLE": "alerts-prod",
        "FRAUD_PROCESSOR__ENDPOINT_NAME": "fraud-detector-prod",
    }
