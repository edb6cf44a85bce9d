"""The SageMaker endpoint: the project's artifact served by the built-in XGBoost 3.2-0 image, with an
optional challenger variant, auto scaling on invocations per instance, or a serverless variant."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aws_cdk import Aws, CfnMapping, FileAssetPackaging, Stack, Stage
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infrastructure._nag import acknowledge
from infrastructure.constants import CHALLENGER_VARIANT, CHAMPION_VARIANT, XGBOOST_IMAGE_VERSION
from infrastructure.xgboost_image import XGBOOST_REGISTRIES, XGBOOST_REPOSITORY, xgboost_image_uri

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms

    from infrastructure.config import EndpointProps
    from infrastructure.model_artifact import ModelArtifactRef

__all__ = ["ArtifactLocation", "ModelEndpoint", "ModelVariant"]


def _content_name(prefix: str, content: list[str]) -> str:
    """`<prefix>-<hash of content>`, lower case, at most 63 characters.

    Models and endpoint configurations are replaced, not updated, when they change: a name derived
    from their content lets CloudFormation create the new one beside the old, and being lower case
    it matches the ARNs SageMaker forms (IAM compares ARNs case-sensitively), so the processor's
    policy can name them exactly.
    """
    digest = hashlib.sha256("\n".join(content).encode()).hexdigest()[:12]
    return f"{prefix[: 63 - 13].lower()}-{digest}"


@dataclass(frozen=True)
class ArtifactLocation:
    """Where the deployment put a model.tar.gz: its s3:// URL and its object's ARN, and its SHA-256."""

    s3_url: str
    object_arn: str
    sha256: str


def _model_asset(scope: Construct, artifact: ModelArtifactRef) -> ArtifactLocation:
    """Publish the artifact as a file asset whose S3 key ends in `model.tar.gz`.

    CDK's `Asset` names the object `<hash>.gz` (the file's last extension), which readers that tell a
    tarball from a folder by its `.tar.gz` suffix (the processor's `--model s3://...`) take for a
    folder. Staged by hand and registered with the synthesizer, the key is `<sha256>-model.tar.gz`.
    """
    digest = hashlib.sha256(artifact.path.read_bytes()).hexdigest()
    staged = f"asset.{digest}.tar.gz"
    target = Path(Stage.of(scope).asset_outdir) / staged  # type: ignore[union-attr]
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifact.path, target)
    location = Stack.of(scope).synthesizer.add_file_asset(
        source_hash=f"{digest}-model.tar",
        file_name=staged,
        packaging=FileAssetPackaging.FILE,
        display_name=f"model {artifact.card.model_version}",
    )
    return ArtifactLocation(
        s3_url=location.s3_object_url,
        object_arn=f"arn:{Aws.PARTITION}:s3:::{location.bucket_name}/{location.object_key}",
        sha256=digest,
    )


@dataclass(frozen=True)
class ModelVariant:
    """One production variant: its name, model, artifact location and traffic weight."""

    name: str
    model_name: str
    model: sagemaker.CfnModel
    artifact: ArtifactLocation
    model_version: str
    weight: float


