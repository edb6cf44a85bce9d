"""`fraudstream aws ...`: operate the stack `cdk deploy` created, from its CloudFormation outputs.

fraudstream aws env                  # export lines for the producer, query and invoke commands
fraudstream aws start-processor      # StartJobRun, streaming mode, with the stack's exact request
fraudstream aws stop-processor       # cancel the running job run (it stops after its current batch)
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from botocore.exceptions import ClientError

from fraudstream.aws import aws_errors, client_config, default_session
from fraudstream.exceptions import FraudstreamError
from fraudstream.output import print_summary
from infrastructure.constants import DEFAULT_STACK, OUTPUTS

if TYPE_CHECKING:
    import boto3

__all__ = [
    "ACTIVE_STATES",
    "JobRun",
    "ProcessorAlreadyRunningError",
    "StackNotFoundError",
    "StackOutputsError",
    "app",
    "environment_exports",
    "running_job_runs",
    "stack_outputs",
    "start_processor",
    "stop_processor",
]

# A job run in one of these states holds (or will hold) the checkpoint.
ACTIVE_STATES: Final = ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED")

app = typer.Typer(
    help="Operate the stack deployed with `npx cdk deploy` (reads its CloudFormation outputs).",
    no_args_is_help=True,
)

StackOption = Annotated[
    str, typer.Option("--stack", envvar="FRAUD_STACK", help="The CloudFormation stack `cdk deploy` created.")
]


class StackNotFoundError(FraudstreamError):
    """Raised when the CloudFormation stack does not exist in the configured account and region."""

    hint = "deploy it with `npx cdk deploy fraudstream-dev`, or pass --stack NAME (and check AWS_REGION)"


class StackOutputsError(FraudstreamError):
    """Raised when the stack lacks an output the command needs (a LocalStack stack has no processor)."""

    hint = "deploy the AWS stack (not `-c local=true`) with this version of fraudstream"


class ProcessorAlreadyRunningError(FraudstreamError):
    """Raised when a job run of the processor is already active: two would share one checkpoint."""

    hint = "stop it first with `fraudstream aws stop-processor`"


@dataclass(frozen=True)
class JobRun:
    """A job run of the processor's EMR Serverless application."""

    application_id: str
    job_run_id: str
    state: str = ""
    arn: str = ""


def _client(session: boto3.Session, service: str) -> Any:
    with aws_errors():
        return session.client(service, config=client_config())  # type: ignore[call-overload]


def stack_outputs(stack: str, *, session: boto3.Session | None = None) -> dict[str, str]:
    """The stack's outputs, key -> value.

    Raises:
        StackNotFoundError: no such stack.
    """
    cloudformation = _client(session or default_session(), "cloudformation")
    try:
        with aws_errors(f"stack {stack!r}"):
            stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "ValidationError" and "does not exist" in str(e):
            raise StackNotFoundError(f"stack {stack!r} does not exist") from e
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def _require(outputs: dict[str, str], key: str, stack: str) -> str:
    if key not in outputs:
        raise StackOutputsError(f"stack {stack!r} has no output {key}")
    return outputs[key]


def running_job_runs(application_id: str, *, session: boto3.Session | None = None) -> list[JobRun]:
    """The application's job runs in an active state, newest first."""
    emr = _client(session or default_session(), "emr-serverless")
    runs: list[JobRun] = []
    with aws_errors(f"EMR Serverless application {application_id}"):
        for page in emr.get_paginator("list_job_runs").paginate(
            applicationId=application_id, states=list(ACTIVE_STATES)
        ):
            runs.extend(JobRun(application_id, r["id"], r["state"], r.get("arn", "")) for r in page["jobRuns"])
    return runs


def start_processor(stack: str = DEFAULT_STACK, *, session: boto3.Session | None = None) -> JobRun:
    """Start the processor's job run in streaming mode with the request the stack outputs.

    Raises:
        StackNotFoundError, StackOutputsError: the stack or its processor output is missing.
        ProcessorAlreadyRunningError: a job run is already active.
    """
    session = session or default_session()
    outputs = stack_outputs(stack, session=session)
    request: dict[str, Any] = json.loads(_require(outputs, OUTPUTS.PROCESSOR_START_JOB_RUN, stack))
    application_id = request["applicationId"]
    active = running_job_runs(application_id, session=session)
    if active:
        raise ProcessorAlreadyRunningError(f"job run {active[0].job_run_id} is {active[0].state}")
    emr = _client(session, "emr-serverless")
    with aws_errors(f"EMR Serverless application {application_id}"):
        response = emr.start_job_run(clientToken=str(uuid.uuid4()), **request)
    return JobRun(response["applicationId"], response["jobRunId"], "SUBMITTED", response.get("arn", ""))


