"""The ``http`` trigger: send one HTTP request per firing.

The spec (:class:`HTTPTrigger`) follows Argo Events' ``HTTPTrigger`` field for
field. Herald differs in behaviour, not in shape: any non-2xx answer is a
failure unless ``policy.status.allow`` lists the accepted codes, and every
request carries the ids of the events that fired it (``X-Herald-Event-Ids``)
so that receivers can deduplicate (see DESIGN.md).

:class:`HTTPTriggerRunner` is the adapter. It sends through the process-wide
pooled session of the :class:`~triggers.base.TriggerContext` and sorts every
failure into a temporary error (retry with backoff) or a permanent one (DLQ).
This module is the template the other trigger adapters copy.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

import aiohttp
import orjson
from aiohttp import hdrs
from multidict import CIMultiDict
from pydantic import Field, field_validator
from yarl import URL

from bus.event import Event
from herald.core.errors import PermanentTriggerError, SecretError, TemporaryTriggerError
from herald.core.model import Spec
from herald.core.refs import SecretStore
from herald.core.tls import BasicAuth, TLSConfig, client_ssl_context
from triggers.base import TriggerContext
from triggers.params import (
    PayloadParameter,
    SecureHeader,
    TriggerParameter,
    apply_to_spec,
    construct_payload,
    resolve,
)

HTTPMethod = Literal["GET", "DELETE", "PATCH", "POST", "PUT", ""]

DEFAULT_TIMEOUT_SECONDS = 60


class HTTPTrigger(Spec):
    """Send an HTTP request built from the events that fired the trigger."""

    url: str = Field(min_length=1, description="URL to send the request to.")
    method: HTTPMethod = Field(
        default="POST",
        description="HTTP method: GET, DELETE, PATCH, POST or PUT (empty means POST).",
    )
    payload: list[PayloadParameter] | None = Field(
        default=None,
        description="Builds the JSON body from event values; an entry with an empty dest "
        "supplies the whole body.",
    )
    parameters: list[TriggerParameter] | None = Field(
        default=None,
        description="Applied to this http spec (e.g. dest ``url``) before each request.",
    )
    headers: dict[str, str] | None = Field(default=None, description="Fixed request headers.")
    secure_headers: list[SecureHeader] | None = Field(
        default=None, description="Headers whose values are read from Secrets or ConfigMaps."
    )
    dynamic_headers: list[TriggerParameter] | None = Field(
        default=None, description="Headers taken from the events; dest is the header name."
    )
    basic_auth: BasicAuth | None = Field(default=None, description="HTTP basic authentication.")
    tls: TLSConfig | None = Field(default=None, description="Client TLS settings.")
    timeout: int = Field(
        default=DEFAULT_TIMEOUT_SECONDS,
        ge=0,
        description="Request timeout in seconds (0 means the default, 60).",
    )
    host: str | None = Field(
        default=None, description="Host header to send (virtual hosting), when not the URL's host."
    )

    @field_validator("method")
    @classmethod
    def _empty_is_post(cls, value: HTTPMethod) -> HTTPMethod:
        return value or "POST"

    @field_validator("timeout")
    @classmethod
    def _zero_is_default(cls, value: int) -> int:
        return value or DEFAULT_TIMEOUT_SECONDS


# ---------------------------------------------------------------------------- runner

EVENT_IDS_HEADER = "X-Herald-Event-Ids"
"""Header carrying the ids of the firing events (dependency-name order) for deduplication."""

EXCERPT_CHARS = 200
"""How much of a failed response's body an error message quotes."""

MAX_REDIRECTS = 10
"""Redirects followed per request, as Go's http.Client (which Argo uses) does."""

_EXCERPT_READ_BYTES = 4096
_TEMPORARY_STATUSES = frozenset({408, 429})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_NO_BODY_SKIP = (hdrs.CONTENT_TYPE,)
_LOG = logging.getLogger("herald.trigger.http")