class ModelEndpoint(Construct):
    """Model(s), endpoint configuration, endpoint and its scaling.

    Args:
        champion: the artifact that takes most of the traffic.
        challenger: a second artifact, served beside the champion with `props.challenger_weight`
            of the traffic; None for a single variant.
        props: sizing, scaling and the endpoint's name.
        key: encrypts the instances' storage volumes (instance-based variants only).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        champion: ModelArtifactRef,
        challenger: ModelArtifactRef | None,
        props: EndpointProps,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, id_)
        if challenger is not None and props.serverless is not None:
            from infrastructure.exceptions import InvalidStackConfigError

            raise InvalidStackConfigError("a serverless endpoint has a single variant: drop the challenger")
        self.endpoint_name = props.endpoint_name
        self.image_uri = self._image_uri()
        self.role = self._execution_role()

        weights = {CHAMPION_VARIANT: 1.0}
        if challenger is not None:
            weights = {CHAMPION_VARIANT: 1.0 - props.challenger_weight, CHALLENGER_VARIANT: props.challenger_weight}
        artifacts = {CHAMPION_VARIANT: champion} | ({CHALLENGER_VARIANT: challenger} if challenger else {})
        self.variants = [self._variant(name, artifact, weights[name]) for name, artifact in artifacts.items()]

        production_variants = [self._production_variant(v, props) for v in self.variants]
        self.config_name = _content_name(
            props.endpoint_name,
            [repr((props.instance_type, props.instance_count, props.serverless))]
            + [f"{v.name}={v.model_name}@{v.weight}" for v in self.variants],
        )
        self.config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            endpoint_config_name=self.config_name,
            production_variants=production_variants,
            # Serverless variants have no storage volume to encrypt (SageMaker refuses the key there).
            kms_key_id=None if props.serverless is not None else key.key_arn,
        )
        for variant in self.variants:
            self.config.node.add_dependency(variant.model)  # named by string, not by reference
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=props.endpoint_name,
            endpoint_config_name=self.config.attr_endpoint_config_name,
        )
        self.endpoint_arn = Stack.of(self).format_arn(
            service="sagemaker", resource="endpoint", resource_name=props.endpoint_name.lower()
        )
        if props.autoscaling is not None:
            for variant in self.variants:
                self._autoscale(variant, props)

        if props.serverless is not None:
            acknowledge(
                self.config,
                "AwsSolutions-SM2",
                "Serverless variants have no ML storage volume: SageMaker rejects a KmsKeyId for them.",
            )
        for variant in self.variants:
            acknowledge(
                variant.model,
                "AwsSolutions-SM1",
                "Network isolation instead of a VPC: the built-in XGBoost container makes no network "
                "calls, and SageMaker fetches the artifact and image on the platform side.",
            )

    def _image_uri(self) -> str:
        # A mapping keyed by AWS::Region: the template stays region-agnostic and fails to deploy
        # (no mapping entry) in a region without the image, rather than pulling a wrong one.
        mapping = CfnMapping(
            self,
            "XGBoostImageRegistry",
            mapping={region: {"account": account} for region, account in XGBOOST_REGISTRIES.items()},
            lazy=True,
        )
        self.registry_account = mapping.find_in_map(Aws.REGION, "account")
        return xgboost_image_uri(self.registry_account, Aws.REGION, Aws.URL_SUFFIX)

    def _execution_role(self) -> iam.Role:
        role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal(
                "sagemaker.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="SageMaker: pull the XGBoost image, read this stack's model artifacts, write endpoint logs",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PullXGBoostImage",
                actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                resources=[
                    f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{self.registry_account}:repository/{XGBOOST_REPOSITORY}"
                ],
            )
        )
        role.add_to_policy(iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        log_group = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/"
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EndpointLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[f"{log_group}{self.endpoint_name}", f"{log_group}{self.endpoint_name}:*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EndpointInstanceMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData support no resource-level "
            "permissions (the latter is limited to SageMaker's namespaces by condition); the log "
            "streams of the endpoint's own log group are named by SageMaker at run time.",
            findings=[
                "Resource::*",
                "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
                f"/aws/sagemaker/Endpoints/{self.endpoint_name}:*",
            ],
        )
        return role

    def _variant(self, name: str, artifact: ModelArtifactRef, weight: float) -> ModelVariant:
        title = name.capitalize()
        location = _model_asset(self, artifact)
        self.role.add_to_policy(
            iam.PolicyStatement(sid=f"Read{title}Artifact", actions=["s3:GetObject"], resources=[location.object_arn])
        )
        model_name = _content_name(
            f"{self.endpoint_name}-{name}", [location.sha256, XGBOOST_REPOSITORY, XGBOOST_IMAGE_VERSION]
        )
        model = sagemaker.CfnModel(
            self,
            f"{title}Model",
            model_name=model_name,
            execution_role_arn=self.role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=self.image_uri, model_data_url=location.s3_url
            ),
            enable_network_isolation=True,
            tags=[{"key": "fraudstream:model-version", "value": artifact.card.model_version}],
        )
        # SageMaker checks at CreateModel that it can use the role: its policy must exist by then
        # (the reference to the role's ARN orders the role itself, not its policy).
        policy = self.role.node.find_child("DefaultPolicy")
        model.node.add_dependency(policy)
        return ModelVariant(name, model_name, model, location, artifact.card.model_version, weight)

    @staticmethod
    def _production_variant(
        variant: ModelVariant, props: EndpointProps
    ) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
        if props.serverless is not None:
            return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=variant.name,
                model_name=variant.model_name,
                initial_variant_weight=variant.weight,
                serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                    max_concurrency=props.serverless.max_concurrency,
                    memory_size_in_mb=props.serverless.memory_mb,
                ),
            )
        return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=variant.name,
            model_name=variant.model_name,
            initial_variant_weight=variant.weight,
            instance_type=props.instance_type,
            initial_instance_count=props.instance_count,
        )

    def _autoscale(self, variant: ModelVariant, props: EndpointProps) -> None:
        scaling = props.autoscaling
        assert scaling is not None  # noqa: S101 - checked by the caller
        title = variant.name.capitalize()
        # No RoleARN: Application Auto Scaling uses (and creates) its service-linked role for SageMaker.
        target = autoscaling.CfnScalableTarget(
            self,
            f"{title}ScalableTarget",
            service_namespace="sagemaker",
            resource_id=f"endpoint/{props.endpoint_name}/variant/{variant.name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=scaling.min_capacity,
            max_capacity=scaling.max_capacity,
        )
        target.node.add_dependency(self.endpoint)
        autoscaling.CfnScalingPolicy(
            self,
            f"{title}InvocationsScaling",
            policy_name=f"{props.endpoint_name}-{variant.name}-invocations-per-instance",
            policy_type="TargetTrackingScaling",
            scaling_target_id=target.ref,
            target_tracking_scaling_policy_configuration=autoscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=scaling.invocations_per_instance,
                predefined_metric_specification=autoscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                ),
                scale_in_cooldown=scaling.scale_in_cooldown_s,
                scale_out_cooldown=scaling.scale_out_cooldown_s,
            ),
        )
