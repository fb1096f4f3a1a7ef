"""HTTP intake shared by the webhook-style sources: ``WebhookContext`` and ``HTTPServers``.

Argo's ``WebhookContext`` says where an HTTP-push source listens (port, endpoint,
method), how it authenticates callers (a bearer token), whether it serves TLS,
and how large a body it accepts. The ``webhook`` source inlines it, ``github``
nests it under ``webhook``. All events of one process that name the same port
share one server, so the same port and endpoint twice is an error (checked on
the EventSource, which sees every event, and again by :class:`HTTPServers`,
which sees every route of the process).

:class:`HTTPServers` is that shared server: one aiohttp low-level server per
port, each answering through a single catch-all handler that looks the request
path up in a dict of routes, so routes come and go while the port serves and a
request costs one dict lookup on top of aiohttp. It guarantees:

- ``GET /health`` answers 200 ``OK`` on every port (the path is reserved);
  any other unknown path answers 404 with a short plain-text reason;
- the same (port, endpoint) twice, or two routes of one port that disagree
  about TLS (plain vs TLS, or other certificate secrets), is a
  :class:`~herald.core.errors.ConfigError` naming both routes;
- a port is bound by the first ``await servers.listening(port)`` (sources call
  it right after :meth:`HTTPServers.add_route`, then set ``ready``); there is no
  background task: the listening socket belongs to the event loop's server and
  is released by :meth:`HTTPServers.close`. A port that cannot be bound raises
  :class:`~herald.core.errors.SourceError` naming it. A port keeps serving
  (health, 404) after its last route is removed, until ``close()``;
- ``close()`` stops accepting on every port first, lets in-flight requests
  finish for up to ``grace`` seconds, then cancels what is left and closes the
  connections. The runner calls it before cancelling the sources, so a request
  already inside a source's handler is answered once the bus has its event.

The module also holds what every HTTP-push source does to a request the way
Argo does it, so that siblings (which never import each other) share one
implementation: :func:`header_map` (Go's canonical header names, values as
lists), :func:`authenticate` (the ``authSecret`` bearer token, compared in
constant time, the header masked), :func:`read_body` (``maxPayloadSize``, 413)
and :func:`parse_json` (400 for invalid UTF-8, invalid JSON or too deep
nesting). They raise :class:`RequestRejected`; :func:`error_response` answers it.

aiohttp's access log is off: Herald logs one line per event elsewhere. aiohttp
itself is imported only when a port is bound, so loading manifests (``herald
validate``) does not pay for it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, TypeAlias

import orjson
from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator, model_validator

from eventsources.base import INT_OR_STRING, Metadata, Problem, field_error, invalid, metadata_field
from eventsources.payloads import MAX_BODY_DEPTH, too_deep
from eventsources.source import EmitResult
from herald.core.errors import BusError, ConfigError, SourceError
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector, SecretStore
from herald.core.tls import load_cert_chain

if TYPE_CHECKING:
    from aiohttp import web

    from bus.event import Event
    from eventsources.source import Emit

DEFAULT_MAX_PAYLOAD_SIZE = 1048576
"""Argo's default body limit: 1 MiB."""

HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD")

