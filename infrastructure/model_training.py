"""The execution role of `fraudstream train --on sagemaker`: a SageMaker training job with the built-in
XGBoost 3.2-0 algorithm, reading its channels from and writing its model to the lake bucket.

`ml_model.sagemaker_training` lays the job out under `training/<job>/` in the lake bucket: the
channels in `train/` and `validation/`, the job's output (SageMaker's `S3OutputPath`) in `output/`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Aws, CfnElement, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infrastructure._nag import acknowledge
from infrastructure.xgboost_image import XGBOOST_REPOSITORY
from ml_model.sagemaker_training import TRAINING_PREFIX

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

__all__ = ["TRAINING_CHANNELS", "TRAINING_LOG_GROUP", "ModelTraining"]

# The channels `start_training_job` writes, and the folder SageMaker writes the job's output to.
TRAINING_CHANNELS = ("train", "validation")
_OUTPUT = "output"
# SageMaker names the log group of every training job's container output.
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"


class ModelTraining(Construct):
    """A role SageMaker assumes for this account's training jobs: read the channels, write the output,
    use the stack's key for both through S3, pull the XGBoost image, write the job's logs and metrics.

    Args:
        lake_bucket: the bucket `fraudstream train --on sagemaker --bucket` writes the channels to.
        key: the lake bucket's key.
        image_registry_account: the account of the region's `sagemaker-xgboost` repository.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        lake_bucket: s3.IBucket,
        key: kms.IKey,
        image_registry_account: str,
    ) -> None:
        super().__init__(scope, id_)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "sagemaker.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="SageMaker training (fraudstream train --on sagemaker): read training/*/{train,validation}/ "
            "and write training/*/output/ in the lake bucket",
        )
        jobs = f"{TRAINING_PREFIX}/*/"
        channels = [lake_bucket.arn_for_objects(f"{jobs}{channel}/*") for channel in TRAINING_CHANNELS]
        output = lake_bucket.arn_for_objects(f"{jobs}{_OUTPUT}/*")
        log_group = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{TRAINING_LOG_GROUP}"
        statements = [
            # An S3Prefix channel is listed, then each object under it is read.
            iam.PolicyStatement(
                sid="ListTrainingPrefix",
                actions=["s3:ListBucket"],
                resources=[lake_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": f"{TRAINING_PREFIX}/*"}},
            ),
            iam.PolicyStatement(sid="ReadChannels", actions=["s3:GetObject"], resources=channels),
            iam.PolicyStatement(
                sid="WriteJobOutput", actions=["s3:PutObject", "s3:AbortMultipartUpload"], resources=[output]
            ),
            # The lake bucket's objects are encrypted with the stack's key: decrypt the channels, encrypt
            # the output, and only through S3.
            iam.PolicyStatement(
                sid="UseStackKeyThroughS3",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.{Aws.URL_SUFFIX}"}},
            ),
            iam.PolicyStatement(
                sid="PullXGBoostImage",
                actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                resources=[
                    f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{image_registry_account}:repository/{XGBOOST_REPOSITORY}"
                ],
            ),
            iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
            iam.PolicyStatement(
                sid="TrainingJobLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[log_group, f"{log_group}:*"],
            ),
            iam.PolicyStatement(
                sid="TrainingJobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            ),
        ]
        for statement in statements:
            self.role.add_to_policy(statement)

        lake_id = Stack.of(self).get_logical_id(_cfn(lake_bucket))
        acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "Training jobs are named per run (fraudstream-xgb-<time>-<random>): the objects are limited to "
            "the channel and output folders of training/<job>/ and listing to the training/ prefix; the log "
            "streams of SageMaker's training log group are named by SageMaker per job; ecr:GetAuthorizationToken "
            "and cloudwatch:PutMetricData support no resource-level permissions (the latter is limited to "
            "SageMaker's namespaces by condition).",
            findings=[
                *(f"Resource::<{lake_id}.Arn>/{jobs}{channel}/*" for channel in TRAINING_CHANNELS),
                f"Resource::<{lake_id}.Arn>/{jobs}{_OUTPUT}/*",
                "Resource::*",
                f"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{TRAINING_LOG_GROUP}:*",
            ],
        )


def _cfn(construct: s3.IBucket) -> CfnElement:
    child = construct.node.default_child
    assert isinstance(child, CfnElement)  # noqa: S101 - the lake bucket is an L2 wrapping one L1
    return child
