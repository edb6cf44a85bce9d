"""The whole pipeline as one stack: streams, storage, model endpoint, processor, analytics, monitoring,
model monitoring."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from aws_cdk import CfnOutput, Stack, Tags

from infrastructure.analytics import Analytics
from infrastructure.constants import APP_NAME, DEFAULT_GLUE_DATABASE, OUTPUTS
from infrastructure.encryption import DataKey
from infrastructure.exceptions import InvalidStackConfigError
from infrastructure.ingestion import Ingestion
from infrastructure.model_endpoint import ModelEndpoint
from infrastructure.model_monitoring import ModelMonitoring
from infrastructure.model_training import ModelTraining
from infrastructure.monitoring import Monitoring
from infrastructure.processing import Processing
from infrastructure.storage import Storage

if TYPE_CHECKING:
    from constructs import Construct

    from infrastructure.config import EnvironmentConfig
    from infrastructure.model_artifact import ModelArtifactRef

__all__ = ["FraudstreamStack"]


class FraudstreamStack(Stack):
    """fraudstream in one account and region.

    Args:
        config: what differs between environments.
        model: the champion artifact the endpoint serves (required unless `config.local`).
        challenger: an optional second artifact, served as the challenger variant.
        glue_database: the Glue database of the lake's tables, before `config.name_suffix` is appended.
        **kwargs: `Stack` arguments (env, description, synthesizer, ...).

    Raises:
        InvalidStackConfigError: no model for an AWS deployment.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        model: ModelArtifactRef | None,
        challenger: ModelArtifactRef | None = None,
        glue_database: str = DEFAULT_GLUE_DATABASE,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        # Names come from the config app.py built, never from the shell's FRAUD_* variables.
        names = config.names.suffixed(config.name_suffix)
        glue_database = glue_database + config.name_suffix.replace("-", "_")  # Athena: no hyphens in names
        endpoint_props = dataclasses.replace(
            config.endpoint, endpoint_name=config.endpoint.endpoint_name + config.name_suffix
        )
        self.config = config
        Tags.of(self).add("project", APP_NAME)
        Tags.of(self).add("environment", config.name)

        self.data_key = None if config.local else DataKey(self, "DataKey", retain=config.retain_data)
        key = self.data_key.key if self.data_key is not None else None
        self.ingestion = Ingestion(
            self, "Ingestion", names=names, props=config.streams, key=key, retain=config.retain_data
        )
        self.storage = Storage(
            self,
            "Storage",
            names=names,
            props=config.lake,
            key=key,
            retain=config.retain_data,
            # The LocalStack stack deploys without assets (no bootstrap) and the project's LocalStack runs
            # no Lambda: its buckets are not emptied by a custom resource.
            empty_on_delete=not config.local,
        )
        self._output(OUTPUTS.TRANSACTIONS_STREAM, self.ingestion.transactions.stream_name, "FRAUD_TRANSACTIONS_STREAM")
        self._output(OUTPUTS.LABELS_STREAM, self.ingestion.labels.stream_name, "FRAUD_LABELS_STREAM")
        self._output(OUTPUTS.LAKE_BUCKET, self.storage.lake_bucket.bucket_name, "FRAUD_LAKE_BUCKET")
        self._output(OUTPUTS.ALERTS_TABLE, self.storage.alerts_table.table_name, "FRAUD_ALERTS_TABLE")
        self._output(OUTPUTS.PRODUCER_ROLE, self.ingestion.producer_role.role_arn, "role for `fraudstream produce`")

        self.endpoint: ModelEndpoint | None = None
        self.processing: Processing | None = None
        self.analytics: Analytics | None = None
        self.training: ModelTraining | None = None
        if self.data_key is not None:
            if model is None:
                raise InvalidStackConfigError("an AWS deployment needs a model artifact for the endpoint")
            self.endpoint = ModelEndpoint(
                self, "Model", champion=model, challenger=challenger, props=endpoint_props, key=self.data_key.key
            )
            self.processing = Processing(
                self,
                "Processor",
                props=config.processor,
                names=names,
                ingestion=self.ingestion,
                storage=self.storage,
                endpoint=self.endpoint,
                data_key=self.data_key,
                # None: each row alerts at the threshold its model's card carries (chosen on validation;
                # a champion and its challenger each their own); the config may set one for every row.
                threshold=config.processor.threshold,
            )
            self.analytics = Analytics(
                self,
                "Analytics",
                database_name=glue_database,
                lake_bucket=self.storage.lake_bucket,
                props=config.lake,
                key=self.data_key.key,
            )
            self.training = ModelTraining(
                self,
                "Training",
                lake_bucket=self.storage.lake_bucket,
                key=self.data_key.key,
                image_registry_account=self.endpoint.registry_account,
            )
            self._outputs_aws()
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            ingestion=self.ingestion,
            storage=self.storage,
            endpoint=self.endpoint,
            props=config.alarms,
            data_key=self.data_key,
        )
        # The model's health per day: on AWS only, as the processor it shares its code with (LocalStack's
        # community edition has neither EMR Serverless nor EventBridge Scheduler).
        self.model_monitoring: ModelMonitoring | None = None
        if self.processing is not None and self.endpoint is not None and self.data_key is not None:
            self.model_monitoring = ModelMonitoring(
                self,
                "ModelMonitoring",
                props=config.model_monitoring,
                storage=self.storage,
                processing=self.processing,
                endpoint=self.endpoint,
                data_key=self.data_key,
                topic=self.monitoring.topic,
                dashboard=self.monitoring.dashboard,
            )
        self._output(OUTPUTS.DASHBOARD, self.monitoring.dashboard.dashboard_name, "CloudWatch dashboard")
        if self.monitoring.topic is not None:
            self._output(OUTPUTS.ALARM_TOPIC, self.monitoring.topic.topic_arn, "subscribe to receive the alarms")

    def _outputs_aws(self) -> None:
        assert self.endpoint is not None and self.processing is not None and self.analytics is not None  # noqa: S101
        assert self.training is not None  # noqa: S101
        champion = self.endpoint.variants[0]
        self._output(OUTPUTS.ENDPOINT_NAME, self.endpoint.endpoint_name, "fraudstream invoke --endpoint")
        self._output(OUTPUTS.MODEL_DATA_URL, champion.artifact.s3_url, "the champion's model.tar.gz")
        self._output(OUTPUTS.MODEL_VERSION, champion.model_version, "the champion's model version")
        self._output(OUTPUTS.ARTIFACTS_BUCKET, self.storage.artifacts_bucket.bucket_name, "job code and checkpoints")
        processing = self.processing
        self._output(OUTPUTS.PROCESSOR_APPLICATION_ID, processing.application.attr_application_id, "EMR Serverless")
        self._output(OUTPUTS.PROCESSOR_JOB_ROLE, processing.job_role.role_arn, "the job run's execution role")
        self._output(
            OUTPUTS.PROCESSOR_CODE_LOCATION, processing.code_location, "upload dist/emr/* here (fraudstream package)"
        )
        self._output(OUTPUTS.PROCESSOR_CHECKPOINT_LOCATION, processing.checkpoint_location, "Spark checkpoint")
        self._output(OUTPUTS.PROCESSOR_ENTRY_POINT, processing.entry_point, "the job's entry point")
        self._output(
            OUTPUTS.PROCESSOR_SPARK_SUBMIT_PARAMETERS, processing.spark_submit_parameters, "the job's Spark parameters"
        )
        self._output(
            OUTPUTS.PROCESSOR_START_JOB_RUN,
            self.to_json_string(processing.start_job_run_request),
            "aws emr-serverless start-job-run --cli-input-json (what fraudstream aws start-processor sends)",
        )
        self._output(
            OUTPUTS.PROCESSOR_LOG_GROUP,
            processing.log_group.log_group_name,
            "stdout and stderr of the job runs' Spark driver and executors (the Spark UI is in EMR's own storage)",
        )
        self._output(OUTPUTS.GLUE_DATABASE, self.analytics.database_name, "Athena database")
        self._output(OUTPUTS.ATHENA_WORKGROUP, self.analytics.workgroup.ref, "Athena workgroup (named queries)")
        self._output(
            OUTPUTS.TRAINING_ROLE,
            self.training.role.role_arn,
            "fraudstream train --on sagemaker --role-arn (or FRAUD_SAGEMAKER_ROLE_ARN): the training job's role",
        )

    def _output(self, key: str, value: str, description: str) -> None:
        # A top-level id is the output's key as is: `fraudstream aws` reads the outputs by these keys.
        CfnOutput(self, key, value=value, description=description)