HttpMethod: TypeAlias = Literal["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]

_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")


def _port(value: object) -> object:
    """Argo writes the port as a string; accept a number too, keep the canonical string."""
    if isinstance(value, bool):
        raise field_error("invalid_port", "port must be a number from 1 to 65535, e.g. '12000'")
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            raise field_error(
                "invalid_port", f"port {value!r} is not a number: write e.g. port: '12000'"
            )
        number = int(text)
    elif isinstance(value, int):
        number = value
    else:
        raise field_error("invalid_port", "port must be a number from 1 to 65535, e.g. '12000'")
    if not 1 <= number <= 65535:
        raise field_error("invalid_port", f"port {number} is out of range: use 1 to 65535")
    return str(number)


Port: TypeAlias = Annotated[str, BeforeValidator(_port), WithJsonSchema(INT_OR_STRING)]


def _method(value: object) -> object:
    if isinstance(value, str) and value != value.upper() and value.upper() in HTTP_METHODS:
        raise field_error(
            "invalid_method",
            f"write the method in upper case ({value.upper()!r}): it is compared "
            "exactly with the request's method",
        )
    return value


Method: TypeAlias = Annotated[HttpMethod, BeforeValidator(_method)]


def check_url(value: str | None, what: str) -> str | None:
    """An http(s) URL with a host, or a clear error naming ``what``."""
    if value is not None and not _URL.match(value):
        raise field_error(
            "invalid_url",
            f"{what} {value!r} is not an http(s) URL: write e.g. https://example.com/path",
        )
    return value


class WebhookContext(Spec):
    """Where and how an HTTP-push source listens (Argo's ``WebhookContext``)."""

    endpoint: str = Field(
        description="URL path the server answers on, starting with '/', e.g. /example."
    )
    method: Method | None = Field(
        default=None,
        description="HTTP method to accept, upper case (the webhook source: GET or POST).",
    )
    port: Port = Field(description="Port the HTTP server listens on, e.g. '12000'.")
    url: str | None = Field(
        default=None,
        description="Public URL of this server, used when registering hooks (e.g. on GitHub).",
    )
    server_cert_secret: SecretKeySelector | None = Field(
        default=None, description="PEM certificate to serve TLS with (with serverKeySecret)."
    )
    server_key_secret: SecretKeySelector | None = Field(
        default=None, description="PEM private key to serve TLS with (with serverCertSecret)."
    )
    metadata: Metadata | None = metadata_field()
    auth_secret: SecretKeySelector | None = Field(
        default=None,
        description="Bearer token callers must send as 'Authorization: Bearer <token>'.",
    )
    max_payload_size: int | None = Field(
        default=None,
        gt=0,
        description="Largest request body accepted, in bytes (default 1048576 = 1 MiB).",
    )

    @field_validator("endpoint")
    @classmethod
    def _valid_endpoint(cls, value: str) -> str:
        if not value.startswith("/"):
            raise field_error(
                "invalid_endpoint",
                f"endpoint {value!r} must start with '/', e.g. endpoint: /example",
            )
        if any(c.isspace() for c in value) or "?" in value or "#" in value:
            raise field_error(
                "invalid_endpoint",
                f"endpoint {value!r} must be a plain URL path (no spaces, query or fragment)",
            )
        return value

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return check_url(value, "url")

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.server_cert_secret is None) != (self.server_key_secret is None):
            missing = "serverKeySecret" if self.server_key_secret is None else "serverCertSecret"
            raise invalid(
                Problem(
                    (missing,),
                    "serving TLS needs serverCertSecret and serverKeySecret together: "
                    "set both, or neither for plain HTTP",
                    None,
                ),
                title=type(self).__name__,
            )
        return self

    @property
    def max_payload_size_bytes(self) -> int:
        """The body limit in bytes, Argo's default when unset."""
        return self.max_payload_size or DEFAULT_MAX_PAYLOAD_SIZE

    @property
    def port_number(self) -> int:
        """The port as a number."""
        return int(self.port)

    @property
    def serves_tls(self) -> bool:
        """Whether the server for this context answers over HTTPS."""
        return self.server_cert_secret is not None and self.server_key_secret is not None

    def route_key(self) -> tuple[str, str]:
        """What must be unique among the events of one process: (port, endpoint)."""
        return (self.port, self.endpoint)


# ---------------------------------------------------------------------------------------
# The shared per-port server.

log = logging.getLogger("herald.http")

Handler: TypeAlias = "Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]"
"""What serves one route: an aiohttp request in, a response out."""

HEALTH_PATH = "/health"
"""Answered with 200 ``OK`` on every port; no route may use it."""

DEFAULT_GRACE = 10.0
"""Seconds ``close()`` lets in-flight requests finish before cancelling them."""

_ServerTLS: TypeAlias = tuple[SecretKeySelector, SecretKeySelector]
"""(certificate, key) secrets a port serves TLS with."""


