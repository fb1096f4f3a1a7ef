"""The ``argoWorkflow`` trigger: submit an Argo Workflow, or act on an existing one.

Argo Events runs the ``argo`` CLI for these operations. Herald needs no CLI:
:class:`ArgoWorkflowTriggerRunner` does through the Kubernetes API
(``argoproj.io/v1alpha1``, shared plumbing in :mod:`triggers.kube`) what the
argo CLI and server do for each operation:

- **submit**: create the Workflow given by ``source`` (kind ``Workflow``, with
  ``metadata.name`` or ``generateName``), with the labels Argo Events adds
  (``events.argoproj.io/sensor``, ``…/trigger``, ``…/action-timestamp``);
- **submit-from**: ``source`` names a ``WorkflowTemplate``,
  ``ClusterWorkflowTemplate`` or ``CronWorkflow`` (kind and ``metadata.name``);
  as ``argo submit --from``, the template is read, then a Workflow is created
  that references it (``spec.workflowTemplateRef``, label
  ``workflows.argoproj.io/workflow-template``), or that carries the
  CronWorkflow's ``workflowSpec`` (label ``workflows.argoproj.io/cron-workflow``,
  owned by the CronWorkflow); ``workflowMetadata`` labels and annotations are
  copied. Herald labels these Workflows as it does for submit (Argo does not);
- **resubmit**: a new Workflow with the old one's spec, labels and annotations
  (not its creator/phase/completed labels), ``generateName`` of the old name
  and the label ``workflows.argoproj.io/resubmitted-from-workflow``, as
  ``argo resubmit`` without ``--memoized``;
- **retry** (a subset of ``argo retry``): only a Failed or Error Workflow;
  its failed pod-level nodes are removed (and their pods deleted), failed
  DAG/steps nodes set back to Running, the phase set to Running and the
  ``completed`` label to ``false``; the workflow controller then runs the
  removed steps again. Not supported: ``--restart-successful``,
  ``--node-field-selector``, offloaded node status, archived workflows;
- **resume**: clear ``spec.suspend`` and mark running suspend nodes
  Succeeded, giving their supplied output parameters their default values,
  as ``argo resume`` does;
- **suspend**: set ``spec.suspend: true`` (not on a completed Workflow);
- **terminate** / **stop**: merge-patch ``spec.shutdown`` to ``Terminate`` /
  ``Stop``.

Operations other than submit and submit-from read ``metadata.name`` (and
``namespace``) of ``source`` as the Workflow to act on. Read-modify-write
operations retry a 409 conflict from a fresh read, a few times, as the argo
server does.

``args`` takes the ``argo submit`` flags that map onto the Workflow object:
``-p/--parameter name=value``, ``--serviceaccount``, ``--entrypoint``,
``--generate-name`` and ``-l/--labels k=v,…``, for the operations that create
a Workflow (submit, submit-from, resubmit). Any other flag, a flag without its
value, or args on another operation is a :class:`~herald.core.errors.ConfigError`
when the trigger is built, so ``herald run`` refuses it before starting.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

from pydantic import Field, field_validator

from bus.event import Event
from herald.core.errors import ConfigError, PermanentTriggerError
from herald.core.model import Spec
from triggers.artifacts import ArtifactLocation, check_supported, load_object
from triggers.base import TriggerContext
from triggers.kube import (
    ApiResource,
    ConflictError,
    KubeClient,
    LabelPolicy,
    await_labels,
    trigger_labels,
)
from triggers.params import TriggerParameter, apply_parameters

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
        default=None,
        description="argo submit flags that map onto the Workflow: -p/--parameter name=value, "
        "--serviceaccount, --entrypoint, --generate-name, -l/--labels k=v,...",
    )

    @field_validator("operation")
    @classmethod
    def _empty_is_submit(cls, value: WorkflowOperation) -> WorkflowOperation:
        return value or "submit"


# ---------------------------------------------------------------------------- args

_CREATING = frozenset({"submit", "submit-from", "resubmit"})
_FLAGS = {
    "-p": "parameter",
    "--parameter": "parameter",
    "--serviceaccount": "service_account",
    "--entrypoint": "entrypoint",
    "--generate-name": "generate_name",
    "-l": "labels",
    "--labels": "labels",
}


@dataclass(frozen=True, slots=True)
class SubmitOptions:
    """What ``args`` asks of a Workflow being created, as ``argo submit`` applies it."""

    parameters: tuple[tuple[str, str], ...] = ()
    service_account: str | None = None
    entrypoint: str | None = None
    generate_name: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def apply(self, workflow: dict[str, Any]) -> None:
        """Write the options into ``workflow`` (in place)."""
        spec = workflow.setdefault("spec", {})
        meta = workflow.setdefault("metadata", {})
        if self.entrypoint:
            spec["entrypoint"] = self.entrypoint
        if self.service_account:
            spec["serviceAccountName"] = self.service_account
        if self.generate_name:
            meta["generateName"] = self.generate_name
        if self.labels:
            meta.setdefault("labels", {}).update(self.labels)
        if self.parameters:
            set_parameters(workflow, self.parameters)


def parse_args(args: list[str] | None, operation: str) -> SubmitOptions:
    """The options in ``args``; ConfigError (path ``argoWorkflow.args[i]``) for anything else."""
    if not args:
        return SubmitOptions()
    if operation not in _CREATING:
        raise ConfigError(
            f"args apply to the operations that create a Workflow (submit, submit-from, "
            f"resubmit), not to {operation!r}: remove them",
            path="argoWorkflow.args",
        )
    values: dict[str, Any] = {"parameter": [], "labels": {}}
    i = 0
    while i < len(args):
        arg, where = args[i], f"argoWorkflow.args[{i}]"
        flag, has_value, value = arg.partition("=")
        if flag not in _FLAGS:
            supported = (
                "-p/--parameter, --serviceaccount, --entrypoint, --generate-name, -l/--labels"
            )
            raise ConfigError(
                f"{arg!r} is not supported: Herald applies only the argo submit flags that map "
                f"onto the Workflow ({supported})",
                path=where,
            )
        if not has_value:
            if i + 1 >= len(args):
                raise ConfigError(f"{flag} needs a value", path=where)
            i += 1
            value = args[i]
        name = _FLAGS[flag]
        if name == "parameter":
            key, eq, text = value.partition("=")
            if not eq or not key:
                raise ConfigError(f"{flag} takes name=value, not {value!r}", path=where)
            values["parameter"].append((key, text))
        elif name == "labels":
            for pair in filter(None, value.split(",")):
                key, eq, text = pair.partition("=")
                if not eq or not key:
                    raise ConfigError(f"{flag} takes k=v[,k=v...], not {value!r}", path=where)
                values["labels"][key] = text
        else:
            if not value:
                raise ConfigError(f"{flag} needs a non-empty value", path=where)
            values[name] = value
        i += 1
    return SubmitOptions(
        parameters=tuple(values["parameter"]),
        service_account=values.get("service_account"),
        entrypoint=values.get("entrypoint"),
        generate_name=values.get("generate_name"),
        labels=values["labels"],
    )


def set_parameters(workflow: dict[str, Any], parameters: tuple[tuple[str, str], ...]) -> None:
    """Override (or add) ``spec.arguments.parameters`` by name, as ``argo submit -p``."""
    arguments = workflow.setdefault("spec", {}).setdefault("arguments", {})
    existing: list[dict[str, Any]] = arguments.setdefault("parameters", [])
    for name, value in parameters:
        for param in existing:
            if param.get("name") == name:
                param["value"] = value
                param.pop("valueFrom", None)
                break
        else:
            existing.append({"name": name, "value": value})


# ---------------------------------------------------------------------------- runner

API_VERSION = "argoproj.io/v1alpha1"
WORKFLOW_TEMPLATE_LABEL = "workflows.argoproj.io/workflow-template"
CLUSTER_WORKFLOW_TEMPLATE_LABEL = "workflows.argoproj.io/cluster-workflow-template"
CRON_WORKFLOW_LABEL = "workflows.argoproj.io/cron-workflow"
RESUBMITTED_FROM_LABEL = "workflows.argoproj.io/resubmitted-from-workflow"
COMPLETED_LABEL = "workflows.argoproj.io/completed"
PHASE_LABEL = "workflows.argoproj.io/phase"
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
NODE_ID_ANNOTATION = "workflows.argoproj.io/node-id"
SCHEDULED_TIME_ANNOTATION = "workflows.argoproj.io/scheduled-time"

_NOT_CARRIED_ON_RESUBMIT = frozenset(
    {
        "workflows.argoproj.io/creator",
        "workflows.argoproj.io/creator-email",
        "workflows.argoproj.io/creator-preferred-username",
        PHASE_LABEL,
        COMPLETED_LABEL,
        "workflows.argoproj.io/workflow-archiving-status",
    }
)
_FINISHED_PHASES = frozenset({"Succeeded", "Failed", "Error"})
_FAILED_PHASES = frozenset({"Failed", "Error"})
_CONTAINER_NODES = frozenset({"DAG", "Steps", "StepGroup", "TaskGroup"})
_TEMPLATE_KINDS = {
    "workflowtemplate": ("WorkflowTemplate", WORKFLOW_TEMPLATE_LABEL, False),
    "clusterworkflowtemplate": ("ClusterWorkflowTemplate", CLUSTER_WORKFLOW_TEMPLATE_LABEL, True),
}
_CONFLICT_ATTEMPTS = 5

_Acted = tuple[str, dict[str, Any]]
"""An operation's outcome text, and the Workflow acted on or created."""
_Operation = Callable[[dict[str, Any], str, SubmitOptions], Awaitable[_Acted]]


