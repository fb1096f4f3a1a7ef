"""Kubernetes API plumbing shared by the ``k8s`` and ``argoWorkflow`` triggers.

Both triggers act on objects through the API server with the official
``kubernetes`` client (``pip install 'herald[k8s]'``). That client is
synchronous, so this module owns the one way Herald calls it:

- **No blocking on the event loop.** Every call, the configuration loading and
  API discovery included, runs in a worker thread (:func:`asyncio.to_thread`)
  with a request timeout, so a slow API server delays one firing, never the
  process. (A cancelled firing cannot stop a call already in its thread; the
  timeout bounds it.)
- **No I/O before the first firing.** :class:`KubeClient` loads its
  configuration lazily: the kubeconfig given in the trigger context, else the
  client's default (``$KUBECONFIG`` or ``~/.kube/config``), else the pod's
  service account. Building a trigger therefore never fails on an unreachable
  cluster; the first firing reports it.
- **Kinds are resolved by discovery**, as ``kubectl`` does: the plural and the
  scope (namespaced or cluster-wide) come from the API server, cached per
  ``apiVersion``/``kind``, so custom resources with irregular plurals work and a
  kind the server does not serve is a clear error (Argo guesses the plural and
  keeps a fixed list of cluster-scoped kinds).
- **Every failure is typed**, in one table (:func:`translate`): 408, 429 and
  5xx answers, connection errors and timeouts are temporary (429/503 honour
  ``Retry-After``); 400, 401, 403, 404, 405, 410, 415 and 422 are permanent;
  409 ``AlreadyExists`` is permanent and any other 409 (an optimistic
  concurrency conflict) temporary, because a retry starts from a fresh read.
- **Labels Argo puts on what it creates** (:func:`trigger_labels`) keep Argo's
  names, so users' label selectors keep working.

It also holds the ``policy.k8s`` check both triggers share
(:func:`await_labels`): poll the acted-on object until it carries the given
labels, with backoff, and fail only when ``errorOnBackoffTimeout`` says so.
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson

from herald.core.backoff import Backoff
from herald.core.errors import PermanentTriggerError, TemporaryTriggerError, TriggerError

SENSOR_LABEL = "events.argoproj.io/sensor"
TRIGGER_LABEL = "events.argoproj.io/trigger"
ACTION_TIMESTAMP_LABEL = "events.argoproj.io/action-timestamp"

FIELD_MANAGER = "herald"
"""Field manager name for server-side apply (``patchStrategy: application/apply-patch+yaml``)."""

REQUEST_TIMEOUT = (10.0, 60.0)
"""Seconds to connect and to read each answer of the API server."""

DEFAULT_POLICY_BACKOFF = Backoff.model_validate(
    {"duration": "1s", "factor": 1, "jitter": 1, "steps": 5}
)
"""Polling of ``policy.k8s`` when it gives no backoff: Argo's default (5 checks, ~1-2 s apart)."""

_IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_EXCERPT = 300
_T = TypeVar("_T")