def _describe_tls(tls: _ServerTLS | None) -> str:
    if tls is None:
        return "plain HTTP"
    cert, key = tls
    return (
        f"TLS with serverCertSecret {cert.name}/{cert.key} and serverKeySecret {key.name}/{key.key}"
    )


@dataclass(frozen=True, slots=True, eq=False)
class Route:
    """One registered (port, endpoint) and who registered it; pass it to ``remove_route``."""

    port: int
    endpoint: str
    owner: str
    """Who serves it, for messages: ``<eventSource>/<eventName>``."""
    handler: Handler
    tls: _ServerTLS | None


class _Port:
    """One port: its routes, the TLS it serves with, and once bound its aiohttp runner."""

    __slots__ = ("handlers", "lock", "number", "routes", "runner", "site", "tls", "tls_owner")

    def __init__(self, number: int, tls: _ServerTLS | None, tls_owner: Route) -> None:
        self.number = number
        self.routes: dict[str, Route] = {}
        # What the catch-all handler looks up: path -> handler (the health check included).
        self.handlers: dict[str, Handler] = {HEALTH_PATH: _health}
        self.tls = tls
        self.tls_owner = tls_owner
        self.lock = asyncio.Lock()
        self.runner: web.ServerRunner | None = None
        self.site: web.TCPSite | None = None

    async def dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        """The one handler of this port's server: route by path, else 404."""
        handler = self.handlers.get(request.path)
        if handler is not None:
            return await handler(request)
        return _not_found(request.path, self.number)


async def _health(request: web.BaseRequest) -> web.StreamResponse:
    from aiohttp import web

    return web.Response(text="OK")


def _not_found(path: str, port: int) -> web.StreamResponse:
    from aiohttp import web

    shown = path if len(path) <= 200 else path[:200] + "..."
    return web.Response(status=404, text=f"no endpoint {shown} on port {port}\n")


