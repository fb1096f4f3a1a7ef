"""The ``argoWorkflow`` trigger's spec: submit or manage an Argo Workflow.

Argo Events runs the ``argo`` CLI for these operations; the spec shape is the
same here, whatever the adapter ends up using.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from herald.core.model import Spec
from triggers.artifacts import ArtifactLocation
from triggers.params import TriggerParameter

WorkflowOperation = Literal[
    "submit", "submit-from", "resubmit", "retry", "resume", "suspend", "terminate", "stop", ""
]


class ArgoWorkflowTrigger(Spec):
    """Submit a Workflow, or act on an existing one."""

    source: ArtifactLocation = Field(
        description="Where the Workflow (or, for submit-from, the template it is made from) "
        "comes from."
    )
    operation: WorkflowOperation = Field(
        default="submit",
        description="submit, submit-from, resubmit, retry, resume, suspend, terminate or "
        "stop (empty means submit).",
    )
    parameters: list[TriggerParameter] | None = Field(
        default=None, description="Write event values into the Workflow object."
    )
    args: list[str] | None = Field(
        default=None, description="Extra arguments for the operation, as for the argo CLI."
    )

    @field_validator("operation")
    @classmethod
    def _empty_is_submit(cls, value: WorkflowOperation) -> WorkflowOperation:
        return value or "submit"