class HTTPTriggerRunner:
    """Sends one HTTP request per firing through the process-wide aiohttp session.

    Request anatomy, in the order Argo builds it (a later source wins for the
    same header name, compared case-insensitively): ``headers``,
    ``dynamicHeaders`` (dest = header name, value = the resolved text),
    ``secureHeaders`` (read through the SecretStore on every request, so a
    rotated secret is picked up), ``basicAuth``; then ``Host`` when ``host`` is
    set, and always :data:`EVENT_IDS_HEADER`. A W3C ``traceparent`` carried by
    a firing event is forwarded unless a header already sets one.

    Body: the ``payload`` parameters build a JSON value that is sent with
    ``Content-Type: application/json`` (unless a header sets another type), for
    every method, GET and DELETE included, as Argo does. With no payload
    parameters, or none that resolved, no body is sent.

    Redirects are followed, at most :data:`MAX_REDIRECTS`, as Go's client does;
    the final answer is judged. Any 2xx is success unless the trigger's
    ``policy.status.allow`` is given (the ``allowed_statuses`` keyword, else
    ``context.allowed_statuses``), which is then the exact set of accepted
    codes. Failures: connection errors, timeouts, 408, 429 and 5xx are
    temporary (429 and 503 honour ``Retry-After``); a rejected TLS certificate,
    an invalid URL, too many redirects and every other code are permanent, as
    is a request aiohttp refuses to send (a line break in a header value taken
    from an event).

    Everything that a firing's parameters may change is read from the spec
    passed to :meth:`fire`; only the SSL context (from ``tls``) is built once,
    from the spec given at construction.
    """

    def __init__(
        self,
        spec: HTTPTrigger,
        context: TriggerContext,
        *,
        allowed_statuses: frozenset[int] | None = None,
    ) -> None:
        self._context = context
        # The keyword wins over the context's policy.status.allow; an empty
        # allow list means "not set", as in Argo.
        allowed = allowed_statuses if allowed_statuses is not None else context.allowed_statuses
        self._allowed = allowed or None
        self._ssl: ssl.SSLContext | bool = (
            client_ssl_context(spec.tls, context.secrets) if spec.tls is not None else True
        )
        self._timeouts: dict[int, aiohttp.ClientTimeout] = {}

    async def fire(self, spec: HTTPTrigger, events: Mapping[str, Event]) -> str:
        """Send the request for ``events``; return ``"POST http://… → 200 in 2.1 ms"``."""
        if spec.parameters:
            spec = apply_to_spec(spec, spec.parameters, events, "http")
        method, url = spec.method, spec.url
        headers = self._headers(spec, events)
        body: bytes | None = None
        if spec.payload:
            value = construct_payload(spec.payload, events)
            if value is not None:
                body = orjson.dumps(value, option=orjson.OPT_UTC_Z)
                if hdrs.CONTENT_TYPE not in headers:
                    headers[hdrs.CONTENT_TYPE] = "application/json"
        timeout = self._timeouts.get(spec.timeout)
        if timeout is None:
            timeout = self._timeouts[spec.timeout] = aiohttp.ClientTimeout(total=spec.timeout)

        excerpt = ""
        retry_after: float | None = None
        started = time.perf_counter()
        try:
            async with self._context.http().request(
                method,
                url,
                data=body,
                headers=headers,
                ssl=self._ssl,
                timeout=timeout,
                allow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                # aiohttp would label an empty body application/octet-stream.
                skip_auto_headers=None if body is not None else _NO_BODY_SKIP,
            ) as response:
                status = response.status
                accepted = (
                    status in self._allowed if self._allowed is not None else 200 <= status < 300
                )
                if accepted:
                    await _drain(response)
                else:
                    excerpt = await _excerpt(response)
                    retry_after = (
                        _retry_after(response.headers.get(hdrs.RETRY_AFTER))
                        if status in _RETRY_AFTER_STATUSES
                        else None
                    )
        except TimeoutError as e:
            raise TemporaryTriggerError(
                f"{method} {mask_url(url)}: no answer within {spec.timeout} s (timeout); "
                "raise http.timeout if the receiver is slow"
            ) from e
        except aiohttp.ClientConnectorCertificateError as e:
            raise PermanentTriggerError(
                f"{method} {mask_url(url)}: TLS certificate rejected ({e.certificate_error}); "
                "trust its CA with tls.caCertSecret"
            ) from e
        except aiohttp.ClientConnectionError as e:
            raise TemporaryTriggerError(
                f"{method} {mask_url(url)}: connection failed: {_describe(e)}"
            ) from e
        except aiohttp.TooManyRedirects as e:
            raise PermanentTriggerError(
                f"{method} {mask_url(url)}: more than {MAX_REDIRECTS} redirects"
            ) from e
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as e:
            raise PermanentTriggerError(
                f"{method} {mask_url(url)}: not a valid http(s) URL: {_describe(e)}"
            ) from e
        except aiohttp.ClientError as e:
            raise TemporaryTriggerError(
                f"{method} {mask_url(url)}: request failed: {_describe(e)}"
            ) from e
        except ValueError as e:
            # aiohttp refuses what it cannot send, e.g. a line break in a header
            # value taken from an event (header injection): retrying cannot help.
            raise PermanentTriggerError(
                f"{method} {mask_url(url)}: cannot send the request: {_describe(e)}"
            ) from e
        elapsed_ms = (time.perf_counter() - started) * 1000.0

        if accepted:
            return f"{method} {mask_url(url)} → {status} in {elapsed_ms:.1f} ms"
        expected = (
            f"expected one of {sorted(self._allowed)} (policy.status.allow)"
            if self._allowed is not None
            else "expected 2xx"
        )
        message = f"{method} {mask_url(url)} answered {status}, {expected}"
        if excerpt:
            message += f": {excerpt}"
        if status >= 500 or status in _TEMPORARY_STATUSES:
            raise TemporaryTriggerError(message, retry_after=retry_after)
        raise PermanentTriggerError(message)

    async def close(self) -> None:
        """Nothing to release: the HTTP session belongs to the TriggerContext."""

    def _headers(self, spec: HTTPTrigger, events: Mapping[str, Event]) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict(spec.headers) if spec.headers else CIMultiDict()
        if spec.dynamic_headers:
            for param in spec.dynamic_headers:
                try:
                    resolved = resolve(param.src, events)
                except PermanentTriggerError as e:
                    raise PermanentTriggerError(f"dynamicHeaders {param.dest!r}: {e}") from e
                if resolved is not None:
                    headers[param.dest] = resolved.text
        secrets = self._context.secrets
        if spec.secure_headers:
            for secure in spec.secure_headers:
                source = secure.value_from
                try:
                    if source.secret_key_ref is not None:
                        value = secrets.secret(source.secret_key_ref)
                    else:
                        assert source.config_map_key_ref is not None
                        value = secrets.configmap(source.config_map_key_ref)
                except SecretError as e:
                    raise PermanentTriggerError(f"secureHeaders {secure.name!r}: {e}") from e
                if value is not None:
                    headers[secure.name] = value
        if spec.basic_auth is not None:
            headers[hdrs.AUTHORIZATION] = _basic_auth(spec.basic_auth, secrets)
        if spec.host:
            headers[hdrs.HOST] = spec.host
        names = sorted(events)
        headers[EVENT_IDS_HEADER] = ",".join(events[name].id for name in names)
        if "traceparent" not in headers:
            for name in names:
                traceparent = events[name].extensions.get("traceparent")
                if traceparent:
                    headers["traceparent"] = traceparent
                    break
        return headers


