"""Names the CDK app and the `fraudstream aws` commands share. No aws_cdk import here: the CLI
reads these without the `cdk` extra installed."""

from __future__ import annotations

from typing import Final

__all__ = [
    "APP_NAME",
    "ARTIFACTS_CHECKPOINT_PREFIX",
    "ARTIFACTS_CODE_PREFIX",
    "ATHENA_RESULTS_PREFIX",
    "CHALLENGER_VARIANT",
    "CHAMPION_VARIANT",
    "DEFAULT_ENDPOINT_NAME",
    "DEFAULT_GLUE_DATABASE",
    "DEFAULT_STACK",
    "EMR_RELEASE_LABEL",
    "JOB_ARCHIVE_FILES",
    "OUTPUTS",
    "PROCESSOR_JOB_NAME",
    "XGBOOST_IMAGE_VERSION",
]

APP_NAME: Final = "fraudstream"
# `cdk deploy` without a stack name deploys nothing when the app has several stacks: this is the one
# the README and `fraudstream aws` default to.
DEFAULT_STACK: Final = "fraudstream-dev"

# The runtime the processor is tested against (Spark 4.1.1, long-term support), see ARCHITECTURE.md.
EMR_RELEASE_LABEL: Final = "emr-spark-8.1.0"
# SageMaker's built-in XGBoost image that serves the artifact (ml_model.artifact writes for it).
XGBOOST_IMAGE_VERSION: Final = "3.2-0"

DEFAULT_ENDPOINT_NAME: Final = "fraud-detector"
CHAMPION_VARIANT: Final = "champion"
CHALLENGER_VARIANT: Final = "challenger"
DEFAULT_GLUE_DATABASE: Final = "fraudstream"
PROCESSOR_JOB_NAME: Final = "fraudstream-processor"

# Prefixes in the artifacts bucket (code and Spark state) and in the lake bucket (Athena's results).
ARTIFACTS_CODE_PREFIX: Final = "emr/"
ARTIFACTS_CHECKPOINT_PREFIX: Final = "checkpoints/processor/"
ATHENA_RESULTS_PREFIX: Final = "athena-results/"

# What `fraudstream package` writes to dist/emr/ and the job run reads from the code prefix.
JOB_ARCHIVE_FILES: Final = {
    "entry_point": "main.py",
    "py_files": "fraudstream.zip",
    "archive": "pyspark_env.tar.gz",
}


class _Outputs:
    """CloudFormation output keys (top-level CfnOutput ids, so the keys carry no hash suffix)."""

    TRANSACTIONS_STREAM: Final = "TransactionsStreamName"
    LABELS_STREAM: Final = "LabelsStreamName"
    LAKE_BUCKET: Final = "LakeBucketName"
    ALERTS_TABLE: Final = "AlertsTableName"
    ARTIFACTS_BUCKET: Final = "ArtifactsBucketName"
    PRODUCER_ROLE: Final = "ProducerRoleArn"
    ENDPOINT_NAME: Final = "EndpointName"
    MODEL_DATA_URL: Final = "ModelDataUrl"
    MODEL_VERSION: Final = "ModelVersion"
    PROCESSOR_APPLICATION_ID: Final = "ProcessorApplicationId"
    PROCESSOR_JOB_ROLE: Final = "ProcessorJobRoleArn"
    PROCESSOR_CODE_LOCATION: Final = "ProcessorCodeLocation"
    PROCESSOR_CHECKPOINT_LOCATION: Final = "ProcessorCheckpointLocation"
    PROCESSOR_ENTRY_POINT: Final = "ProcessorEntryPoint"
    PROCESSOR_SPARK_SUBMIT_PARAMETERS: Final = "ProcessorSparkSubmitParameters"
    PROCESSOR_START_JOB_RUN: Final = "ProcessorStartJobRunRequest"
    PROCESSOR_LOG_GROUP: Final = "ProcessorLogGroupName"
    GLUE_DATABASE: Final = "GlueDatabaseName"
    ATHENA_WORKGROUP: Final = "AthenaWorkGroupName"
    ALARM_TOPIC: Final = "AlarmTopicArn"
    DASHBOARD: Final = "DashboardName"
    TRAINING_ROLE: Final = "TrainingRoleArn"


OUTPUTS: Final = _Outputs()
