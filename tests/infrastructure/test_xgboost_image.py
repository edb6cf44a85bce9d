"""The stack's table of XGBoost 3.2-0 image registries is the sagemaker SDK's, region for region."""

from __future__ import annotations

import json
from importlib import resources

import botocore.loaders
import botocore.regions
import pytest

from infrastructure.constants import XGBOOST_IMAGE_VERSION
from infrastructure.xgboost_image import XGBOOST_REGISTRIES, XGBOOST_REPOSITORY, xgboost_image_uri


def _sdk_config() -> dict[str, object]:
    pytest.importorskip("sagemaker.core", reason="the sagemaker extra is not installed")
    text = resources.files("sagemaker.core").joinpath("image_uri_config/xgboost.json").read_text()
    config: dict[str, object] = json.loads(text)["inference"]["versions"][XGBOOST_IMAGE_VERSION]
    return config


def test_registries_and_repository_equal_the_sdk_image_configuration() -> None:
    config = _sdk_config()
    assert config["registries"] == XGBOOST_REGISTRIES
    assert config["repository"] == XGBOOST_REPOSITORY


def test_the_uri_the_template_builds_is_the_one_the_sdk_resolves_in_every_region() -> None:
    # GIVEN the SDK's resolver, and each region's DNS suffix as CloudFormation's AWS::URLSuffix gives it
    _sdk_config()
    from sagemaker.core import image_uris  # type: ignore[import-untyped]

    endpoints = botocore.regions.EndpointResolver(botocore.loaders.create_loader().load_data("endpoints"))
    for region, account in XGBOOST_REGISTRIES.items():
        partition = endpoints.get_partition_for_region(region)
        suffix = endpoints.get_partition_dns_suffix(partition)
        # WHEN the stack's formula is applied THEN it is the SDK's URI
        sdk_uri = image_uris.retrieve("xgboost", region, version=XGBOOST_IMAGE_VERSION)
        assert xgboost_image_uri(account, region, suffix) == sdk_uri, region
