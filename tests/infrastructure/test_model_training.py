"""The SageMaker training role `fraudstream train --on sagemaker --role-arn` takes from the outputs."""

from __future__ import annotations

from fnmatch import fnmatch
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from aws_cdk.assertions import Match

from infrastructure.constants import OUTPUTS
from infrastructure.model_training import TRAINING_LOG_GROUP
from ml_model.sagemaker_training import TRAINING_PREFIX, TrainingJob
from tests.infrastructure.helpers import as_list, only, render, resources, statements_by_sid

if TYPE_CHECKING:
    from aws_cdk.assertions import Template


def _training_role(template: Template) -> tuple[str, dict[str, object]]:
    """The role the stack's output names for training (it is SageMaker's, as the endpoint's role is)."""
    output = template.find_outputs(OUTPUTS.TRAINING_ROLE)[OUTPUTS.TRAINING_ROLE]
    role_id = output["Value"]["Fn::GetAtt"][0]
    assert output["Value"] == {"Fn::GetAtt": [role_id, "Arn"]}
    return role_id, resources(template, "AWS::IAM::Role")[role_id]


def _lake_id(template: Template) -> str:
    (lake,) = [
        i for i, b in resources(template, "AWS::S3::Bucket").items() if "VersioningConfiguration" in b["Properties"]
    ]
    return lake


def test_the_output_gives_a_role_only_sagemaker_of_this_account_assumes(dev: Template, prod: Template) -> None:
    for template in (dev, prod):
        _, role = _training_role(template)
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]  # type: ignore[index]
        assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
        assert trust["Action"] == "sts:AssumeRole"
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
        assert "ManagedPolicyArns" not in role["Properties"]  # type: ignore[operator]
    output = dev.find_outputs(OUTPUTS.TRAINING_ROLE)[OUTPUTS.TRAINING_ROLE]
    assert "--role-arn" in output["Description"] and "FRAUD_SAGEMAKER_ROLE_ARN" in output["Description"]


def test_the_training_role_reads_the_channels_and_writes_the_output_of_a_job_and_nothing_else(dev: Template) -> None:
    # GIVEN the role's statements and where a training job of `fraudstream train --on sagemaker` puts its data
    role_id, _ = _training_role(dev)
    statements = statements_by_sid(dev, role_id)
    lake, (key_id, _) = f"<{_lake_id(dev)}.Arn>", only(dev, "AWS::KMS::Key")
    name = "fraudstream-xgb-20261123-195004-ab12"
    job = TrainingJob(
        name, "lake", f"{TRAINING_PREFIX}/{name}/", "image", {}, 1, 1
    )  # as start_training_job lays it out
    channel_keys = [f"{job.prefix}{channel}/{channel}.csv" for channel in ("train", "validation")]
    model_key = urlparse(job.model_url).path.lstrip("/")
    # THEN it may list only the training/ prefix, read only the channels and write only the job's output
    assert statements["ListTrainingPrefix"]["Action"] == "s3:ListBucket"
    assert statements["ListTrainingPrefix"]["Resource"] == lake
    assert statements["ListTrainingPrefix"]["Condition"] == {"StringLike": {"s3:prefix": f"{TRAINING_PREFIX}/*"}}
    assert statements["ReadChannels"]["Action"] == "s3:GetObject"
    assert sorted(as_list(statements["ReadChannels"]["Resource"])) == [
        f"{lake}/{TRAINING_PREFIX}/*/train/*",
        f"{lake}/{TRAINING_PREFIX}/*/validation/*",
    ]
    assert sorted(as_list(statements["WriteJobOutput"]["Action"])) == ["s3:AbortMultipartUpload", "s3:PutObject"]
    assert statements["WriteJobOutput"]["Resource"] == f"{lake}/{TRAINING_PREFIX}/*/output/*"
    # (IAM's `*` spans `/` as fnmatch's does: the patterns cover exactly the job's channels and model)
    reads = [r.removeprefix(f"{lake}/") for r in as_list(statements["ReadChannels"]["Resource"])]
    assert all(any(fnmatch(key, pattern) for pattern in reads) for key in channel_keys)
    assert not any(fnmatch(f"{job.prefix}run.json", pattern) for pattern in reads)
    assert fnmatch(model_key, statements["WriteJobOutput"]["Resource"].removeprefix(f"{lake}/"))
    # and use the stack's key only through S3 (the lake's objects are encrypted with it)
    assert sorted(as_list(statements["UseStackKeyThroughS3"]["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statements["UseStackKeyThroughS3"]["Resource"] == f"<{key_id}.Arn>"
    assert statements["UseStackKeyThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.<AWS::Region>.<AWS::URLSuffix>"}
    }
    # and write the logs and metrics of training jobs, and pull the XGBoost image
    log_group = f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{TRAINING_LOG_GROUP}"
    assert sorted(as_list(statements["TrainingJobLogs"]["Resource"])) == [log_group, f"{log_group}:*"]
    assert statements["TrainingJobMetrics"]["Condition"] == {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}
    (mapping_id,) = dev.find_mappings("*")
    assert statements["PullXGBoostImage"]["Resource"] == (
        f"arn:<AWS::Partition>:ecr:<AWS::Region>:<map:{mapping_id}[<AWS::Region>].account>:repository/sagemaker-xgboost"
    )
    assert set(statements) == {
        "ListTrainingPrefix",
        "ReadChannels",
        "WriteJobOutput",
        "UseStackKeyThroughS3",
        "PullXGBoostImage",
        "EcrLogin",
        "TrainingJobLogs",
        "TrainingJobMetrics",
    }
    # and no other S3 object, nor any other service
    for statement in statements.values():
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert action.split(":")[0] in ("s3", "kms", "ecr", "logs", "cloudwatch"), action
            assert "*" not in action
        for resource in as_list(statement["Resource"]):
            assert not str(resource).startswith(lake) or resource == lake or f"/{TRAINING_PREFIX}/" in resource


def test_the_training_role_is_granted_nowhere_else(dev: Template) -> None:
    # The role is passed to SageMaker by whoever runs `fraudstream train`: no resource of the stack uses it.
    role_id, _ = _training_role(dev)
    dev.resource_properties_count_is("AWS::SageMaker::Model", {"ExecutionRoleArn": {"Fn::GetAtt": [role_id, "Arn"]}}, 0)
    policies = resources(dev, "AWS::IAM::Policy", {"Roles": Match.array_with([{"Ref": role_id}])})
    assert len(policies) == 1
    assert render(next(iter(policies.values()))["Properties"]["Roles"]) == [f"<{role_id}>"]
