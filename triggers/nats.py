"""The ``nats`` trigger: publish one message per firing.

Field names follow Argo Events' ``NATSTrigger`` (a core NATS publish). Herald
adds ``jetStream``: publish to a JetStream stream and wait for its ack, so a
firing only succeeds once the message is stored. That field is Herald's own;
Argo Events does not have it.

:class:`NATSTriggerRunner` is the adapter (its anatomy follows the http
trigger's: spec model above, runner below, every failure sorted into a
temporary or a permanent error). It holds one connection per trigger, made on
the first firing and reused; a connection that breaks is replaced on the next
firing. What a firing guarantees, and where Herald differs from Argo:

- core NATS: the message is flushed, i.e. the firing returns once the server
  has it (Argo returns once the client buffered it, so a message sent during a
  reconnection can vanish without an error). NATS itself does not say
  whether anyone was subscribed.
- ``jetStream: true``: the firing returns once the stream acknowledged the
  message. It carries a ``Nats-Msg-Id`` made of the sensor, trigger and event
  ids, so a retried firing whose first ack was lost is dropped by the
  stream's duplicate window instead of being stored twice.
- the subject is read after ``nats.parameters`` were applied (Argo publishes
  to the template's subject, ignoring a parameter that changes it).
- every message carries the ids of the firing events in an
  ``X-Herald-Event-Ids`` header (as the http trigger does) and the first
  event's ``traceparent``, if any.

Payload: ``payload`` parameters build a JSON value (Argo's ConstructPayload);
an entry with an empty ``dest`` that resolves to a string is sent as that text,
unquoted, as Argo does; nothing resolved sends an empty message.

Authentication and TLS are the nats source's: one :class:`NATSAuth` and one
option builder in :mod:`herald.core.nats_auth`; secrets are read again for
each new connection.

Failures: a server that cannot be reached, a timeout, a broken connection, or
JetStream not answering are temporary (retry); a refused authorisation, no
stream for the subject, an invalid subject, a message over the server's
payload limit, or a parameter that breaks the spec are permanent (DLQ).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from bus.event import Event
from herald.core.errors import ConfigError, PermanentTriggerError, TemporaryTriggerError
from herald.core.model import Spec
from herald.core.nats_auth import NATSAuth as NATSAuth  # part of this spec: importable here
from herald.core.nats_auth import connect_options, refusal
from herald.core.tls import TLSConfig
from herald.core.urls import mask_url
from triggers.base import TriggerContext
from triggers.params import PayloadParameter, TriggerParameter, apply_to_spec, payload_bytes


class NATSTrigger(Spec):
    """Publish a message built from the events to a NATS subject."""

    url: str = Field(min_length=1, description="NATS server URL, e.g. nats://nats:4222.")
    subject: str = Field(min_length=1, description="Subject to publish to.")
    payload: list[PayloadParameter] = Field(
        description="Builds the JSON message from event values (required, may be empty); an "
        "entry with an empty dest supplies the whole message."
    )
    parameters: list[TriggerParameter] | None = Field(
        default=None, description="Applied to this nats spec before each message."
    )
    tls: TLSConfig | None = Field(default=None, description="Client TLS settings.")
    auth: NATSAuth | None = Field(default=None, description="Authentication.")
    jet_stream: bool = Field(
        default=False,
        description="Herald extension (not in Argo Events): publish with JetStream and wait "
        "for the stream's ack, so the firing fails if no stream stores the message.",
    )


# ---------------------------------------------------------------------------- runner

EVENT_IDS_HEADER = "X-Herald-Event-Ids"
"""Header carrying the ids of the firing events (dependency-name order) for deduplication."""

MSG_ID_HEADER = "Nats-Msg-Id"
"""JetStream's deduplication header."""

TIMEOUT = 10.0
"""Seconds a connection, a flush or a JetStream ack may take."""

_LOG = logging.getLogger("herald.trigger.nats")


def _nats_module() -> Any:
    try:
        import nats
    except ImportError as e:
        raise ImportError(
            "the nats trigger needs the nats-py client: pip install 'herald[nats]'"
        ) from e
    return nats