class HTTPServers:
    """The HTTP servers of one process: one per port, shared by every HTTP-push source.

    Use: ``route = servers.add_route(context, handler, owner="es/event")``, then
    ``await servers.listening(context.port_number)`` (binds the port the first
    time), serve, and ``servers.remove_route(route)`` when the source stops.
    ``await servers.close()`` once at shutdown (idempotent).
    """

    def __init__(
        self,
        *,
        host: str = "0.0.0.0",  # an EventSource listens for outside callers
        secrets: SecretStore | None = None,
        grace: float = DEFAULT_GRACE,
    ) -> None:
        if grace < 0:
            raise ConfigError(f"shutdown grace must be >= 0 seconds, got {grace}")
        self._host = host
        self._secrets = secrets if secrets is not None else SecretStore()
        self._grace = grace
        self._ports: dict[int, _Port] = {}
        self._closed = False
        self._close_lock = asyncio.Lock()

    @property
    def host(self) -> str:
        """The address every port binds to."""
        return self._host

    def add_route(self, context: WebhookContext, handler: Handler, *, owner: str) -> Route:
        """Serve ``context.endpoint`` on ``context.port`` with ``handler``.

        Takes effect at once, also on a port that already listens. Raises
        :class:`ConfigError` when the (port, endpoint) is taken, when the endpoint
        is the reserved health path, or when the port serves other TLS settings.
        """
        if self._closed:
            raise SourceError(
                f"{owner}: cannot add a route on port {context.port}: the HTTP servers are closed"
            )
        number = context.port_number
        endpoint = context.endpoint
        tls: _ServerTLS | None = None
        if context.server_cert_secret is not None and context.server_key_secret is not None:
            tls = (context.server_cert_secret, context.server_key_secret)
        if endpoint == HEALTH_PATH:
            raise ConfigError(
                f"{owner}: endpoint {HEALTH_PATH} on port {number} is reserved for the "
                "server's health check: choose another endpoint"
            )
        route = Route(number, endpoint, owner, handler, tls)
        port = self._ports.get(number)
        if port is None:
            port = self._ports[number] = _Port(number, tls, route)
        taken = port.routes.get(endpoint)
        if taken is not None:
            raise ConfigError(
                f"port {number} endpoint {endpoint} is served by {taken.owner} and also "
                f"asked for by {owner}: give one of them another port or endpoint"
            )
        if port.tls != tls:
            if port.routes or port.site is not None:
                raise ConfigError(
                    f"port {number}: {port.tls_owner.owner} serves it with "
                    f"{_describe_tls(port.tls)}, but {owner} asks for "
                    f"{_describe_tls(tls)}: every route of one port must use the same "
                    "serverCertSecret and serverKeySecret (or none)"
                )
            port.tls, port.tls_owner = tls, route
        port.routes[endpoint] = route
        port.handlers[endpoint] = handler
        return route

    def remove_route(self, route: Route) -> None:
        """Stop serving ``route``; its path answers 404 from now on. Idempotent."""
        port = self._ports.get(route.port)
        if port is None or port.routes.get(route.endpoint) is not route:
            return
        del port.routes[route.endpoint]
        del port.handlers[route.endpoint]

    async def listening(self, port: int) -> None:
        """Return once ``port`` accepts connections, binding it on the first call.

        Raises :class:`SourceError` when the port cannot be bound (e.g. in use)
        or the servers are closed, and :class:`ConfigError` when its TLS
        certificate or key cannot be read or loaded.
        """
        state = self._ports.get(port)
        if state is None:
            raise SourceError(
                f"no route on port {port}: add a route with add_route() before waiting "
                "for its port to listen"
            )
        async with state.lock:
            if self._closed:
                raise SourceError(f"cannot listen on port {port}: the HTTP servers are closed")
            if state.site is not None:
                return
            await self._bind(state)

    async def _bind(self, state: _Port) -> None:
        from aiohttp import web

        context = self._ssl_context(state) if state.tls is not None else None
        server = web.Server(state.dispatch, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=self._grace)
        await runner.setup()
        site = web.TCPSite(runner, self._host, state.number, ssl_context=context)
        try:
            await site.start()
        except OSError as e:
            await runner.cleanup()
            reason = e.strerror or str(e)
            raise SourceError(
                f"cannot listen on {self._host}:{state.number}: {reason} (used by "
                f"{state.tls_owner.owner}; is another process or EventSource using that port?)"
            ) from e
        state.runner, state.site = runner, site
        scheme = "https" if context is not None else "http"
        log.info("listening on %s://%s:%d", scheme, self._host, state.number)

    def _ssl_context(self, state: _Port) -> ssl.SSLContext:
        assert state.tls is not None
        cert_ref, key_ref = state.tls
        cert = self._secrets.secret_bytes(cert_ref)
        key = self._secrets.secret_bytes(key_ref)
        if cert is None or key is None:
            absent = cert_ref if cert is None else key_ref
            raise ConfigError(
                f"port {state.number} ({state.tls_owner.owner}): secret {absent.name}/"
                f"{absent.key} is marked optional and absent, but serving TLS needs it"
            )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            load_cert_chain(context, cert, key)
        except ConfigError as e:
            raise ConfigError(
                f"port {state.number} ({state.tls_owner.owner}): serverCertSecret "
                f"{cert_ref.name}/{cert_ref.key} and serverKeySecret {key_ref.name}/"
                f"{key_ref.key}: {e.reason}"
            ) from e
        return context

    async def close(self) -> None:
        """Stop accepting everywhere, let in-flight requests finish up to the grace, close.

        Idempotent; a second call returns once the first has finished.
        """
        async with self._close_lock:
            if self._closed:
                return
            self._closed = True
            bound: list[_Port] = []
            for state in self._ports.values():
                async with state.lock:
                    if state.site is not None:
                        await state.site.stop()  # no new connections from here on
                        bound.append(state)
            runners = [state.runner for state in bound if state.runner is not None]
            results = await asyncio.gather(
                *(runner.cleanup() for runner in runners), return_exceptions=True
            )
            for state in bound:
                state.runner, state.site = None, None
            for state, result in zip(bound, results, strict=True):
                if isinstance(result, Exception):
                    log.error("closing port %d failed", state.number, exc_info=result)
                elif isinstance(result, BaseException):
                    raise result


