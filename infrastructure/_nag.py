"""cdk-nag (v3) and checkov acknowledgments: one rule or finding on one construct, always with a reason.

cdk-nag 3 runs as a CDK policy-validation plugin (`Validations.of(app).add_plugins(...)`) rather than
an aspect, and suppressions are CDK's own acknowledgments; a rule that reports several findings per
resource (IAM5: one per wildcard) is acknowledged finding by finding, never wholesale.

checkov (run over the synthesized templates by `make synth`) reads its skips from the resource's
template metadata, `Metadata.checkov.skip: [{id, comment}]`: `acknowledge_checkov` writes them there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, CfnResource, Validations

if TYPE_CHECKING:
    from collections.abc import Sequence

    from constructs import IConstruct

__all__ = ["acknowledge", "acknowledge_checkov"]


def acknowledge(construct: IConstruct, rule_id: str, reason: str, *, findings: Sequence[str] = ()) -> None:
    """Acknowledge `rule_id` (or only its listed `findings`, e.g. `Resource::*`) on `construct`."""
    ids = [f"{rule_id}[{finding}]" for finding in findings] or [rule_id]
    Validations.of(construct).acknowledge(*(Acknowledgment(id=i, reason=reason) for i in ids))


def acknowledge_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Acknowledge checkov's `check_id` on `construct`'s CloudFormation resource (itself or its default child).

    Raises:
        TypeError: the construct is not, and has no default child that is, a CloudFormation resource.
    """
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to acknowledge {check_id} on")
    skips = list((resource.get_metadata("checkov") or {}).get("skip", []))
    skips.append({"id": check_id, "comment": reason})
    resource.add_metadata("checkov", {"skip": skips})
