"""cdk-nag (v3) acknowledgments: one rule or finding on one construct, always with a reason.

cdk-nag 3 runs as a CDK policy-validation plugin (`Validations.of(app).add_plugins(...)`) rather than
an aspect, and suppressions are CDK's own acknowledgments; a rule that reports several findings per
resource (IAM5: one per wildcard) is acknowledged finding by finding, never wholesale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, Validations

if TYPE_CHECKING:
    from collections.abc import Sequence

    from constructs import IConstruct

__all__ = ["acknowledge"]


def acknowledge(construct: IConstruct, rule_id: str, reason: str, *, findings: Sequence[str] = ()) -> None:
    """Acknowledge `rule_id` (or only its listed `findings`, e.g. `Resource::*`) on `construct`."""
    ids = [f"{rule_id}[{finding}]" for finding in findings] or [rule_id]
    Validations.of(construct).acknowledge(*(Acknowledgment(id=i, reason=reason) for i in ids))
