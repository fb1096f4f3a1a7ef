"""A Kubernetes API server for trigger tests: kmock's emulator, made to answer like Kubernetes.

kmock's :class:`~kmock.KubernetesEmulator` keeps objects in memory and serves
discovery, list, get, create and delete over real HTTP. Where it answers
differently from a real API server in ways the official client notices, the
subclass :class:`KubeAPI` answers as Kubernetes does:

- create answers **201** (kmock: 200, and the official client then returns
  nothing for a created custom object), fills ``metadata.name`` from
  ``generateName``, and sets ``uid``, ``resourceVersion`` and
  ``creationTimestamp``; creating an existing object is 409 ``AlreadyExists``;
- ``PUT`` replaces the object (kmock has no PUT), with optimistic concurrency
  on ``metadata.resourceVersion`` (409 ``Conflict``);
- ``PATCH`` honours the content type: JSON merge patch (RFC 7386), JSON patch
  (RFC 6902), strategic merge patch (merge patch where lists of objects with a
  ``name`` merge by name, as for containers) and server-side apply (the applied
  YAML/JSON merged in; it creates a missing object and requires
  ``fieldManager``, as Kubernetes does);
- missing objects are 404 ``NotFound``.

The client reaches it through a kubeconfig file written by the fixture, so the
code under test loads its configuration exactly as it would for a cluster.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import random
import uuid
from collections.abc import AsyncIterator, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp.web
import jsonpatch
import kmock
import pytest
import yaml
from kmock import KubernetesEmulator, KubernetesError, Server
from kmock._internal.rendering import Response  # kmock exports it, but not in __all__

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"

RESOURCES: dict[str, dict[str, Any]] = {
    "v1/configmaps": {"kind": "ConfigMap", "singular": "configmap", "namespaced": True},
    "v1/pods": {"kind": "Pod", "singular": "pod", "namespaced": True},
    "apps/v1/deployments": {"kind": "Deployment", "singular": "deployment", "namespaced": True},
    "argoproj.io/v1alpha1/workflows": {
        "kind": "Workflow",
        "singular": "workflow",
        "namespaced": True,
    },
    "argoproj.io/v1alpha1/workflowtemplates": {
        "kind": "WorkflowTemplate",
        "singular": "workflowtemplate",
        "namespaced": True,
    },
    "argoproj.io/v1alpha1/clusterworkflowtemplates": {
        "kind": "ClusterWorkflowTemplate",
        "singular": "clusterworkflowtemplate",
        "namespaced": False,
    },
    "argoproj.io/v1alpha1/cronworkflows": {
        "kind": "CronWorkflow",
        "singular": "cronworkflow",
        "namespaced": True,
    },
    "argoproj.io/v1alpha1/rollouts": {
        "kind": "Rollout",
        "singular": "rollout",
        "namespaced": True,
    },
}
"""The resources the test server serves (discovery), by ``group/version/plural``."""

_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _status_error(code: int, reason: str, message: str) -> KubernetesError:
    return KubernetesError(status=code, reason=reason, message=message, details={})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Merge patch, except that lists of objects with a ``name`` merge element by name."""
    if isinstance(patch, list) and isinstance(target, list):
        if all(isinstance(p, dict) and "name" in p for p in patch) and all(
            isinstance(t, dict) and "name" in t for t in target
        ):
            merged = [copy.deepcopy(t) for t in target]
            index = {t["name"]: i for i, t in enumerate(merged)}
            for item in patch:
                if item["name"] in index:
                    i = index[item["name"]]
                    merged[i] = strategic_merge_patch(merged[i], item)
                else:
                    merged.append(copy.deepcopy(item))
            return merged
        return copy.deepcopy(patch)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