def trigger_labels(sensor: str, trigger: str) -> dict[str, str]:
    """The labels Argo Events puts on objects a trigger creates (same names, same values)."""
    return {
        SENSOR_LABEL: sensor,
        TRIGGER_LABEL: trigger,
        ACTION_TIMESTAMP_LABEL: str(time.time_ns() // 1_000_000),
    }


def _import_client() -> Any:
    try:
        import kubernetes
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise ImportError(
            "the k8s and argoWorkflow triggers need the Kubernetes client: "
            "pip install 'herald[k8s]'"
        ) from e
    return kubernetes


@dataclass(frozen=True, slots=True)
class ApiResource:
    """A kind as the API server serves it: where its objects live."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool
    handle: Any
    """The dynamic client's resource object (opaque outside this module)."""

    def describe(self, namespace: str | None, name: str | None) -> str:
        """``Rollout default/app`` for messages."""
        where = f"{namespace}/{name}" if namespace else (name or "")
        return f"{self.kind} {where}".rstrip()


class KubeClient:
    """One connection to one API server, used by one trigger; close it when done.

    ``kubeconfig`` names a kubeconfig file (None: the client's default
    location, then the in-cluster service account); ``namespace`` overrides
    the default namespace, which is otherwise the kubeconfig context's, the
    pod's, or ``default``.
    """

    def __init__(
        self,
        *,
        kubeconfig: str | None = None,
        namespace: str | None = None,
        request_timeout: tuple[float, float] = REQUEST_TIMEOUT,
    ) -> None:
        if importlib.util.find_spec("kubernetes") is None:
            raise ImportError(
                "the k8s and argoWorkflow triggers need the Kubernetes client: "
                "pip install 'herald[k8s]'"
            )
        self._kubeconfig = kubeconfig
        self._namespace_override = namespace
        self._timeout = request_timeout
        self._client: Any = None
        self._api_client: Any = None
        self._namespace = "default"
        self._cache_dir: str | None = None
        self._resources: dict[tuple[str, str], ApiResource] = {}
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ set-up

    async def _connected(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                if self._cache_dir is None:
                    self._cache_dir = tempfile.mkdtemp(prefix="herald-kube-")
                try:
                    client, api_client, namespace = await asyncio.to_thread(
                        _build, self._kubeconfig, self._cache_dir
                    )
                except TriggerError:
                    raise
                except Exception as e:  # translated: every client failure becomes a trigger error
                    raise translate(e, "connect to the Kubernetes API") from e
                self._api_client = api_client
                self._namespace = self._namespace_override or namespace or "default"
                self._client = client
        return self._client

    async def default_namespace(self) -> str:
        """The namespace for objects that name none."""
        await self._connected()
        return self._namespace

    async def resource(self, api_version: str, kind: str) -> ApiResource:
        """Where objects of ``kind`` in ``apiVersion`` live; permanent error if not served."""
        key = (api_version, kind)
        found = self._resources.get(key)
        if found is not None:
            return found
        client = await self._connected()
        async with self._lock:
            found = self._resources.get(key)
            if found is None:
                found = await self._call(
                    lambda: _discover(client, api_version, kind),
                    f"look up kind {kind} in {api_version}",
                )
                self._resources[key] = found
        return found

    async def close(self) -> None:
        """Close the connection pool and remove the discovery cache."""
        api_client, self._api_client, self._client = self._api_client, None, None
        if api_client is not None:
            await asyncio.to_thread(api_client.close)
        if self._cache_dir is not None:
            shutil.rmtree(self._cache_dir, ignore_errors=True)
            self._cache_dir = None

    # ------------------------------------------------------------------ verbs

    async def get(
        self, resource: ApiResource, name: str, namespace: str | None
    ) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        client = await self._connected()
        what = f"get {resource.describe(namespace, name)}"
        try:
            return await self._call(
                lambda: _json(
                    client.get(
                        resource.handle,
                        name=name,
                        namespace=namespace,
                        serialize=False,
                        _request_timeout=self._timeout,
                    )
                ),
                what,
                not_found_ok=True,
            )
        except _NotFound:
            return None

    async def list(
        self, resource: ApiResource, namespace: str | None, label_selector: str
    ) -> list[dict[str, Any]]:
        """Objects matching ``label_selector`` (``k=v,k2=v2``) in ``namespace``."""
        client = await self._connected()
        wanted = dict(part.split("=", 1) for part in label_selector.split(",") if part)
        listed = await self._call(
            lambda: _json(
                client.get(
                    resource.handle,
                    namespace=namespace,
                    label_selector=label_selector,
                    serialize=False,
                    _request_timeout=self._timeout,
                )
            ),
            f"list {resource.kind} in {namespace or 'the cluster'}",
        )
        items: list[dict[str, Any]] = listed.get("items") or []
        # Filter again here: a selector the server ignores must not widen the set.
        return [
            item
            for item in items
            if all(
                (item.get("metadata", {}).get("labels") or {}).get(k) == v
                for k, v in wanted.items()
            )
        ]

    async def create(
        self, resource: ApiResource, body: dict[str, Any], namespace: str | None
    ) -> dict[str, Any]:
        """Create ``body``; the created object as the server returns it."""
        client = await self._connected()
        meta = body.get("metadata") or {}
        name = meta.get("name") or f"{meta.get('generateName', '')}*"
        return await self._call(
            lambda: _json(
                client.create(
                    resource.handle,
                    body=body,
                    namespace=namespace,
                    serialize=False,
                    _request_timeout=self._timeout,
                )
            ),
            f"create {resource.describe(namespace, name)}",
        )

    async def replace(
        self, resource: ApiResource, body: dict[str, Any], name: str, namespace: str | None
    ) -> dict[str, Any]:
        """Replace the object with ``body`` (PUT; its resourceVersion guards against races)."""
        client = await self._connected()
        return await self._call(
            lambda: _json(
                client.replace(
                    resource.handle,
                    body=body,
                    name=name,
                    namespace=namespace,
                    serialize=False,
                    _request_timeout=self._timeout,
                )
            ),
            f"update {resource.describe(namespace, name)}",
        )

    async def patch(
        self,
        resource: ApiResource,
        name: str,
        namespace: str | None,
        body: Any,
        content_type: str,
        *,
        not_found_ok: bool = False,
    ) -> dict[str, Any] | None:
        """Patch the object with ``body`` of ``content_type``.

        Server-side apply (``application/apply-patch+yaml``) is sent as JSON
        (JSON is YAML) with field manager :data:`FIELD_MANAGER`, forcing
        ownership of the fields it sets: the event is the authority. With
        ``not_found_ok``, a missing object gives None instead of an error.
        """
        client = await self._connected()
        extra: dict[str, Any] = {}
        if content_type == "application/apply-patch+yaml":
            body = orjson.dumps(body).decode()
            extra = {"field_manager": FIELD_MANAGER, "force_conflicts": True}
        try:
            return await self._call(
                lambda: _json(
                    client.patch(
                        resource.handle,
                        body=body,
                        name=name,
                        namespace=namespace,
                        content_type=content_type,
                        serialize=False,
                        _request_timeout=self._timeout,
                        **extra,
                    )
                ),
                f"patch {resource.describe(namespace, name)}",
                not_found_ok=not_found_ok,
            )
        except _NotFound:
            return None

    async def delete(self, resource: ApiResource, name: str, namespace: str | None) -> bool:
        """Delete the object; False when there was nothing to delete."""
        client = await self._connected()
        try:
            await self._call(
                lambda: client.delete(
                    resource.handle,
                    name=name,
                    namespace=namespace,
                    serialize=False,
                    _request_timeout=self._timeout,
                ),
                f"delete {resource.describe(namespace, name)}",
                not_found_ok=True,
            )
        except _NotFound:
            return False
        return True

    async def _call(self, work: Callable[[], _T], what: str, *, not_found_ok: bool = False) -> _T:
        try:
            return await asyncio.to_thread(work)
        except TriggerError:
            raise
        except Exception as e:  # translated: every client failure becomes a trigger error
            if not_found_ok and getattr(e, "status", None) == 404:
                raise _NotFound from e
            raise translate(e, what) from e


class ConflictError(TemporaryTriggerError):
    """409 Conflict: the object changed between read and write (optimistic concurrency)."""


class _NotFound(Exception):
    """Internal: the object does not exist (where that is an answer, not an error)."""


def _build(kubeconfig: str | None, cache_dir: str) -> tuple[Any, Any, str | None]:
    """Load the configuration and open a dynamic client (runs in a worker thread)."""
    kubernetes = _import_client()
    from kubernetes.config import kube_config

    configuration = kubernetes.client.Configuration()
    namespace: str | None = None
    default_location = Path(kube_config.KUBE_CONFIG_DEFAULT_LOCATION).expanduser()
    if kubeconfig is not None or default_location.exists():
        kubernetes.config.load_kube_config(
            config_file=kubeconfig, client_configuration=configuration, persist_config=False
        )
        _, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
        namespace = (active or {}).get("context", {}).get("namespace")
    else:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
        try:
            namespace = _IN_CLUSTER_NAMESPACE.read_text(encoding="utf-8").strip() or None
        except OSError:
            namespace = None
    api_client = kubernetes.client.ApiClient(configuration)
    try:
        client = kubernetes.dynamic.DynamicClient(
            api_client, cache_file=str(Path(cache_dir) / "discovery.json")
        )
    except BaseException:
        api_client.close()
        raise
    return client, api_client, namespace


def _discover(client: Any, api_version: str, kind: str) -> ApiResource:
    from kubernetes.dynamic.exceptions import ResourceNotFoundError, ResourceNotUniqueError

    try:
        found = client.resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError as e:
        raise PermanentTriggerError(
            f"the Kubernetes API serves no kind {kind!r} in apiVersion {api_version!r}: "
            "check apiVersion and kind, or install the CRD that defines it"
        ) from e
    except ResourceNotUniqueError as e:
        raise PermanentTriggerError(
            f"kind {kind!r} in {api_version!r} is ambiguous on this API server"
        ) from e
    return ApiResource(
        api_version=api_version,
        kind=kind,
        plural=found.name,
        namespaced=bool(found.namespaced),
        handle=found,
    )


def _json(response: Any) -> Any:
    data = response.data
    return orjson.loads(data) if data else {}


# ---------------------------------------------------------------------- errors

_PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 406, 410, 413, 415, 422})


