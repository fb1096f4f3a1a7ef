"""The ``k8s`` trigger's spec: create, update, patch or delete any Kubernetes object.

This is also how Argo Rollouts (and any custom resource) are triggered. The
object comes from an :class:`~triggers.artifacts.ArtifactLocation` and stays
opaque; ``parameters`` write event values into it before the operation.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from herald.core.model import Spec
from triggers.artifacts import ArtifactLocation
from triggers.params import TriggerParameter

K8sOperation = Literal["create", "update", "patch", "delete", ""]
PatchStrategy = Literal[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
]


class StandardK8STrigger(Spec):
    """Act on one Kubernetes object."""

    source: ArtifactLocation = Field(description="Where the object comes from.")
    operation: K8sOperation = Field(
        default="create",
        description="create, update, patch or delete (empty means create); update and patch "
        "create the object when it does not exist.",
    )
    parameters: list[TriggerParameter] | None = Field(
        default=None,
        description="Write event values into the object, e.g. dest ``metadata.name``.",
    )
    patch_strategy: PatchStrategy = Field(
        default="application/merge-patch+json",
        description="Content type of the patch when operation is patch.",
    )
    live_object: bool | None = Field(
        default=None,
        description="For update: start from the object as it is in the cluster (the source "
        "must name apiVersion, kind, name and namespace) instead of the source itself.",
    )

    @field_validator("operation")
    @classmethod
    def _empty_is_create(cls, value: K8sOperation) -> K8sOperation:
        return value or "create"

    @model_validator(mode="after")
    def _live_object_needs_update(self) -> StandardK8STrigger:
        if self.live_object and self.operation != "update":
            raise ValueError(
                f"liveObject only applies to operation 'update', not {self.operation!r}: "
                "remove liveObject or set operation: update"
            )
        return self