# ---------------------------------------------------------------------------------------
# Request handling shared by the HTTP-push sources (webhook, github, ...): Argo's header
# shape, bearer auth, the body limit and JSON checks. Sources answer a RequestRejected
# with error_response().

MASKED_AUTH = "*** Masked Auth Secret ***"
"""What the ``Authorization`` header becomes in event data (Argo's text)."""


# Header names Go's server moves out of the header map (into Request.Host and
# Request.TransferEncoding), so Argo's event data never has them.
_NOT_IN_DATA = ("Host", "Transfer-Encoding")

# RFC 9110 token characters: Go canonicalises only header names made of these.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_CANONICAL: dict[bytes, str] = {}
_CANONICAL_MAX = 1024  # raw names remembered; a hostile client cannot grow it further


class RequestRejected(Exception):
    """A request to answer with an error ``status`` and a short plain-text ``reason``.

    The reason goes to the client as it is: it must never contain a secret.
    """

    def __init__(self, status: int, reason: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


JSON_HEADERS: Mapping[str, str] = {"Content-Type": "application/json"}
"""Headers of a JSON answer."""


async def emit_and_answer(
    emit: Emit,
    event: Event,
    response: type[web.Response],
    logger: logging.Logger,
    owner: str,
    what: str = "event",
) -> web.Response:
    """Emit ``event``, then answer the request that brought it.

    200 with ``{"id"}``, flagged ``duplicate`` or ``filtered`` when the bus or
    the source filter did not take it; 503 with ``Retry-After`` when the bus
    refused it (the sender retries, nothing is lost); 500 on any other failure.
    ``what`` names the input in log lines ("event", "delivery").
    """
    try:
        result = await emit(event)
    except BusError as e:
        logger.warning("%s: %s %s not recorded, answered 503: %s", owner, what, event.id, e)
        return error_response(RequestRejected(503, "failed to record event", {"Retry-After": "1"}))
    except Exception:
        logger.exception("%s: %s %s: emit failed, answered 500", owner, what, event.id)
        return error_response(RequestRejected(500, "failed to record event: internal error"))
    if result is EmitResult.PUBLISHED:
        answer: dict[str, object] = {"id": event.id}
    elif result is EmitResult.DUPLICATE:
        logger.debug("%s: %s %s arrived again: not published twice", owner, what, event.id)
        answer = {"id": event.id, "duplicate": True}
    else:
        answer = {"id": event.id, "filtered": True}
    return response(body=orjson.dumps(answer), headers=JSON_HEADERS)


def error_response(rejected: RequestRejected) -> web.Response:
    """The plain-text answer to a rejected request."""
    from aiohttp import web

    return web.Response(
        status=rejected.status, text=rejected.reason + "\n", headers=rejected.headers
    )


def canonical_header_key(name: str) -> str:
    """``name`` as Go's ``textproto.CanonicalMIMEHeaderKey`` writes it.

    The first letter and every letter after a ``-`` upper case, the rest lower
    case (``x-github-event`` -> ``X-Github-Event``); a name with a character that
    is not valid in a header name (a space, ``:``, non-ASCII) is left as it is.
    """
    if not name or not _TOKEN.issuperset(name):
        return name
    return "-".join(part.capitalize() for part in name.split("-"))


def _canonical(raw: bytes) -> str:
    key = _CANONICAL.get(raw)
    if key is None:
        key = canonical_header_key(raw.decode("utf-8", "replace"))
        if len(_CANONICAL) < _CANONICAL_MAX:
            _CANONICAL[raw] = key
    return key


def header_map(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    """Request headers as a Go server hands them to Argo (``http.Header``).

    Canonical names, every value of a name in arrival order, invalid UTF-8 as
    U+FFFD (as Go's JSON encoder writes it), and no ``Host`` or
    ``Transfer-Encoding`` (Go's server moves them out of the map).
    """
    out: dict[str, list[str]] = {}
    for name, value in raw_headers:
        key = _CANONICAL.get(name) or _canonical(name)
        text = value.decode("utf-8", "replace")
        values = out.get(key)
        if values is None:
            out[key] = [text]
        else:
            values.append(text)
    for dropped in _NOT_IN_DATA:
        out.pop(dropped, None)
    return out


def bearer_token(context: WebhookContext, secrets: SecretStore, owner: str) -> bytes | None:
    """The token callers must present under ``authSecret``, or None when none is set.

    Read once when the source is built; the value is never logged. An empty or
    absent secret is a :class:`ConfigError` (it would let anyone in, or no one).
    """
    ref = context.auth_secret
    if ref is None:
        return None
    token = secrets.secret(ref)
    if not token or not token.strip():
        state = "is optional and absent" if token is None else "is empty"
        raise ConfigError(
            f"{owner}: authSecret {ref.name}/{ref.key} {state}: put the bearer token "
            "there, or remove authSecret to accept unauthenticated callers"
        )
    return token.strip().encode("utf-8")


def _unauthorised(reason: str) -> RequestRejected:
    return RequestRejected(401, reason, {"WWW-Authenticate": "Bearer"})


def authenticate(header: dict[str, list[str]], token: bytes | None) -> None:
    """Check ``Authorization: Bearer <token>`` (constant time) and mask the header.

    ``header`` is a :func:`header_map`; its ``Authorization`` becomes
    :data:`MASKED_AUTH` whether or not a token is required, as in Argo. Raises
    :class:`RequestRejected` 401 with ``WWW-Authenticate: Bearer``.
    """
    values = header.get("Authorization")
    if values is not None:
        header["Authorization"] = [MASKED_AUTH]
    if token is None:
        return
    if values is None:
        raise _unauthorised("missing Authorization header: send 'Authorization: Bearer <token>'")
    scheme, _, presented = values[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        raise _unauthorised("Authorization header is not a bearer token: send 'Bearer <token>'")
    if not hmac.compare_digest(presented.strip().encode("utf-8"), token):
        raise _unauthorised("invalid bearer token")


def _too_large(limit: int, what: str) -> RequestRejected:
    return RequestRejected(
        413, f"{what} exceeds maxPayloadSize ({limit} bytes): send less, or raise the limit"
    )


async def read_body(request: web.BaseRequest, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes, or :class:`RequestRejected`.

    A ``Content-Length`` above the limit is refused (413) before reading; a
    chunked (or compressed) body is read until it passes the limit, then refused.
    A body cut short by the client is a 400.
    """
    length = request.content_length
    if length is not None and length > limit:
        raise _too_large(limit, f"Content-Length {length}")
    content = request.content
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            chunk = await content.readany()
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise _too_large(limit, "the body")
            chunks.append(chunk)
    except ConnectionError:
        # The client went away mid-body: nothing to emit, nobody to answer.
        raise RequestRejected(400, "the connection closed before the body ended") from None
    except Exception as e:
        from aiohttp.web_protocol import RequestPayloadError

        if isinstance(e, RequestPayloadError):
            raise RequestRejected(400, f"could not read the body: {e}") from None
        raise
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(raw: bytes, what: str = "body") -> Any:
    """``raw`` as a JSON value, or :class:`RequestRejected` (400) saying what is wrong.

    Refuses invalid UTF-8, invalid JSON and nesting deeper than
    :data:`MAX_BODY_DEPTH`.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise RequestRejected(
                400, f"{what} is not valid UTF-8 (byte {bad.start}): send UTF-8 JSON"
            ) from None
        if "depth" in str(e) or "recursion" in str(e).lower():
            raise RequestRejected(
                400, f"{what} nests deeper than {MAX_BODY_DEPTH} levels: flatten it"
            ) from None
        raise RequestRejected(400, f"{what} is not valid JSON: {e}") from None
    if too_deep(raw, value):
        raise RequestRejected(400, f"{what} nests deeper than {MAX_BODY_DEPTH} levels: flatten it")
    return value