class ArgoWorkflowTriggerRunner:
    """Submits or manages one Argo Workflow per firing through the Kubernetes API."""

    def __init__(self, spec: ArgoWorkflowTrigger, context: TriggerContext) -> None:
        check_supported(spec.source, "argoWorkflow.source")
        self._args = list(spec.args or ())
        self._options = parse_args(spec.args, spec.operation)
        self._context = context
        self._policy = cast("LabelPolicy | None", context.k8s_policy)
        self._client = KubeClient(kubeconfig=context.kubeconfig, namespace=context.namespace)
        self._operations: dict[str, _Operation] = {
            "submit": self._submit,
            "submit-from": self._submit_from,
            "resubmit": self._resubmit,
            "retry": self._retry,
            "resume": self._resume,
            "suspend": self._suspend,
            "terminate": self._terminate,
            "stop": self._stop,
        }

    async def fire(self, spec: ArgoWorkflowTrigger, events: Mapping[str, Event]) -> str:
        """Run the operation for ``events``; return e.g. ``submitted Workflow argo/ci-x7k2p``."""
        options = self._options
        if list(spec.args or ()) != self._args:
            try:
                options = parse_args(spec.args, spec.operation)
            except ConfigError as e:
                raise PermanentTriggerError(str(e)) from e
        context = self._context
        obj = await load_object(
            spec.source, context.secrets, context.http, where="argoWorkflow.source"
        )
        if spec.parameters:
            obj = apply_parameters(obj, spec.parameters, events)
            if not isinstance(obj, dict):
                raise PermanentTriggerError(
                    "argoWorkflow.parameters replaced the object with a non-object"
                )
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise PermanentTriggerError("argoWorkflow.source: metadata is not an object")
        namespace = str(meta.get("namespace") or await self._client.default_namespace())
        outcome, workflow = await self._operations[spec.operation](obj, namespace, options)
        if self._policy is not None:
            workflows = await self._workflows()
            name = str((workflow.get("metadata") or {}).get("name", ""))
            result = await await_labels(self._client, workflows, name, namespace, self._policy)
            outcome = f"{outcome}; {result}"
        return outcome

    async def close(self) -> None:
        """Close the API connection."""
        await self._client.close()

    # ------------------------------------------------------------------ helpers

    async def _workflows(self) -> ApiResource:
        return await self._client.resource(API_VERSION, "Workflow")

    def _labelled(self, workflow: dict[str, Any], options: SubmitOptions) -> dict[str, Any]:
        """``workflow`` with the submit options and Argo Events' labels applied."""
        options.apply(workflow)
        meta = workflow.setdefault("metadata", {})
        meta.setdefault("labels", {}).update(
            trigger_labels(self._context.sensor, self._context.trigger)
        )
        return workflow

    async def _create(self, workflow: dict[str, Any], namespace: str) -> dict[str, Any]:
        workflow.setdefault("metadata", {})["namespace"] = namespace
        return await self._client.create(await self._workflows(), workflow, namespace)

    def _existing(self, obj: dict[str, Any], operation: str) -> str:
        kind = obj.get("kind")
        if kind not in (None, "Workflow"):
            raise PermanentTriggerError(
                f"argoWorkflow.source: {operation} acts on a Workflow, not a {kind}"
            )
        name = obj["metadata"].get("name")
        if not isinstance(name, str) or not name:
            raise PermanentTriggerError(
                f"argoWorkflow.source: {operation} needs metadata.name of the Workflow"
            )
        return name

    async def _read(self, name: str, namespace: str, operation: str) -> dict[str, Any]:
        workflow = await self._client.get(await self._workflows(), name, namespace)
        if workflow is None:
            raise PermanentTriggerError(f"{operation}: Workflow {namespace}/{name} does not exist")
        return workflow

    async def _read_modify_write(
        self,
        name: str,
        namespace: str,
        operation: str,
        change: Callable[[dict[str, Any]], Awaitable[bool]],
    ) -> tuple[dict[str, Any], bool]:
        """Read, change and write back the Workflow, again from a fresh read on 409."""
        workflows = await self._workflows()
        for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
            workflow = await self._read(name, namespace, operation)
            if not await change(workflow):
                return workflow, False
            try:
                return await self._client.replace(workflows, workflow, name, namespace), True
            except ConflictError:
                if attempt == _CONFLICT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ operations

    async def _submit(self, obj: dict[str, Any], namespace: str, options: SubmitOptions) -> _Acted:
        if obj.get("kind") != "Workflow":
            raise PermanentTriggerError(
                f"argoWorkflow.source: submit needs a Workflow, not {obj.get('kind')!r} "
                "(use operation submit-from for templates)"
            )
        meta = obj["metadata"]
        if not meta.get("name") and not meta.get("generateName"):
            raise PermanentTriggerError(
                "argoWorkflow.source: the Workflow needs metadata.name or metadata.generateName"
            )
        created = await self._create(self._labelled(obj, options), namespace)
        return f"submitted Workflow {_where(created, namespace)}", created

    async def _submit_from(
        self, obj: dict[str, Any], namespace: str, options: SubmitOptions
    ) -> _Acted:
        kind = str(obj.get("kind") or "")
        name = obj["metadata"].get("name")
        if not isinstance(name, str) or not name:
            raise PermanentTriggerError(
                f"argoWorkflow.source: submit-from needs metadata.name of the {kind or 'template'}"
            )
        if kind.lower() == "cronworkflow":
            workflow = await self._from_cron_workflow(name, namespace)
        elif kind.lower() in _TEMPLATE_KINDS:
            workflow = await self._from_template(kind.lower(), name, namespace)
        else:
            raise PermanentTriggerError(
                f"argoWorkflow.source: submit-from takes a WorkflowTemplate, "
                f"ClusterWorkflowTemplate or CronWorkflow, not {kind or 'an object without kind'!r}"
            )
        created = await self._create(self._labelled(workflow, options), namespace)
        return f"submitted Workflow {_where(created, namespace)} from {kind} {name}", created

    async def _from_template(self, kind_key: str, name: str, namespace: str) -> dict[str, Any]:
        kind, label, cluster = _TEMPLATE_KINDS[kind_key]
        resource = await self._client.resource(API_VERSION, kind)
        template = await self._client.get(resource, name, None if cluster else namespace)
        if template is None:
            where = name if cluster else f"{namespace}/{name}"
            raise PermanentTriggerError(f"submit-from: {kind} {where} does not exist")
        reference: dict[str, Any] = {"name": name}
        if cluster:
            reference["clusterScope"] = True
        workflow: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Workflow",
            "metadata": {"generateName": f"{name}-", "labels": {label: name}},
            "spec": {"workflowTemplateRef": reference},
        }
        _copy_workflow_metadata(template, workflow)
        return workflow

    async def _from_cron_workflow(self, name: str, namespace: str) -> dict[str, Any]:
        resource = await self._client.resource(API_VERSION, "CronWorkflow")
        cron = await self._client.get(resource, name, namespace)
        if cron is None:
            raise PermanentTriggerError(
                f"submit-from: CronWorkflow {namespace}/{name} does not exist"
            )
        cron_meta = cron.get("metadata") or {}
        workflow: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Workflow",
            "metadata": {
                "generateName": f"{name}-",
                "labels": {CRON_WORKFLOW_LABEL: name},
                "annotations": {
                    SCHEDULED_TIME_ANNOTATION: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                },
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": "CronWorkflow",
                        "name": name,
                        "uid": cron_meta.get("uid", ""),
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": copy.deepcopy((cron.get("spec") or {}).get("workflowSpec") or {}),
        }
        _copy_workflow_metadata(cron, workflow)
        return workflow

    async def _resubmit(
        self, obj: dict[str, Any], namespace: str, options: SubmitOptions
    ) -> _Acted:
        name = self._existing(obj, "resubmit")
        old = await self._read(name, namespace, "resubmit")
        old_meta = old.get("metadata") or {}
        labels = {
            key: value
            for key, value in (old_meta.get("labels") or {}).items()
            if key not in _NOT_CARRIED_ON_RESUBMIT
        }
        labels[RESUBMITTED_FROM_LABEL] = name
        meta: dict[str, Any] = {
            "generateName": old_meta.get("generateName") or f"{name}-",
            "labels": labels,
        }
        if old_meta.get("annotations"):
            meta["annotations"] = dict(old_meta["annotations"])
        if old_meta.get("ownerReferences"):
            meta["ownerReferences"] = list(old_meta["ownerReferences"])
        spec = copy.deepcopy(old.get("spec") or {})
        spec.pop("shutdown", None)
        if spec.get("activeDeadlineSeconds") == 0:
            spec.pop("activeDeadlineSeconds")
        workflow = {
            "apiVersion": old.get("apiVersion", API_VERSION),
            "kind": "Workflow",
            "metadata": meta,
            "spec": spec,
        }
        created = await self._create(self._labelled(workflow, options), namespace)
        return f"resubmitted Workflow {namespace}/{name} as {_name_of(created)}", created

    async def _retry(self, obj: dict[str, Any], namespace: str, options: SubmitOptions) -> _Acted:
        name = self._existing(obj, "retry")
        removed: set[str] = set()

        async def change(workflow: dict[str, Any]) -> bool:
            removed.clear()
            removed.update(_formulate_retry(workflow, namespace, name))
            return True

        workflow, _ = await self._read_modify_write(name, namespace, "retry", change)
        deleted = await self._delete_pods(name, namespace, removed) if removed else 0
        return (
            f"retried Workflow {namespace}/{name} ({len(removed)} failed node(s) reset, "
            f"{deleted} pod(s) deleted)",
            workflow,
        )

    async def _delete_pods(self, workflow: str, namespace: str, nodes: set[str]) -> int:
        pods = await self._client.resource("v1", "Pod")
        deleted = 0
        for pod in await self._client.list(pods, namespace, f"{WORKFLOW_LABEL}={workflow}"):
            meta = pod.get("metadata") or {}
            if (meta.get("annotations") or {}).get(NODE_ID_ANNOTATION) in nodes and (
                await self._client.delete(pods, str(meta.get("name")), namespace)
            ):
                deleted += 1
        return deleted

    async def _resume(self, obj: dict[str, Any], namespace: str, options: SubmitOptions) -> _Acted:
        name = self._existing(obj, "resume")

        async def change(workflow: dict[str, Any]) -> bool:
            return _formulate_resume(workflow, namespace, name)

        workflow, changed = await self._read_modify_write(name, namespace, "resume", change)
        what = "resumed" if changed else "nothing to resume in"
        return f"{what} Workflow {namespace}/{name}", workflow

    async def _suspend(self, obj: dict[str, Any], namespace: str, options: SubmitOptions) -> _Acted:
        name = self._existing(obj, "suspend")

        async def change(workflow: dict[str, Any]) -> bool:
            if _completed(workflow):
                raise PermanentTriggerError(
                    f"suspend: Workflow {namespace}/{name} has completed; it cannot be suspended"
                )
            spec = workflow.setdefault("spec", {})
            if spec.get("suspend") is True:
                return False
            spec["suspend"] = True
            return True

        workflow, changed = await self._read_modify_write(name, namespace, "suspend", change)
        what = "suspended" if changed else "already suspended:"
        return f"{what} Workflow {namespace}/{name}", workflow

    async def _terminate(
        self, obj: dict[str, Any], namespace: str, options: SubmitOptions
    ) -> _Acted:
        return await self._shutdown(obj, namespace, "terminate", "Terminate")

    async def _stop(self, obj: dict[str, Any], namespace: str, options: SubmitOptions) -> _Acted:
        return await self._shutdown(obj, namespace, "stop", "Stop")

    async def _shutdown(
        self, obj: dict[str, Any], namespace: str, operation: str, strategy: str
    ) -> _Acted:
        name = self._existing(obj, operation)
        patched = await self._client.patch(
            await self._workflows(),
            name,
            namespace,
            {"spec": {"shutdown": strategy}},
            "application/merge-patch+json",
            not_found_ok=True,
        )
        if patched is None:
            raise PermanentTriggerError(f"{operation}: Workflow {namespace}/{name} does not exist")
        return f"{operation}: Workflow {namespace}/{name} shutdown={strategy}", patched


