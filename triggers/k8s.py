"""The ``k8s`` trigger: create, update, patch or delete any Kubernetes object.

This is also how Argo Rollouts (and any custom resource) are triggered. The
object comes from an :class:`~triggers.artifacts.ArtifactLocation` and stays
opaque; ``parameters`` write event values into it before the operation.

:class:`K8sTriggerRunner` is the adapter (the http trigger is its template).
Per firing, in Argo's order: read the source, apply ``k8s.parameters`` to it
(to the live object with ``liveObject``), act, then check ``policy.k8s``.
The operations keep Argo's semantics:

- **create** adds the labels ``events.argoproj.io/sensor``, ``…/trigger`` and
  ``…/action-timestamp`` (Argo's names, so selectors keep working); an object
  that already exists is a permanent error;
- **update** reads the object and merges the source into it (objects merge
  key by key, anything else is replaced), then writes it back guarded by its
  ``resourceVersion`` (a conflict is retried); with ``liveObject`` the live
  object, changed by the parameters, is written back as it is;
- **patch** sends the object with ``patchStrategy`` (merge patch by default,
  strategic merge, or server-side apply with field manager ``herald``, forcing
  ownership of the fields it sets);
- update and patch **create the object when it is absent** (with the labels);
- **delete** of an absent object is a success that says so.

Where Herald differs from Argo, and why:

- Argo's update merges like ``mergo``: a ``0``, ``false`` or ``""`` in the
  source cannot overwrite a value; here every value the source gives wins.
- A JSON patch (``application/json-patch+json``) cannot be the object itself
  (Argo sends the object and the API server rejects it: argo-events #3032).
  Here the source names the target with ``apiVersion``, ``kind`` and
  ``metadata``, and carries the RFC 6902 operations in a top-level ``patch``
  list; an absent target is an error (a patch cannot create it).
- Argo labels only objects made by ``create``; Herald also labels what update
  and patch create. Server-side apply adds no labels (it cannot tell a create
  from an update).
- The plural and the scope of a kind come from API discovery, and objects that
  name no namespace go to the trigger context's namespace (the kubeconfig
  context's, the pod's, else ``default``); ``liveObject`` uses it too, where
  Argo requires the namespace in the source.
- ``policy.k8s`` with ``delete`` is refused when the trigger is built (Argo
  fails every such firing); waiting for labels that never come fails the
  trigger only with ``errorOnBackoffTimeout``, and then permanently, since a
  retry would act again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, cast

from pydantic import Field, field_validator, model_validator

from bus.event import Event
from herald.core.errors import ConfigError, PermanentTriggerError
from herald.core.model import Spec
from triggers.artifacts import ArtifactLocation, check_supported, load_object
from triggers.base import TriggerContext
from triggers.kube import (
    ApiResource,
    KubeClient,
    LabelPolicy,
    await_labels,
    object_identity,
    trigger_labels,
)
from triggers.params import TriggerParameter, apply_parameters

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


# ---------------------------------------------------------------------------- runner

JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

_Acted = tuple[str, dict[str, Any] | None]
"""An operation's outcome text, and the object acted on (None when deleted)."""