class KubeAPI(KubernetesEmulator):
    """kmock's Kubernetes emulator, answering create, replace and patch as Kubernetes does."""

    _versions = itertools.count(1)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._faults: list[tuple[str, int, str, str, int | None]] = []
        self._served = asyncio.Condition()
        self.on_create: Callable[[dict[str, Any]], None] | None = None
        """Called with each object about to be stored by a create (plays a controller)."""

    @property
    def requests(self) -> list[kmock.Request]:
        """Every request served so far, oldest first."""
        return list(self)

    async def wait_for_requests(self, method: str, count: int) -> None:
        """Return once ``count`` requests with ``method`` have been served (no polling)."""

        def enough() -> bool:
            return sum(1 for r in self.requests if r.method.value == method) >= count

        async with self._served:
            await self._served.wait_for(enough)

    def fail(
        self, method: str, status: int, reason: str, message: str, *, retry_after: int | None = None
    ) -> None:
        """Answer the next object request with ``method`` with this error ``Status``."""
        self._faults.append((method.upper(), status, reason, message, retry_after))

    async def _fault(self, request: kmock.Request, method: str) -> aiohttp.web.Response | None:
        for i, (wanted, status, reason, message, retry_after) in enumerate(self._faults):
            if wanted == method:
                del self._faults[i]
                body = {
                    "apiVersion": "v1",
                    "kind": "Status",
                    "status": "Failure",
                    "code": status,
                    "reason": reason,
                    "message": message,
                }
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
                return aiohttp.web.json_response(body, status=status, headers=headers)
        return None

    def _bump(self, obj: MutableMapping[str, Any]) -> None:
        obj.setdefault("metadata", {})["resourceVersion"] = str(next(self._versions))

    def _key(self, request: kmock.Request) -> tuple[Any, str | None, str]:
        assert request.resource is not None
        assert request.name is not None
        return (request.resource, request.namespace, request.name)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        try:
            return await self._serve(request)
        finally:
            async with self._served:
                self._served.notify_all()

    async def _serve(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if request.resource is not None and request.subresource is None:
            method = str(request.method.value if request.method else "").upper()
            if request.resource.plural is not None:
                fault = await self._fault(request, method)
                if fault is not None:
                    return fault
            if request.action == kmock.action.CREATE and isinstance(request.data, dict):
                self._prepare_create(request)
            elif method == "PUT" and request.name is not None:
                return await self._replace(request)
            elif method == "PATCH" and request.name is not None:
                return await self._patch(request)
        return await super()._handle(request)

    def _prepare_create(self, request: kmock.Request) -> None:
        """Fill in what the API server sets on create; refuse an existing name (409)."""
        meta = request.data.setdefault("metadata", {})
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise _status_error(
                    422, "Invalid", "metadata.name: Required value: name or generateName"
                )
            meta["name"] = prefix + "".join(random.choices(_NAME_CHARS, k=5))
        if request.namespace is not None:
            meta["namespace"] = request.namespace
        resource = request.resource
        assert resource is not None
        key = (resource, request.namespace, meta["name"])
        if key in self.objects and not self.objects[key].deleted:
            raise _status_error(
                409, "AlreadyExists", f"{resource.plural} {meta['name']!r} already exists"
            )
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = datetime.datetime.now(datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        meta.pop("resourceVersion", None)
        self._bump(request.data)
        if self.on_create is not None:
            self.on_create(request.data)

    async def _replace(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        key = self._key(request)
        body = request.data
        if not isinstance(body, dict):
            return await self._render_error(_status_error(400, "BadRequest", "body is not JSON"))
        async with self._lock:
            if key not in self.objects or self.objects[key].deleted:
                return await self._render_error(
                    _status_error(404, "NotFound", f"{request.name!r} not found")
                )
            current = self.objects[key].raw
            sent_version = body.get("metadata", {}).get("resourceVersion")
            if sent_version and sent_version != current["metadata"].get("resourceVersion"):
                return await self._render_error(
                    _status_error(
                        409,
                        "Conflict",
                        "the object has been modified; please apply your changes to the latest "
                        "version and try again",
                    )
                )
            new = copy.deepcopy(body)
            meta = new.setdefault("metadata", {})
            for kept in ("uid", "creationTimestamp", "name", "namespace"):
                if kept in current["metadata"]:
                    meta[kept] = current["metadata"][kept]
            self._bump(new)
            self.objects[key].history.append(new)
        return aiohttp.web.json_response(new, status=200)

    async def _patch(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        key = self._key(request)
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        async with self._lock:
            exists = key in self.objects and not self.objects[key].deleted
            current = copy.deepcopy(self.objects[key].raw) if exists else None
            try:
                if content_type == "application/apply-patch+yaml":
                    if not request.params.get("fieldManager"):
                        raise _status_error(
                            400, "BadRequest", "fieldManager is required for apply requests"
                        )
                    applied = yaml.safe_load(request.text)
                    new = merge_patch(current or {}, applied)
                elif current is None:
                    raise _status_error(404, "NotFound", f"{request.name!r} not found")
                elif content_type == "application/json-patch+json":
                    if not isinstance(request.data, list):
                        raise _status_error(
                            400, "BadRequest", "json patch: cannot unmarshal object into []op"
                        )
                    new = jsonpatch.apply_patch(current, request.data)
                elif content_type == "application/merge-patch+json":
                    new = merge_patch(current, request.data)
                elif content_type == "application/strategic-merge-patch+json":
                    new = strategic_merge_patch(current, request.data)
                else:
                    raise _status_error(
                        415, "UnsupportedMediaType", f"unsupported patch type {content_type!r}"
                    )
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
                raise _status_error(422, "Invalid", f"json patch: {e}") from e
            meta = new.setdefault("metadata", {})
            if current is None:
                meta.setdefault("name", request.name)
                if request.namespace is not None:
                    meta["namespace"] = request.namespace
                meta["uid"] = str(uuid.uuid4())
                self._bump(new)
                if key in self.objects:
                    self.objects[key].create(new)
                else:
                    self.objects[key] = new
            else:
                for kept in ("uid", "creationTimestamp", "name", "namespace"):
                    if kept in current["metadata"]:
                        meta[kept] = current["metadata"][kept]
                self._bump(new)
                self.objects[key].history.append(new)
        return aiohttp.web.json_response(new, status=200 if current is not None else 201)

    async def _serve_create(self, request: kmock.Request) -> Any:
        payload = await super()._serve_create(request)
        return Response(status=201, payload=payload)


@dataclass
class Kube:
    """The running test API server, and the kubeconfig that points at it."""

    api: KubeAPI
    kubeconfig: Path
    url: str

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The stored object, or None when it does not exist (or was deleted)."""
        key = (kmock.resource(resource), namespace, name)
        if key not in self.api.objects or self.api.objects[key].deleted:
            return None
        return copy.deepcopy(self.api.objects[key].raw)

    def put(self, resource: str, namespace: str | None, obj: dict[str, Any]) -> None:
        """Store ``obj`` as if it had been created earlier (with a resourceVersion)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if namespace is not None:
            meta["namespace"] = namespace
        meta.setdefault("uid", str(uuid.uuid4()))
        self.api._bump(obj)
        self.api.objects[kmock.resource(resource), namespace, meta["name"]] = obj

    def set_labels(self, resource: str, namespace: str | None, name: str, **labels: str) -> None:
        """Change an object's labels as a controller would (a new version)."""
        obj = self.api.objects[kmock.resource(resource), namespace, name]
        obj.patch({"metadata": {"labels": labels}})
        self.api._bump(obj.last)


def write_kubeconfig(path: Path, server: str, namespace: str = "default") -> Path:
    """A kubeconfig with one context pointing at ``server`` with a bearer token."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "test-token"}}],
        "contexts": [
            {
                "name": "test",
                "context": {"cluster": "test", "user": "tester", "namespace": namespace},
            }
        ],
        "current-context": "test",
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
async def kube(tmp_path: Path) -> AsyncIterator[Kube]:
    """A fresh Kubernetes API on a free port of 127.0.0.1, with its kubeconfig."""
    async with KubeAPI() as api, Server(api) as server:
        for name, info in RESOURCES.items():
            api.resources[name] = kmock.ResourceInfo(**info, verbs=_VERBS)
        url = str(server.url).rstrip("/")
        yield Kube(api=api, kubeconfig=write_kubeconfig(tmp_path / "kubeconfig", url), url=url)
