"""The SageMaker models, endpoint configuration, endpoint, auto scaling and the execution role."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from aws_cdk.assertions import Match

from infrastructure.app import PROD
from infrastructure.constants import CHALLENGER_VARIANT, CHAMPION_VARIANT, DEFAULT_ENDPOINT_NAME
from infrastructure.xgboost_image import XGBOOST_REGISTRIES
from tests.infrastructure._stacks import CHALLENGER_WEIGHT
from tests.infrastructure.helpers import as_list, models_by_version, only, resources, statements_by_sid

if TYPE_CHECKING:
    from pathlib import Path

    from aws_cdk.assertions import Template

    from tests.infrastructure._stacks import SynthesizedApp

PROD_ENDPOINT_NAME = DEFAULT_ENDPOINT_NAME + PROD.name_suffix


def test_each_model_runs_the_builtin_xgboost_image_of_the_region_with_network_isolation(dev: Template) -> None:
    # GIVEN the region -> registry account mapping the stack carries
    mappings = dev.find_mappings("*")
    assert len(mappings) == 1
    (mapping_id, mapping), *_ = mappings.items()
    assert {region: entry["account"] for region, entry in mapping.items()} == XGBOOST_REGISTRIES
    # THEN both models pull sagemaker-xgboost:3.2-0 from the registry of the stack's region
    models = models_by_version(dev)
    assert set(models) == {"champion-1", "challenger-1"}
    for model in models.values():
        assert model["EnableNetworkIsolation"] is True
        container = model["PrimaryContainer"]
        assert isinstance(container, dict)
        assert container["Image"] == (
            f"<map:{mapping_id}[<AWS::Region>].account>.dkr.ecr.<AWS::Region>.<AWS::URLSuffix>/sagemaker-xgboost:3.2-0"
        )
        assert container["ModelDataUrl"].startswith("s3://cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}/")
        assert container["ModelDataUrl"].endswith("-model.tar.gz")


def test_the_artifacts_are_published_as_they_are(
    aws_app: SynthesizedApp, model_dir: Path, challenger_dir: Path
) -> None:
    # GIVEN the asset manifest of the dev stack
    manifest = json.loads((aws_app.outdir / "fraudstream-dev.assets.json").read_text())
    models = {k: v for k, v in manifest["files"].items() if k.endswith("-model.tar")}
    # THEN each model.tar.gz is staged byte for byte and lands under a key ending in model.tar.gz
    expected = {hashlib.sha256((d / "model.tar.gz").read_bytes()).hexdigest() for d in (model_dir, challenger_dir)}
    assert {k.removesuffix("-model.tar") for k in models} == expected
    for asset_id, asset in models.items():
        staged = aws_app.outdir / asset["source"]["path"]
        assert hashlib.sha256(staged.read_bytes()).hexdigest() == asset_id.removesuffix("-model.tar")
        assert asset["source"]["packaging"] == "file"
        (destination,) = asset["destinations"].values()
        assert destination["objectKey"] == f"{asset_id}.gz"


def test_champion_and_challenger_split_the_traffic_on_encrypted_instances(dev: Template, prod: Template) -> None:
    for template, instance_type, count, endpoint_name in (
        (dev, "ml.t2.medium", 1, DEFAULT_ENDPOINT_NAME),
        (prod, "ml.c5.xlarge", 2, PROD_ENDPOINT_NAME),
    ):
        key_id, _ = only(template, "AWS::KMS::Key")
        models = {m["ModelName"]: version for version, m in models_by_version(template).items()}
        _, config = only(template, "AWS::SageMaker::EndpointConfig")
        props = config["Properties"]
        assert props["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        variants = {v["VariantName"]: v for v in props["ProductionVariants"]}
        assert set(variants) == {CHAMPION_VARIANT, CHALLENGER_VARIANT}
        assert models[variants[CHAMPION_VARIANT]["ModelName"]] == "champion-1"
        assert models[variants[CHALLENGER_VARIANT]["ModelName"]] == "challenger-1"
        assert variants[CHAMPION_VARIANT]["InitialVariantWeight"] == 1 - CHALLENGER_WEIGHT
        assert variants[CHALLENGER_VARIANT]["InitialVariantWeight"] == CHALLENGER_WEIGHT
        for variant in variants.values():
            assert variant["InstanceType"] == instance_type
            assert variant["InitialInstanceCount"] == count
            assert "ServerlessConfig" not in variant
        # Models are named by string: the configuration must wait for them.
        assert set(config["DependsOn"]) == set(resources(template, "AWS::SageMaker::Model"))
        config_id, _ = only(template, "AWS::SageMaker::EndpointConfig")
        template.has_resource_properties(
            "AWS::SageMaker::Endpoint",
            {
                "EndpointName": endpoint_name,
                "EndpointConfigName": {"Fn::GetAtt": [config_id, "EndpointConfigName"]},
            },
        )


def test_prod_scales_each_variant_on_invocations_per_instance_and_dev_does_not(dev: Template, prod: Template) -> None:
    dev.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    targets = resources(prod, "AWS::ApplicationAutoScaling::ScalableTarget")
    endpoint_id, _ = only(prod, "AWS::SageMaker::Endpoint")
    assert sorted(t["Properties"]["ResourceId"] for t in targets.values()) == [
        f"endpoint/{PROD_ENDPOINT_NAME}/variant/{CHALLENGER_VARIANT}",
        f"endpoint/{PROD_ENDPOINT_NAME}/variant/{CHAMPION_VARIANT}",
    ]
    for target_id, target in targets.items():
        props = target["Properties"]
        assert (props["MinCapacity"], props["MaxCapacity"]) == (2, 8)
        assert props["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
        assert props["ServiceNamespace"] == "sagemaker"
        assert "RoleARN" not in props  # Application Auto Scaling's service-linked role
        assert target["DependsOn"] == [endpoint_id]
        prod.has_resource_properties(
            "AWS::ApplicationAutoScaling::ScalingPolicy",
            {
                "PolicyType": "TargetTrackingScaling",
                "ScalingTargetId": {"Ref": target_id},
                "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                    {
                        "PredefinedMetricSpecification": {
                            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                        },
                        "TargetValue": 3000,
                    }
                ),
            },
        )


def test_the_execution_role_reads_only_its_artifacts_and_pulls_only_the_xgboost_image(dev: Template) -> None:
    # GIVEN the role the models run with (the training role is SageMaker's too: test_model_training)
    (role_arn,) = {
        json.dumps(m["Properties"]["ExecutionRoleArn"]) for m in resources(dev, "AWS::SageMaker::Model").values()
    }
    role_id = json.loads(role_arn)["Fn::GetAtt"][0]
    role = resources(dev, "AWS::IAM::Role")[role_id]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    statements = statements_by_sid(dev, role_id)
    assert set(statements) == {
        "PullXGBoostImage",
        "EcrLogin",
        "EndpointLogs",
        "EndpointInstanceMetrics",
        "ReadChampionArtifact",
        "ReadChallengerArtifact",
    }
    (mapping_id,) = dev.find_mappings("*")
    assert statements["PullXGBoostImage"]["Resource"] == (
        f"arn:<AWS::Partition>:ecr:<AWS::Region>:<map:{mapping_id}[<AWS::Region>].account>:repository/sagemaker-xgboost"
    )
    assert sorted(as_list(statements["PullXGBoostImage"]["Action"])) == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    ]
    assert statements["EcrLogin"]["Action"] == "ecr:GetAuthorizationToken"
    assert statements["EndpointInstanceMetrics"]["Condition"] == {
        "StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}
    }
    log_group = (
        "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
        f"/aws/sagemaker/Endpoints/{DEFAULT_ENDPOINT_NAME}"
    )
    assert sorted(as_list(statements["EndpointLogs"]["Resource"])) == [log_group, f"{log_group}:*"]
    # Each artifact statement names exactly the object its model serves.
    urls = sorted(m["PrimaryContainer"]["ModelDataUrl"] for m in models_by_version(dev).values())
    objects = sorted(
        statements[sid]["Resource"].replace("arn:<AWS::Partition>:s3:::", "s3://")
        for sid in ("ReadChampionArtifact", "ReadChallengerArtifact")
    )
    assert objects == urls
    # SageMaker checks the role when the model is created: the model waits for the role's policy.
    policies = {
        i
        for i in resources(dev, "AWS::IAM::Policy")
        if {"Ref": role_id} in dev.find_resources("AWS::IAM::Policy")[i]["Properties"]["Roles"]
    }
    for model in resources(dev, "AWS::SageMaker::Model").values():
        assert set(model["DependsOn"]) == policies