class K8sTriggerRunner:
    """Acts on one Kubernetes object per firing through the API server.

    The API connection (:class:`~triggers.kube.KubeClient`) is opened at the
    first firing and closed by :meth:`close`. ``context.k8s_policy`` is the
    trigger's ``policy.k8s``; ``context.kubeconfig`` and ``context.namespace``
    choose the cluster and the default namespace.
    """

    def __init__(self, spec: StandardK8STrigger, context: TriggerContext) -> None:
        check_supported(spec.source, "k8s.source")
        policy = cast("LabelPolicy | None", context.k8s_policy)
        if policy is not None and spec.operation == "delete":
            raise ConfigError(
                "policy.k8s waits for labels on the object acted on, and a deleted object "
                "has none: remove policy.k8s or use another operation",
                path="policy.k8s",
            )
        self._context = context
        self._policy = policy
        self._client = KubeClient(kubeconfig=context.kubeconfig, namespace=context.namespace)
        self._operations: dict[str, _Operation] = {
            "create": self._create,
            "update": self._update,
            "patch": self._patch,
            "delete": self._delete,
        }

    async def fire(self, spec: StandardK8STrigger, events: Mapping[str, Event]) -> str:
        """Act on the object for ``events``; return e.g. ``created Rollout default/app``."""
        context = self._context
        obj = await load_object(spec.source, context.secrets, context.http, where="k8s.source")
        if spec.live_object:
            obj = await self._live(obj)
        if spec.parameters:
            obj = apply_parameters(obj, spec.parameters, events)
            if not isinstance(obj, dict):
                raise PermanentTriggerError("k8s.parameters replaced the object with a non-object")
        api_version, kind = object_identity(obj, "k8s.source")
        resource = await self._client.resource(api_version, kind)
        namespace = await self._namespace(resource, obj)
        outcome, acted = await self._operations[spec.operation](spec, resource, obj, namespace)
        if self._policy is not None and acted is not None:
            name = str((acted.get("metadata") or {}).get("name", ""))
            result = await await_labels(self._client, resource, name, namespace, self._policy)
            outcome = f"{outcome}; {result}"
        return outcome

    async def close(self) -> None:
        """Close the API connection."""
        await self._client.close()

    # ------------------------------------------------------------------ steps

    async def _live(self, source: dict[str, Any]) -> dict[str, Any]:
        api_version, kind = object_identity(source, "k8s.source")
        resource = await self._client.resource(api_version, kind)
        namespace = await self._namespace(resource, source)
        name = _name(source, "update with liveObject")
        live = await self._client.get(resource, name, namespace)
        if live is None:
            raise PermanentTriggerError(
                f"liveObject: {resource.describe(namespace, name)} does not exist"
            )
        return live

    async def _namespace(self, resource: ApiResource, obj: dict[str, Any]) -> str | None:
        """Set and return the object's namespace (None for cluster-scoped kinds)."""
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise PermanentTriggerError("k8s.source: metadata is not an object")
        if not resource.namespaced:
            meta.pop("namespace", None)
            return None
        namespace = meta.get("namespace") or await self._client.default_namespace()
        meta["namespace"] = namespace
        return str(namespace)

    async def _create_labelled(
        self, resource: ApiResource, obj: dict[str, Any], namespace: str | None
    ) -> dict[str, Any]:
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        labels.update(trigger_labels(self._context.sensor, self._context.trigger))
        meta["labels"] = labels
        return await self._client.create(resource, obj, namespace)

    async def _create(
        self,
        spec: StandardK8STrigger,
        resource: ApiResource,
        obj: dict[str, Any],
        namespace: str | None,
    ) -> _Acted:
        meta = obj["metadata"]
        if not meta.get("name") and not meta.get("generateName"):
            raise PermanentTriggerError(
                "k8s.source: the object needs metadata.name or metadata.generateName to be created"
            )
        created = await self._create_labelled(resource, obj, namespace)
        return f"created {_describe(resource, created, namespace)}", created

    async def _update(
        self,
        spec: StandardK8STrigger,
        resource: ApiResource,
        obj: dict[str, Any],
        namespace: str | None,
    ) -> _Acted:
        name = _name(obj, "update")
        if spec.live_object:
            updated = await self._client.replace(resource, obj, name, namespace)
            return f"updated {_describe(resource, updated, namespace)} (live object)", updated
        current = await self._client.get(resource, name, namespace)
        if current is None:
            created = await self._create_labelled(resource, obj, namespace)
            return f"created {_describe(resource, created, namespace)} (update: absent)", created
        updated = await self._client.replace(resource, merge(current, obj), name, namespace)
        return f"updated {_describe(resource, updated, namespace)}", updated

    async def _patch(
        self,
        spec: StandardK8STrigger,
        resource: ApiResource,
        obj: dict[str, Any],
        namespace: str | None,
    ) -> _Acted:
        name = _name(obj, "patch")
        strategy = spec.patch_strategy
        body: Any = _json_patch_operations(obj) if strategy == JSON_PATCH else obj
        patched = await self._client.patch(
            resource, name, namespace, body, strategy, not_found_ok=strategy != APPLY_PATCH
        )
        if patched is not None:
            return f"patched {_describe(resource, patched, namespace)} ({strategy})", patched
        if strategy == JSON_PATCH:
            raise PermanentTriggerError(
                f"patch: {resource.describe(namespace, name)} does not exist, and a JSON patch "
                "cannot create it"
            )
        created = await self._create_labelled(resource, obj, namespace)
        return f"created {_describe(resource, created, namespace)} (patch: absent)", created

    async def _delete(
        self,
        spec: StandardK8STrigger,
        resource: ApiResource,
        obj: dict[str, Any],
        namespace: str | None,
    ) -> _Acted:
        name = _name(obj, "delete")
        where = resource.describe(namespace, name)
        if await self._client.delete(resource, name, namespace):
            return f"deleted {where}", None
        return f"nothing to delete: {where} does not exist", None


_Operation = Callable[
    [StandardK8STrigger, ApiResource, dict[str, Any], str | None], Awaitable[_Acted]
]


def merge(current: Any, change: Any) -> Any:
    """``change`` merged into ``current``: objects merge key by key, the rest is replaced.

    A ``None`` (JSON null) in ``change`` leaves the current value; lists are
    replaced whole, as Argo's merge does.
    """
    if isinstance(current, dict) and isinstance(change, dict):
        merged = dict(current)
        for key, value in change.items():
            if value is not None:
                merged[key] = merge(current.get(key), value)
        return merged
    return change if change is not None else current


def _name(obj: Mapping[str, Any], operation: str) -> str:
    name = (obj.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise PermanentTriggerError(f"k8s.source: {operation} needs metadata.name in the object")
    return name


def _describe(resource: ApiResource, obj: Mapping[str, Any], namespace: str | None) -> str:
    name = (obj.get("metadata") or {}).get("name")
    return resource.describe(namespace, str(name) if name else None)


def _json_patch_operations(obj: Mapping[str, Any]) -> list[Any]:
    """The RFC 6902 operations carried by a JSON-patch source (see the module docstring)."""
    operations = obj.get("patch")
    extra = sorted(set(obj) - {"apiVersion", "kind", "metadata", "patch"})
    if not isinstance(operations, list) or extra:
        unexpected = f"; unexpected fields: {', '.join(extra)}" if extra else ""
        raise PermanentTriggerError(
            "k8s.source: with patchStrategy application/json-patch+json the object holds "
            "apiVersion, kind, metadata (name, namespace) and 'patch', a list of RFC 6902 "
            f"operations{unexpected}"
        )
    return operations