def stop_processor(
    stack: str = DEFAULT_STACK, *, grace_period_s: int = 120, session: boto3.Session | None = None
) -> list[JobRun]:
    """Cancel every active job run of the processor; returns those cancelled (none: nothing ran).

    The driver gets SIGTERM and `grace_period_s` seconds: the processor stops after its current
    micro-batch, and the next start continues from the checkpoint.
    """
    session = session or default_session()
    outputs = stack_outputs(stack, session=session)
    application_id = _require(outputs, OUTPUTS.PROCESSOR_APPLICATION_ID, stack)
    emr = _client(session, "emr-serverless")
    cancelled = []
    for run in running_job_runs(application_id, session=session):
        with aws_errors(f"job run {run.job_run_id}"):
            emr.cancel_job_run(
                applicationId=application_id, jobRunId=run.job_run_id, shutdownGracePeriodInSeconds=grace_period_s
            )
        cancelled.append(run)
    return cancelled


# Output key -> the variable the fraudstream commands (and boto3) read.
_EXPORTS: Final = {
    OUTPUTS.TRANSACTIONS_STREAM: "FRAUD_TRANSACTIONS_STREAM",
    OUTPUTS.LABELS_STREAM: "FRAUD_LABELS_STREAM",
    OUTPUTS.LAKE_BUCKET: "FRAUD_LAKE_BUCKET",
    OUTPUTS.ALERTS_TABLE: "FRAUD_ALERTS_TABLE",
    OUTPUTS.ENDPOINT_NAME: "FRAUD_PROCESSOR__ENDPOINT_NAME",
    OUTPUTS.TRAINING_ROLE: "FRAUD_SAGEMAKER_ROLE_ARN",  # `fraudstream train --on sagemaker`
}


def environment_exports(outputs: dict[str, str]) -> dict[str, str]:
    """The environment variables that point fraudstream's commands at the stack's resources."""
    return {variable: outputs[key] for key, variable in _EXPORTS.items() if key in outputs}


@app.command("env")
def env(stack: StackOption = DEFAULT_STACK) -> None:
    """Print `export` lines for the stack's resource names: `eval "$(fraudstream aws env)"`."""
    import shlex
    import sys

    for variable, value in environment_exports(stack_outputs(stack)).items():
        sys.stdout.write(f"export {variable}={shlex.quote(value)}\n")


@app.command("start-processor")
def start(stack: StackOption = DEFAULT_STACK) -> None:
    """Start the stream processor on EMR Serverless (streaming mode; EMR restarts it from its checkpoint on failure).

    Upload the job first: `fraudstream package`, then copy dist/emr/* to the stack's ProcessorCodeLocation.
    """
    run = start_processor(stack)
    outputs = stack_outputs(stack)
    log_group = outputs.get(OUTPUTS.PROCESSOR_LOG_GROUP, "?")
    print_summary(
        f"started job run {run.job_run_id} on application {run.application_id} (streaming)\n"
        f"logs: CloudWatch log group {log_group}; stop with `fraudstream aws stop-processor --stack {stack}`",
        "processor job run started",
        job_run_id=run.job_run_id,
        application_id=run.application_id,
        log_group=log_group,
    )


@app.command("stop-processor")
def stop(
    stack: StackOption = DEFAULT_STACK,
    grace_period: Annotated[
        int, typer.Option(help="Seconds the job gets to finish its current micro-batch before it is killed.")
    ] = 120,
) -> None:
    """Cancel the running stream processor; it stops after its current micro-batch (exactly once on restart)."""
    cancelled = stop_processor(stack, grace_period_s=grace_period)
    if not cancelled:
        print_summary("no processor job run is active")
    for run in cancelled:
        print_summary(
            f"cancelling job run {run.job_run_id} (was {run.state})",
            "processor job run cancelling",
            job_run_id=run.job_run_id,
            state=run.state,
        )
