"""The generic ``webhook`` source: any HTTP client posts JSON (or sends a GET query).

Its config is Argo's ``WebhookEventSource``: the :class:`WebhookContext` fields
inline, plus the EventSource-level ``filter``. Argo's webhook reads the body of a
POST and the query of a GET and answers 400 to any other method, so only those
two methods are accepted here.

:class:`WebhookSource` serves one event on the process's shared
:class:`~eventsources.http_server.HTTPServers`. Each request becomes one event
``{"header": {...}, "body": ..., "metadata": {...}}`` (Argo's ``WebhookEventData``:
header names canonicalised as Go does, values as lists, ``Host`` and
``Transfer-Encoding`` left out as Go's server does, ``metadata`` only when set)
with ``source`` = EventSource name, ``type`` = ``webhook``, ``subject`` = event
name. The request is answered only after ``emit`` returned, i.e. once the bus has
the event:

- 200 ``{"id": "<event id>"}`` when published, with ``"duplicate": true`` or
  ``"filtered": true`` when the bus already had it or the filter dropped it
  (Argo answers 200 ``success`` in all three cases);
- 503 ``failed to record event`` with ``Retry-After: 1`` when the bus cannot
  take it (Argo answers 500): the client should retry, nothing was acknowledged;
- 500 on any other failure of ``emit`` (logged);
- 401 (with ``WWW-Authenticate: Bearer``) when ``authSecret`` is set and the
  bearer token is missing or wrong (compared in constant time); any
  ``Authorization`` header is masked in the event data, as Argo does;
- 405 with ``Allow`` on another method (Argo answers 400: 405 is the honest code);
- 413 when the body exceeds ``maxPayloadSize`` (by ``Content-Length`` before
  reading, or while streaming a chunked body);
- 400 for a body that is empty, not UTF-8, not JSON, or nested deeper than
  :data:`~eventsources.http_server.MAX_BODY_DEPTH` levels.

Every 4xx/5xx body is a short plain-text reason; none carries a secret. Checks
run in Argo's order: the token, then the method, then the body. A client that
hangs up while its event is being emitted does not cancel the emit: the event
is recorded, and a retry makes a second event unless it is a CloudEvent (same
id, deduplicated by the bus).

Beyond Argo, CloudEvents sent to a webhook keep their attributes (argo-events
#1015, #2011): in binary mode (``ce-*`` headers) and structured mode
(``Content-Type: application/cloudevents+json``) the producer's ``id`` becomes
the event id, so a retried CloudEvent is deduplicated by the bus; its
``source``, ``type``, ``subject``, ``time`` and ``dataschema`` become the
extensions ``producersource``, ``producertype``, ``producersubject``,
``producertime``, ``producerdataschema``; its other extension attributes with
lowercase alphanumeric names are copied; the body is the CloudEvent's data (a
binary-mode CloudEvent may have no body: its data is then null). A W3C
``traceparent`` (and ``tracestate``) header travels as extensions of the same
names.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qs, unquote

from pydantic import model_validator

from bus.event import Event
from eventsources.base import EventSourceFilter, Loc, Problem, SourceConfig, filter_field, invalid
from eventsources.http_server import (
    HTTPServers,
    RequestRejected,
    WebhookContext,
    authenticate,
    bearer_token,
    emit_and_answer,
    error_response,
    header_map,
    parse_json,
    read_body,
)
from eventsources.source import Emit, SourceContext
from herald.core.errors import ConfigError

if TYPE_CHECKING:
    from aiohttp import web

WEBHOOK_METHODS = ("GET", "POST")


class WebhookEventSource(WebhookContext, SourceConfig):
    """One generic webhook event: where it listens, and an optional filter."""

    filter: EventSourceFilter | None = filter_field()

    @model_validator(mode="after")
    def _readable_method(self) -> Self:
        if self.method not in WEBHOOK_METHODS:
            found = "no method" if self.method is None else f"method {self.method}"
            raise invalid(
                Problem(
                    ("method",),
                    f"the webhook source reads a POST body or a GET query, and {found} "
                    "would answer every request with 400: set method: POST (or GET)",
                    self.method,
                ),
                title=type(self).__name__,
            )
        return self

    def http_route(self) -> tuple[Loc, WebhookContext]:
        """The webhook context is this config itself."""
        return ((), self)


# ---------------------------------------------------------------------------------------
# The runnable source.

log = logging.getLogger("herald.source.webhook")

EVENT_TYPE = "webhook"
"""The ``type`` attribute of every event of this source."""

FORM = "application/x-www-form-urlencoded"
STRUCTURED_CE = "application/cloudevents+json"


# CloudEvents context attributes: never copied as extensions.
_CE_CORE = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "dataschema",
        "datacontenttype",
        "data",
        "data_base64",
    }
)
# The producer's attributes kept as extensions, and their names on our event.
_CE_PRODUCER = (
    ("source", "producersource"),
    ("type", "producertype"),
    ("subject", "producersubject"),
    ("time", "producertime"),
    ("dataschema", "producerdataschema"),
)
_EXTENSION_NAME = re.compile(r"[a-z0-9]+")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-[!-~]*)?")


def _form(text: str) -> dict[str, list[str]]:
    """A query string or form body as Go's ``url.Values``: name -> values in order."""
    return parse_qs(text, keep_blank_values=True, errors="replace")