class NATSTriggerRunner:
    """Publishes one message per firing over one lazily made, reused NATS connection."""

    def __init__(self, spec: NATSTrigger, context: TriggerContext) -> None:
        self._nats = _nats_module()
        self._context = context
        self._name = f"{context.sensor}/{context.trigger}"
        self._auth = spec.auth
        self._tls = spec.tls
        # Fail at start on what no firing could fix: a missing or malformed secret, no nkeys.
        connect_options(spec.auth, spec.tls, context.secrets)
        self._client: Any = None
        self._url: str | None = None
        self._lock = asyncio.Lock()

    async def fire(self, spec: NATSTrigger, events: Mapping[str, Event]) -> str:
        """Publish the message for ``events``; return what became of it."""
        if spec.parameters:
            spec = apply_to_spec(spec, spec.parameters, events, "nats")
        payload = payload_bytes(spec.payload, events)
        headers = _headers(events)
        errors = self._nats.errors
        js_errors = self._nats.js.errors
        client = await self._connection(spec.url)
        where = f"{spec.subject} on {mask_url(spec.url)}"
        started = time.perf_counter()
        try:
            if spec.jet_stream:
                headers[MSG_ID_HEADER] = (
                    f"{self._name}:{headers[EVENT_IDS_HEADER]}"
                    if EVENT_IDS_HEADER in headers
                    else self._name
                )
                ack = await client.jetstream(timeout=TIMEOUT).publish(
                    spec.subject, payload, timeout=TIMEOUT, headers=headers
                )
                elapsed = (time.perf_counter() - started) * 1000.0
                duplicate = " (duplicate, already stored)" if ack.duplicate else ""
                return (
                    f"stored in stream {ack.stream} as #{ack.seq}{duplicate}: "
                    f"{where} in {elapsed:.1f} ms"
                )
            await client.publish(spec.subject, payload, headers=headers)
            await client.flush(timeout=TIMEOUT)
        except js_errors.NoStreamResponseError as e:
            raise PermanentTriggerError(
                f"no JetStream stream stores subject {spec.subject!r} on {mask_url(spec.url)}: "
                "create a stream whose subjects cover it, or set jetStream: false"
            ) from e
        except js_errors.APIError as e:
            message = f"JetStream refused the message for {where}: {e.description or e}"
            if e.code is not None and e.code >= 500:
                raise TemporaryTriggerError(message) from e
            raise PermanentTriggerError(message) from e
        except errors.MaxPayloadError as e:
            raise PermanentTriggerError(
                f"the message ({len(payload)} bytes) is larger than the server of {where} accepts"
            ) from e
        except (errors.BadSubjectError, errors.BadHeaderError) as e:
            raise PermanentTriggerError(f"cannot publish to {where}: {_describe(e)}") from e
        except (TimeoutError, errors.TimeoutError) as e:
            await self._drop(client)
            raise TemporaryTriggerError(
                f"no answer from {where} within {TIMEOUT:g} s"
                + (" (JetStream ack)" if spec.jet_stream else "")
            ) from e
        except (OSError, errors.Error) as e:
            await self._drop(client)
            raise TemporaryTriggerError(f"publishing to {where} failed: {_describe(e)}") from e
        elapsed = (time.perf_counter() - started) * 1000.0
        return f"published to {where} ({len(payload)} bytes) in {elapsed:.1f} ms"

    async def close(self) -> None:
        """Drain the connection (send what is buffered) and close it."""
        client, self._client = self._client, None
        if client is None or client.is_closed:
            return
        try:
            async with asyncio.timeout(TIMEOUT):
                await client.drain()
        except (TimeoutError, OSError, self._nats.errors.Error) as e:
            _LOG.debug("%s: draining the connection: %s", self._name, _describe(e))
        if not client.is_closed:
            await _close_quietly(client, self._nats)

    async def _connection(self, url: str) -> Any:
        """The open connection to ``url``, made now if there is none (or it broke)."""
        client = self._client
        if client is not None and client.is_connected and self._url == url:
            return client
        async with self._lock:
            client = self._client
            if client is not None and client.is_connected and self._url == url:
                return client
            if client is not None:
                self._client = None
                await _close_quietly(client, self._nats)
            try:
                options = connect_options(self._auth, self._tls, self._context.secrets)
            except ConfigError as e:
                raise PermanentTriggerError(f"{self._name}: {e}") from e
            fresh = self._nats.aio.client.Client()
            errors = self._nats.errors
            try:
                await fresh.connect(
                    [part.strip() for part in url.split(",") if part.strip()],
                    name=f"herald:{self._name}",
                    allow_reconnect=False,  # a broken connection is replaced on the next firing
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0,
                    connect_timeout=int(TIMEOUT),
                    error_cb=self._error,
                    **options,
                )
            except (OSError, TimeoutError, errors.Error) as e:
                await _close_quietly(fresh, self._nats)
                reason = refusal(e, self._auth, "nats")
                if reason is not None:
                    raise PermanentTriggerError(f"{mask_url(url)} {reason}") from e
                raise TemporaryTriggerError(
                    f"cannot connect to {mask_url(url)}: {_describe(e)}"
                ) from e
            self._client, self._url = fresh, url
            return fresh

    async def _error(self, error: Exception) -> None:
        _LOG.debug("%s: nats client: %s", self._name, _describe(error))

    async def _drop(self, client: Any) -> None:
        """Forget ``client`` after a failure, so the next firing connects afresh."""
        if self._client is client:
            self._client = None
        await _close_quietly(client, self._nats)


def _headers(events: Mapping[str, Event]) -> dict[str, str]:
    names = sorted(events)
    headers: dict[str, str] = {}
    if names:
        headers[EVENT_IDS_HEADER] = ",".join(events[name].id for name in names)
    for name in names:
        traceparent = events[name].extensions.get("traceparent")
        if traceparent:
            headers["traceparent"] = traceparent
            break
    return headers


async def _close_quietly(client: Any, nats: Any) -> None:
    if client.is_closed:
        return
    try:
        async with asyncio.timeout(TIMEOUT):
            await client.close()
    except (TimeoutError, OSError, nats.errors.Error) as e:
        _LOG.debug("closing a nats connection: %s", _describe(e))


def _describe(error: BaseException) -> str:
    text = str(error)
    return text if text else type(error).__name__