def translate(error: BaseException, what: str) -> TriggerError:
    """The trigger error for a failed API call (``what``: ``create Rollout ns/app``)."""
    if isinstance(error, TriggerError):
        return error
    status = getattr(error, "status", None)
    if isinstance(status, int) and status > 0:
        reason, message = _status_details(error)
        text = f"Kubernetes API: {what}: {status} {reason}".rstrip()
        if message:
            text += f": {message}"
        hint = _HINTS.get(status)
        if status == 409 and reason == "AlreadyExists":
            return PermanentTriggerError(
                f"{text}; use operation update or patch, or metadata.generateName"
            )
        if status == 409:
            return ConflictError(f"{text}; retrying starts from a fresh read")
        if status in _PERMANENT_STATUSES:
            return PermanentTriggerError(f"{text}{hint or ''}")
        return TemporaryTriggerError(text, retry_after=_retry_after(error))
    kubernetes_config = _config_exception()
    if kubernetes_config is not None and isinstance(error, kubernetes_config):
        return PermanentTriggerError(
            f"Kubernetes API: {what}: no usable configuration ({error}); set KUBECONFIG, "
            "or run inside a cluster with a service account"
        )
    if _is_tls_failure(error):
        return PermanentTriggerError(
            f"Kubernetes API: {what}: the server's TLS certificate was rejected "
            f"({_describe(error)}); check the kubeconfig's certificate-authority"
        )
    if isinstance(error, OSError | TimeoutError) or _is_urllib3_error(error):
        return TemporaryTriggerError(f"Kubernetes API: {what}: {_describe(error)}")
    return PermanentTriggerError(
        f"Kubernetes API: {what}: unexpected {type(error).__name__}: {_describe(error)}"
    )


