"""The Trigger protocol, the context triggers run in, and the registry of types.

A sensor resolves a trigger's template parameters, then calls ``fire(spec,
events)`` with the resolved spec model of the trigger's type and the events
(by dependency name) that satisfied its conditions. ``fire`` returns a short
outcome for the log line, or raises :class:`~herald.core.errors.TemporaryTriggerError`
(retry with backoff) or :class:`~herald.core.errors.PermanentTriggerError` (go
to the DLQ trigger). Any other exception is a bug in the adapter and is treated
as permanent.

Dispatch is by the template's field name (``http``, ``log``, ...) through
:data:`REGISTRY`, whose values name the adapter class lazily, so that importing
this module loads no optional client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import aiohttp

from bus.event import Event
from herald.core.refs import SecretStore
from herald.core.registry import resolve


class SharedHTTP:
    """One pooled aiohttp client for every trigger of a process, created on first use."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The shared session (created inside the running event loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256),
                skip_auto_headers=("User-Agent",),
                headers={"User-Agent": "herald"},
            )
        return self._session

    async def close(self) -> None:
        """Close the session, if one was made."""
        if self._session is not None and not self._session.closed:
            await self._session.close()


@dataclass(slots=True)
class TriggerContext:
    """What a trigger adapter may use: names for logs and labels, secrets, shared clients.

    The shared clients belong to whoever made the context (the runner, a test),
    which closes them once every trigger is done.
    """

    sensor: str
    trigger: str
    secrets: SecretStore = field(default_factory=SecretStore)
    shared_http: SharedHTTP = field(default_factory=SharedHTTP)
    slack_api_url: str = "https://slack.com/api"
    allowed_statuses: frozenset[int] | None = None
    """``policy.status.allow``: when set, exactly the response codes that count as success."""
    k8s_policy: Any = None
    """``policy.k8s`` of the trigger (k8s and argoWorkflow): labels to wait for, with backoff."""
    kubeconfig: str | None = None
    """Kubeconfig file for the Kubernetes triggers; None: ``$KUBECONFIG``, ``~/.kube/config``,
    then the pod's service account."""
    namespace: str | None = None
    """Default namespace for Kubernetes objects that name none; None: the kubeconfig
    context's namespace, the pod's, else ``default``."""

    def http(self) -> aiohttp.ClientSession:
        """The process-wide HTTP client session."""
        return self.shared_http.session()


@runtime_checkable
class Trigger(Protocol):
    """One trigger of one sensor, ready to fire."""

    async def fire(self, spec: Any, events: Mapping[str, Event]) -> str:
        """Act once for ``events``; return a short outcome for the log (``HTTP 200``)."""
        ...

    async def close(self) -> None:
        """Release what the trigger holds (connections, producers)."""
        ...


class TriggerFactory(Protocol):
    """Builds the trigger for a spec once, when the sensor starts."""

    def __call__(self, spec: Any, context: TriggerContext) -> Trigger: ...


REGISTRY: dict[str, str] = {
    "http": "triggers.http:HTTPTriggerRunner",
    "log": "triggers.log:LogTriggerRunner",
    "k8s": "triggers.k8s:K8sTriggerRunner",
    "argoWorkflow": "triggers.argo_workflow:ArgoWorkflowTriggerRunner",
    "awsLambda": "triggers.aws_lambda:AWSLambdaTriggerRunner",
    "slack": "triggers.slack:SlackTriggerRunner",
    "email": "triggers.email:EmailTriggerRunner",
    "nats": "triggers.nats:NATSTriggerRunner",
    "kafka": "triggers.kafka:KafkaTriggerRunner",
}
"""Spec field name of a trigger type -> ``module:attribute`` of its factory."""


def factory(kind: str) -> TriggerFactory:
    """The factory for trigger type ``kind``; ConfigError when Herald cannot run it."""
    made: TriggerFactory = resolve(REGISTRY, kind, "trigger")
    return made
