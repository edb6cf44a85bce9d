"""The app: the environments' differences, the context it accepts, and two environments in one account."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk.assertions import Annotations, Match

from infrastructure.app import DEV, PROD, build_app, stack_name
from infrastructure.config import EnvironmentConfig, ResourceNames
from infrastructure.constants import DEFAULT_ENDPOINT_NAME, DEFAULT_GLUE_DATABASE, OUTPUTS
from infrastructure.exceptions import InvalidStackConfigError
from tests.infrastructure._stacks import cdk_context
from tests.infrastructure.helpers import only, render, resources

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from aws_cdk import Stack
    from aws_cdk.assertions import Template

    from tests.infrastructure._stacks import SynthesizedApp

# Where a resource type keeps a name that must be unique in its account and region (CloudFormation
# generates one from the stack's name when the property is absent).
_ACCOUNT_WIDE_NAMES: dict[str, tuple[str, ...]] = {
    "AWS::Kinesis::Stream": ("Name",),
    "AWS::DynamoDB::Table": ("TableName",),
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::SageMaker::Model": ("ModelName",),
    "AWS::SageMaker::EndpointConfig": ("EndpointConfigName",),
    "AWS::SageMaker::Endpoint": ("EndpointName",),
    "AWS::ApplicationAutoScaling::ScalableTarget": ("ResourceId",),
    "AWS::EMRServerless::Application": ("Name",),
    "AWS::Glue::Database": ("DatabaseInput", "Name"),
    "AWS::Athena::WorkGroup": ("Name",),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::IAM::Role": ("RoleName",),
    "AWS::Lambda::Function": ("FunctionName",),
    "AWS::CloudWatch::Dashboard": ("DashboardName",),
    "AWS::CloudWatch::Alarm": ("AlarmName",),
    "AWS::SNS::Topic": ("TopicName",),
    "AWS::Scheduler::Schedule": ("Name",),
}
# Types whose names are scoped to a parent (checked through it) or that have no name at all.
_NO_ACCOUNT_WIDE_NAME = {
    "AWS::Glue::Table",  # per database: its (database, table) pair is compared below
    "AWS::ApplicationAutoScaling::ScalingPolicy",  # per scalable target
    "AWS::IAM::Policy",  # inline, per role
    "AWS::Athena::NamedQuery",  # identified by a generated id, per workgroup
    "AWS::KMS::Key",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "Custom::S3AutoDeleteObjects",
}


def _physical_names(template: Template, stack: str) -> dict[str, str]:
    """Every fixed account-wide name of a template -> what names it (type and logical id)."""
    names: dict[str, str] = {}
    for logical_id, resource in template.to_json()["Resources"].items():
        type_ = resource["Type"]
        assert type_ in _ACCOUNT_WIDE_NAMES or type_ in _NO_ACCOUNT_WIDE_NAME, f"where does {type_} keep its name?"
        value: Any = resource.get("Properties", {})
        if type_ == "AWS::Glue::Table":
            value = f"{render(value['DatabaseName'])}.{value['TableInput']['Name']}"
        elif type_ in _ACCOUNT_WIDE_NAMES:
            for key in _ACCOUNT_WIDE_NAMES[type_]:
                value = value.get(key) if isinstance(value, dict) else None
        else:
            continue
        if value is not None:
            # A name built from the stack's own name differs between stacks: resolve it.
            rendered = str(render(value)).replace("<AWS::StackName>", stack)
            names[f"{type_} {rendered}"] = logical_id
    return names


def test_dev_and_prod_share_no_physical_name_so_both_fit_in_one_account_and_region(
    dev: Template, prod: Template
) -> None:
    # GIVEN the fixed names of both stacks of one app
    dev_names = _physical_names(dev, stack_name(DEV))
    prod_names = _physical_names(prod, stack_name(PROD))
    # THEN each stack names what it must (streams, table, endpoint, models, database, workgroup, ...)
    for template, names in ((dev, dev_names), (prod, prod_names)):
        for type_ in (
            "AWS::Kinesis::Stream",
            "AWS::DynamoDB::Table",
            "AWS::SageMaker::Endpoint",
            "AWS::Glue::Database",
        ):
            assert sum(n.startswith(f"{type_} ") for n in names) == len(resources(template, type_)) > 0
    # and no name is taken by both
    assert set(dev_names) & set(prod_names) == set()
    # and neither exports an output (export names are account-wide too)
    for template in (dev, prod):
        assert all("Export" not in output for output in template.find_outputs("*").values())


def test_a_stack_gets_its_own_names_whatever_fraud_variables_the_shell_holds(
    synth_factory: Callable[..., SynthesizedApp], model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a shell where `fraudstream aws env --stack fraudstream-prod` was evaluated
    for variable, name in (
        ("FRAUD_TRANSACTIONS_STREAM", "transactions-prod"),
        ("FRAUD_LABELS_STREAM", "labels-prod"),
        ("FRAUD_ALERTS_TABLE", "alerts-prod"),
        ("FRAUD_LAKE_BUCKET", "some-prod-lake"),
    ):
        monkeypatch.setenv(variable, name)
    # WHEN the app is synthesized there
    app = synth_factory(model_dir=str(model_dir))
    # THEN each stack still has the names app.py gives it: dev does not take prod's
    defaults = ResourceNames()
    for stack, suffix in (("fraudstream-dev", ""), ("fraudstream-prod", "-prod")):
        template = app.template(stack)
        streams = {render(s["Properties"]["Name"]) for s in resources(template, "AWS::Kinesis::Stream").values()}
        assert streams == {defaults.transactions_stream + suffix, defaults.labels_stream + suffix}
        _, table = only(template, "AWS::DynamoDB::Table")
        assert table["Properties"]["TableName"] == defaults.alerts_table + suffix
    assert (defaults.transactions_stream, defaults.labels_stream, defaults.alerts_table) == (
        "transactions",
        "labels",
        "alerts",
    )


def test_dev_keeps_the_default_names_and_prod_suffixes_them_in_resources_outputs_and_job(
    dev: Template, prod: Template
) -> None:
    defaults = ResourceNames()  # the names every fraudstream command defaults to
    for template, suffix in ((dev, ""), (prod, "-prod")):
        # GIVEN the names the environment's resources get
        streams = {render(s["Properties"]["Name"]) for s in resources(template, "AWS::Kinesis::Stream").values()}
        table_id, table = only(template, "AWS::DynamoDB::Table")
        _, endpoint = only(template, "AWS::SageMaker::Endpoint")
        _, database = only(template, "AWS::Glue::Database")
        # THEN they are the defaults, with the suffix for prod
        assert streams == {defaults.transactions_stream + suffix, defaults.labels_stream + suffix}
        assert table["Properties"]["TableName"] == defaults.alerts_table + suffix
        assert endpoint["Properties"]["EndpointName"] == DEFAULT_ENDPOINT_NAME + suffix
        assert database["Properties"]["DatabaseInput"]["Name"] == DEFAULT_GLUE_DATABASE + suffix.replace("-", "_")
        # and the outputs `fraudstream aws env` reads carry them
        outputs = {k: render(v["Value"]) for k, v in template.find_outputs("*").items()}
        assert outputs[OUTPUTS.ALERTS_TABLE] == f"<{table_id}>"
        assert outputs[OUTPUTS.ENDPOINT_NAME] == DEFAULT_ENDPOINT_NAME + suffix
        assert outputs[OUTPUTS.GLUE_DATABASE] == DEFAULT_GLUE_DATABASE + suffix.replace("-", "_")
        # and so does the processor's job
        parameters = outputs[OUTPUTS.PROCESSOR_SPARK_SUBMIT_PARAMETERS]
        for variable, value in (
            ("FRAUD_TRANSACTIONS_STREAM", defaults.transactions_stream + suffix),
            ("FRAUD_LABELS_STREAM", defaults.labels_stream + suffix),
            ("FRAUD_ALERTS_TABLE", defaults.alerts_table + suffix),
            ("FRAUD_PROCESSOR__ENDPOINT_NAME", DEFAULT_ENDPOINT_NAME + suffix),
        ):
            assert f"--conf spark.emr-serverless.driverEnv.{variable}={value} " in parameters


@pytest.mark.parametrize("suffix", ["prod", "-Prod", "-prod_1", "--prod", "-"])
def test_a_name_suffix_is_a_hyphen_and_a_lower_case_word(suffix: str) -> None:
    with pytest.raises(InvalidStackConfigError, match="name_suffix"):
        EnvironmentConfig(name="prod", name_suffix=suffix)


def test_serverless_gives_dev_a_serverless_endpoint_and_warns_that_prod_keeps_its_instances(
    synth_factory: Callable[..., SynthesizedApp], model_dir: Path
) -> None:
    # WHEN the app is synthesized with serverless=true
    synthesized = synth_factory(model_dir=str(model_dir), serverless="true")
    dev, prod = (synthesized.template(stack_name(c)) for c in (DEV, PROD))
    # THEN dev's endpoint is serverless and prod's keeps its instances
    (dev_variant,) = only(dev, "AWS::SageMaker::EndpointConfig")[1]["Properties"]["ProductionVariants"]
    assert dev_variant["ServerlessConfig"] == {"MaxConcurrency": 10, "MemorySizeInMB": 2048}
    (prod_variant,) = only(prod, "AWS::SageMaker::EndpointConfig")[1]["Properties"]["ProductionVariants"]
    assert (prod_variant["InstanceType"], prod_variant["InitialInstanceCount"]) == ("ml.c5.xlarge", 2)
    # and the prod stack, only it, carries a one-line warning that says so
    stacks: dict[str, Stack] = {c.name: synthesized.app.node.find_child(stack_name(c)) for c in (DEV, PROD)}  # type: ignore[misc]
    warning = Match.string_like_regexp(r"^context serverless=true applies to fraudstream-dev only: fraudstream-prod ")
    Annotations.from_stack(stacks[PROD.name]).has_warning("*", warning)
    assert Annotations.from_stack(stacks[DEV.name]).find_warning("*", warning) == []
    assert Annotations.from_stack(stacks[PROD.name]).find_error("*", Match.any_value()) == []


def test_serverless_with_a_challenger_is_one_clear_error(model_dir: Path, challenger_dir: Path) -> None:
    context = cdk_context(model_dir=str(model_dir), challenger_model_dir=str(challenger_dir), serverless="true")
    with pytest.raises(InvalidStackConfigError) as raised:
        build_app(context)
    assert str(raised.value) == (
        "context serverless=true (one serverless variant) cannot be combined with challenger_model_dir"
    )


@pytest.mark.parametrize("key", ["serverless", "local"])
def test_a_flag_that_is_neither_true_nor_false_is_an_error(key: str, model_dir: Path) -> None:
    with pytest.raises(InvalidStackConfigError, match=rf"^context {key}='maybe' is not true or false$"):
        build_app(cdk_context(model_dir=str(model_dir), **{key: "maybe"}))


def test_cdk_nag_fails_synthesis_on_a_finding_nobody_acknowledged(model_dir: Path, tmp_path: Path) -> None:
    from aws_cdk import aws_iam as iam

    # GIVEN the app with one resource cdk-nag's AwsSolutions rules refuse (an AWS managed policy)
    app = build_app(cdk_context(model_dir=str(model_dir)), outdir=str(tmp_path / "cdk.out"))
    dev: Stack = app.node.find_child(stack_name(DEV))  # type: ignore[assignment]
    iam.Role(
        dev,
        "Unreviewed",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("ReadOnlyAccess")],
    )
    # WHEN it is synthesized THEN synthesis fails, naming the rule and that resource, and only it (every
    # other finding of the app is acknowledged, one construct at a time)
    with pytest.raises(Exception, match="ValidationFailed") as failed:
        app.synth()
    report = str(failed.value)
    assert "(AwsSolutions)" in report and "AwsSolutions-IAM4[Policy::" in report
    flagged = set(re.findall(r"^\s+(fraudstream-\S+) ", report, flags=re.MULTILINE))
    assert flagged == {"fraudstream-dev/Unreviewed/Resource"}, report