def _is_urllib3_error(error: BaseException) -> bool:
    try:
        from urllib3.exceptions import HTTPError
    except ImportError:  # pragma: no cover - urllib3 comes with the Kubernetes client
        return False
    return isinstance(error, HTTPError)


_HINTS = {
    401: "; the credentials were rejected: refresh the kubeconfig or service account token",
    403: "; the service account may not do this: grant it in a Role/ClusterRole",
    415: "; custom resources take merge-patch or json-patch, not strategic-merge-patch",
}


def _status_details(error: BaseException) -> tuple[str, str]:
    """Reason and message of a Kubernetes ``Status`` answer (never the raw headers)."""
    reason = str(getattr(error, "reason", "") or "")
    body = getattr(error, "body", None)
    message = ""
    if body:
        try:
            status = orjson.loads(body)
        except orjson.JSONDecodeError:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
            message = " ".join(text.split())[:_EXCERPT]
        else:
            if isinstance(status, dict):
                reason = str(status.get("reason") or reason)
                message = str(status.get("message") or "")[:_EXCERPT]
    return reason, message


def _retry_after(error: BaseException) -> float | None:
    headers = getattr(error, "headers", None)
    if not headers:
        return None
    value = headers.get("Retry-After")
    if value and str(value).strip().isdecimal():
        return float(str(value).strip())
    return None