def _basic_auth(auth: BasicAuth, secrets: SecretStore) -> str:
    """The Authorization header value for ``basicAuth`` (values never in messages)."""
    try:
        username = (secrets.secret(auth.username) if auth.username is not None else "") or ""
        password = (secrets.secret(auth.password) if auth.password is not None else "") or ""
    except SecretError as e:
        raise PermanentTriggerError(f"basicAuth: {e}") from e
    # As Go's SetBasicAuth: no check of the username (RFC 7617 forbids ':' in it).
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read an accepted answer's body so that its connection can be reused.

    The receiver has already accepted the request; a body that breaks off or
    arrives late does not make the firing a failure (the connection is just
    not reused).
    """
    try:
        await response.read()
    except (aiohttp.ClientError, TimeoutError) as e:
        _LOG.debug("answer body of %s not read: %s", mask_url(str(response.url)), _describe(e))


async def _excerpt(response: aiohttp.ClientResponse) -> str:
    """The start of a failed answer's body, on one line, for the error message."""
    try:
        raw = await response.content.read(_EXCERPT_READ_BYTES)
    except (aiohttp.ClientError, TimeoutError):
        return ""
    text = " ".join(raw.decode("utf-8", errors="replace").split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdecimal():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


def mask_url(url: str) -> str:
    """``url`` for messages and logs, with any userinfo replaced by ``***``."""
    if "@" not in url:
        return url
    try:
        parsed = URL(url)
    except ValueError:
        return "<unparseable URL>"
    if parsed.raw_user is None and parsed.raw_password is None:
        return url
    return str(parsed.with_password(None).with_user("***"))