def _ce_value(value: object) -> str | None:
    """A CloudEvents attribute value as text; None for types an attribute cannot have."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return None


def _nonempty(value: object) -> bool:
    return isinstance(value, str) and value != ""


def _producer(attributes: Mapping[str, object], mode: str) -> tuple[str, dict[str, str]]:
    """The producer's event id and the extensions that keep its attributes."""
    version = attributes.get("specversion")
    if version != "1.0":
        raise RequestRejected(
            400, f"{mode} CloudEvent has specversion {version!r}: only 1.0 is supported"
        )
    missing = [k for k in ("id", "source", "type") if not _nonempty(attributes.get(k))]
    if missing:
        raise RequestRejected(
            400, f"{mode} CloudEvent lacks required attribute(s): {', '.join(missing)}"
        )
    extensions: dict[str, str] = {}
    for name, value in attributes.items():
        if name in _CE_CORE or not _EXTENSION_NAME.fullmatch(name):
            continue
        text = _ce_value(value)
        if text is not None:
            extensions[name] = text
    for attribute, extension in _CE_PRODUCER:
        text = _ce_value(attributes.get(attribute))
        if text is not None:
            extensions[extension] = text
    return str(attributes["id"]), extensions


def _binary_attributes(header: Mapping[str, list[str]]) -> dict[str, str]:
    """The ``ce-*`` headers of a binary-mode CloudEvent, percent-decoded."""
    attributes: dict[str, str] = {}
    for key, values in header.items():
        if len(key) > 3 and key[:3] == "Ce-":
            value = values[0]
            attributes[key[3:].lower()] = unquote(value) if "%" in value else value
    return attributes


def _structured(raw: bytes) -> tuple[Any, str, dict[str, str]]:
    """(data, id, extensions) of a structured-mode CloudEvent body."""
    if not raw:
        raise RequestRejected(400, "empty body: send a CloudEvent as a JSON object")
    envelope = parse_json(raw)
    if not isinstance(envelope, dict):
        raise RequestRejected(400, "a structured CloudEvent must be a JSON object")
    event_id, extensions = _producer(envelope, "structured")
    if "data" in envelope:
        data = envelope["data"]
    elif "data_base64" in envelope:
        encoded = envelope["data_base64"]
        try:
            decoded = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else None
        except binascii.Error:
            decoded = None
        if decoded is None:
            raise RequestRejected(400, "CloudEvent data_base64 is not valid base64")
        data = parse_json(decoded, "CloudEvent data_base64") if decoded else None
    else:
        data = None
    return data, event_id, extensions