def _where(obj: Mapping[str, Any], namespace: str) -> str:
    return f"{namespace}/{_name_of(obj)}"


def _name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def _completed(workflow: Mapping[str, Any]) -> bool:
    labels = (workflow.get("metadata") or {}).get("labels") or {}
    phase = (workflow.get("status") or {}).get("phase")
    return labels.get(COMPLETED_LABEL) == "true" or phase in _FINISHED_PHASES


def _copy_workflow_metadata(template: Mapping[str, Any], workflow: dict[str, Any]) -> None:
    """Copy the template's ``spec.workflowMetadata`` labels and annotations onto ``workflow``."""
    extra = (template.get("spec") or {}).get("workflowMetadata") or {}
    meta = workflow["metadata"]
    for key in ("labels", "annotations"):
        if extra.get(key):
            meta.setdefault(key, {}).update(extra[key])


def _formulate_retry(workflow: dict[str, Any], namespace: str, name: str) -> set[str]:
    """Reset a failed Workflow for the controller to run its failed steps again.

    Returns the ids of the removed (pod-level) nodes, whose pods must go.
    """
    status = workflow.setdefault("status", {})
    phase = status.get("phase")
    if phase not in _FAILED_PHASES:
        raise PermanentTriggerError(
            f"retry: Workflow {namespace}/{name} is {phase or 'not started'}; only a Failed or "
            "Error workflow can be retried"
        )
    if status.get("offloadNodeStatusVersion"):
        raise PermanentTriggerError(
            f"retry: Workflow {namespace}/{name} has its node status offloaded, which Herald "
            "cannot retry; use argo retry"
        )
    meta = workflow.setdefault("metadata", {})
    labels = meta.setdefault("labels", {})
    labels[COMPLETED_LABEL] = "false"
    labels[PHASE_LABEL] = "Running"
    labels.pop("workflows.argoproj.io/workflow-archiving-status", None)
    spec = workflow.setdefault("spec", {})
    spec.pop("shutdown", None)
    if spec.get("activeDeadlineSeconds") == 0:
        spec.pop("activeDeadlineSeconds")
    status["phase"] = "Running"
    status.pop("message", None)
    status.pop("finishedAt", None)
    nodes: dict[str, Any] = status.get("nodes") or {}
    removed: set[str] = set()
    for node_id, node in list(nodes.items()):
        if node.get("phase") not in _FAILED_PHASES:
            continue
        if node.get("type") in _CONTAINER_NODES or node_id == name:
            node["phase"] = "Running"
            node.pop("finishedAt", None)
            node.pop("message", None)
        else:
            removed.add(node_id)
            del nodes[node_id]
    for node in nodes.values():
        children = node.get("children")
        if children:
            node["children"] = [child for child in children if child not in removed]
    return removed


def _formulate_resume(workflow: dict[str, Any], namespace: str, name: str) -> bool:
    """Clear ``spec.suspend`` and complete active suspend nodes; whether anything changed."""
    changed = False
    spec = workflow.setdefault("spec", {})
    if spec.get("suspend"):
        del spec["suspend"]
        changed = True
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    nodes: dict[str, Any] = (workflow.get("status") or {}).get("nodes") or {}
    for node in nodes.values():
        if node.get("type") != "Suspend" or node.get("phase") != "Running":
            continue
        for param in (node.get("outputs") or {}).get("parameters") or []:
            value_from = param.get("valueFrom") or {}
            if "supplied" in value_from:
                if "default" not in value_from:
                    raise PermanentTriggerError(
                        f"resume: Workflow {namespace}/{name}: output parameter "
                        f"{param.get('name')!r} has no value and no default"
                    )
                param["value"] = value_from["default"]
                param.pop("valueFrom")
        node["phase"] = "Succeeded"
        node["finishedAt"] = now
        changed = True
    return changed
