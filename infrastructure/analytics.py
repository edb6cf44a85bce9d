"""Glue tables over the lake (columns generated from `fraudstream.lake`, partitions projected) and an
Athena workgroup with an enforced, encrypted result location and the project's named queries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Aws, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from constructs import Construct

from fraudstream.lake import LAKE_TABLES
from fraudstream.named_queries import NAMED_QUERIES
from infrastructure.constants import ATHENA_RESULTS_PREFIX
from infrastructure.glue_schema import (
    PARQUET_INPUT_FORMAT,
    PARQUET_OUTPUT_FORMAT,
    PARQUET_SERDE,
    GlueColumn,
    glue_columns,
    partition_columns,
    projection_parameters,
)

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

    from infrastructure.config import LakeProps

__all__ = ["Analytics"]


def _columns(columns: list[GlueColumn]) -> list[glue.CfnTable.ColumnProperty]:
    return [glue.CfnTable.ColumnProperty(name=c.name, type=c.type, comment=c.comment or None) for c in columns]


class Analytics(Construct):
    """Glue database and tables, Athena workgroup and named queries.

    Args:
        database_name: the Glue database (Athena's schema) holding transactions, aggregates, quarantine, labels.
        lake_bucket: the bucket the processor writes.
        props: partition projection range and the per-query scan cutoff.
        key: encrypts Athena's result files.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        database_name: str,
        lake_bucket: s3.IBucket,
        props: LakeProps,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, id_)
        self.database_name = database_name
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name, description="fraudstream lake: " + ", ".join(t.name for t in LAKE_TABLES)
            ),
        )
        self.tables: dict[str, glue.CfnTable] = {}
        for table in LAKE_TABLES:
            location = f"s3://{lake_bucket.bucket_name}/{table.prefix}"
            cfn_table = glue.CfnTable(
                self,
                f"{table.name.capitalize()}Table",
                catalog_id=Aws.ACCOUNT_ID,
                database_name=database_name,
                table_input=glue.CfnTable.TableInputProperty(
                    name=table.name,
                    description=table.description,
                    table_type="EXTERNAL_TABLE",
                    parameters=projection_parameters(table, location, dt_range=props.projection_dt_range),
                    partition_keys=_columns(partition_columns(table)),
                    storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                        location=location,
                        input_format=PARQUET_INPUT_FORMAT,
                        output_format=PARQUET_OUTPUT_FORMAT,
                        serde_info=glue.CfnTable.SerdeInfoProperty(
                            serialization_library=PARQUET_SERDE, parameters={"serialization.format": "1"}
                        ),
                        columns=_columns(glue_columns(table.schema)),
                    ),
                ),
            )
            cfn_table.node.add_dependency(self.database)
            self.tables[table.name] = cfn_table

        self.results_location = lake_bucket.s3_url_for_object(ATHENA_RESULTS_PREFIX)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=Stack.of(self).stack_name,
            description="fraudstream: queries over the lake; results encrypted, scans capped",
            recursive_delete_option=True,
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=props.bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.results_location,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )
        self.named_queries = []
        for query in NAMED_QUERIES:
            named = athena.CfnNamedQuery(
                self,
                "Query" + "".join(part.capitalize() for part in query.name.split("-")),
                name=query.name,
                description=query.description,
                database=database_name,
                query_string=query.sql,
                work_group=self.workgroup.ref,
            )
            named.node.add_dependency(self.database)
            self.named_queries.append(named)