def _config_exception() -> type[BaseException] | None:
    try:
        from kubernetes.config.config_exception import ConfigException
    except ImportError:  # pragma: no cover - depends on the installation
        return None
    return ConfigException


def _is_tls_failure(error: BaseException) -> bool:
    import ssl

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        if type(current).__name__ == "SSLError" and "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        reason = getattr(current, "reason", None)
        current = (
            reason
            if isinstance(reason, BaseException)
            else (current.__cause__ or current.__context__)
        )
    return False


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return (text[:_EXCERPT] if text else type(error).__name__) or type(error).__name__


# ---------------------------------------------------------------------- policy


class LabelPolicy(Protocol):
    """``policy.k8s`` of a trigger, as the sensor's model has it."""

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def backoff(self) -> Backoff | None: ...

    @property
    def error_on_backoff_timeout(self) -> bool | None: ...


async def await_labels(
    client: KubeClient,
    resource: ApiResource,
    name: str,
    namespace: str | None,
    policy: LabelPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> str:
    """Poll the object until it carries ``policy.labels``; what happened, for the outcome.

    Checks ``backoff.steps`` times (Argo's default: 5, about a second apart),
    the first at once. A vanished object or a failed read is an error. When
    the labels never appear, the trigger fails only with
    ``errorOnBackoffTimeout: true``, permanently: retrying would act again
    (create a second object) rather than wait longer.
    """
    backoff = policy.backoff or DEFAULT_POLICY_BACKOFF
    delays = list(backoff.delays(default_steps=DEFAULT_POLICY_BACKOFF.attempts()))
    wanted = dict(policy.labels)
    where = resource.describe(namespace, name)
    have: Mapping[str, Any] = {}
    for check in range(len(delays) + 1):
        obj = await client.get(resource, name, namespace)
        if obj is None:
            raise PermanentTriggerError(f"policy.k8s: {where} disappeared while waiting for labels")
        have = (obj.get("metadata") or {}).get("labels") or {}
        if all(have.get(key) == value for key, value in wanted.items()):
            return f"labels {_labels_text(wanted)} reached after {check + 1} check(s)"
        if check < len(delays):
            await sleep(delays[check])
    missing = {k: v for k, v in wanted.items() if have.get(k) != v}
    text = (
        f"policy.k8s: {where} did not reach labels {_labels_text(missing)} "
        f"within {len(delays) + 1} check(s)"
    )
    if policy.error_on_backoff_timeout:
        raise PermanentTriggerError(text)
    return f"{text} (ignored: errorOnBackoffTimeout is not set)"


def _labels_text(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def object_identity(obj: Mapping[str, Any], where: str) -> tuple[str, str]:
    """``(apiVersion, kind)`` of an object; a permanent error naming ``where`` if absent."""
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if not isinstance(api_version, str) or not api_version:
        raise PermanentTriggerError(f"{where}: the object has no apiVersion")
    if not isinstance(kind, str) or not kind:
        raise PermanentTriggerError(f"{where}: the object has no kind")
    return api_version, kind