class _Intake:
    """One running webhook route: checks a request, emits its event, answers."""

    __slots__ = (
        "_emit",
        "_limit",
        "_metadata",
        "_method",
        "_name",
        "_owner",
        "_response",
        "_source",
        "_token",
    )

    def __init__(self, source: WebhookSource, emit: Emit, response: type[web.Response]) -> None:
        config = source.config
        self._response = response
        self._emit = emit
        self._source = source.context.event_source
        self._name = source.context.event_name
        self._owner = source.owner
        self._token = source.token
        self._method = config.method
        self._limit = config.max_payload_size_bytes
        self._metadata = dict(config.metadata) if config.metadata else None

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request; the event is emitted (and awaited) before a 200."""
        try:
            event = await self._event(request)
        except RequestRejected as rejected:
            log.debug("%s: %d %s", self._owner, rejected.status, rejected.reason)
            return error_response(rejected)
        return await emit_and_answer(self._emit, event, self._response, log, self._owner)

    async def _event(self, request: web.BaseRequest) -> Event:
        """The event for ``request``, or RequestRejected (auth, method, body)."""
        header = header_map(request.raw_headers)
        authenticate(header, self._token)
        if request.method != self._method:
            raise RequestRejected(
                405,
                f"method {request.method} not allowed: this endpoint accepts {self._method}",
                {"Allow": str(self._method)},
            )
        binary = "Ce-Specversion" in header
        event_id: str | None = None
        extensions: dict[str, str] | None = None
        if request.method == "GET":
            body: Any = _form(request.raw_path.partition("?")[2])
        else:
            raw = await read_body(request, self._limit)
            content_type = header.get("Content-Type")
            media = content_type[0].partition(";")[0].strip().lower() if content_type else ""
            if media == FORM:
                body = _form(raw.decode("utf-8", "replace"))
            elif media == STRUCTURED_CE and not binary:
                body, event_id, extensions = _structured(raw)
            elif raw:
                body = parse_json(raw)
            elif binary:
                body = None  # a CloudEvent without data
            else:
                raise RequestRejected(400, "empty body: send a JSON document")
        if binary:
            event_id, extensions = _producer(_binary_attributes(header), "binary-mode")
        traceparent = header.get("Traceparent")
        if traceparent is not None and _TRACEPARENT.fullmatch(traceparent[0]):
            if extensions is None:
                extensions = {}
            extensions["traceparent"] = traceparent[0]
            tracestate = header.get("Tracestate")
            if tracestate is not None:
                extensions["tracestate"] = ",".join(tracestate)
        data: dict[str, Any] = {"header": header, "body": body}
        if self._metadata is not None:
            data["metadata"] = dict(self._metadata)
        return Event.new(
            source=self._source,
            type=EVENT_TYPE,
            subject=self._name,
            data=data,
            id=event_id,
            extensions=extensions,
        )


class WebhookSource:
    """One event of a ``webhook`` EventSource, served on the shared HTTP server of its port.

    The ``authSecret`` token is read when the source is built, so a missing
    secret is refused before anything starts.
    """

    def __init__(self, config: WebhookEventSource, context: SourceContext) -> None:
        owner = f"{context.event_source}/{context.event_name}"
        if context.http is None:
            raise ConfigError(
                f"{owner}: the webhook source needs the process's shared HTTP servers "
                "(SourceContext.http)"
            )
        self.config = config
        self.context = context
        self.owner = owner
        self.token = bearer_token(config, context.secrets, owner)
        self._http: HTTPServers = context.http
        self._ready = asyncio.Event()

    @property
    def ready(self) -> asyncio.Event:
        """Set once the port listens and this event's route answers."""
        return self._ready

    async def run(self, emit: Emit) -> None:
        """Serve the route until cancelled; remove it on the way out."""
        from aiohttp import web

        intake = _Intake(self, emit, web.Response)
        route = self._http.add_route(self.config, intake.handle, owner=self.owner)
        try:
            await self._http.listening(self.config.port_number)
            self._ready.set()
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self._ready.clear()
            self._http.remove_route(route)
