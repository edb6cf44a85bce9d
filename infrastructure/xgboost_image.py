"""The registry accounts of SageMaker's built-in XGBoost 3.2-0 inference image, per region.

A copy of the sagemaker SDK's image configuration (`sagemaker/core/image_uri_config/xgboost.json`,
inference, version 3.2-0), kept here so that synthesizing needs neither the SDK (the `sagemaker`
extra) nor a concrete region: the stack emits it as a CloudFormation mapping looked up with
`AWS::Region`, so one template deploys to any of these regions.
`tests/infrastructure/test_xgboost_image.py` fails when this table and the installed SDK disagree.
"""

from __future__ import annotations

from typing import Final

from infrastructure.constants import XGBOOST_IMAGE_VERSION

__all__ = ["XGBOOST_REGISTRIES", "XGBOOST_REPOSITORY", "xgboost_image_uri"]

XGBOOST_REPOSITORY: Final = "sagemaker-xgboost"

XGBOOST_REGISTRIES: Final[dict[str, str]] = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "ca-west-1": "190319476487",
    "cn-north-1": "450853457545",
    "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "414596584902",
    "us-iso-east-1": "833128469047",
    "us-isob-east-1": "281123927165",
    "us-isof-east-1": "108575199400",
    "us-isof-south-1": "124985052026",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}


def xgboost_image_uri(account: str, region: str, url_suffix: str) -> str:
    """`<account>.dkr.ecr.<region>.<url suffix>/sagemaker-xgboost:3.2-0` (values or CDK tokens)."""
    return f"{account}.dkr.ecr.{region}.{url_suffix}/{XGBOOST_REPOSITORY}:{XGBOOST_IMAGE_VERSION}"
