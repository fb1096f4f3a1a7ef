"""The ``github`` source: GitHub webhook deliveries for repositories or organisations.

The config is Argo's ``GithubEventSource``; Argo's deprecated ``id``, ``owner``
and ``repository`` still load, with a warning (``owner`` plus ``repository``
count as one entry of ``repositories``).

:class:`GithubSource` serves one event on the process's shared
:class:`~eventsources.http_server.HTTPServers` (``webhook``: port, endpoint,
TLS from ``serverCertSecret``/``serverKeySecret``, ``maxPayloadSize``, default
1 MiB; GitHub itself sends at most 25 MB). Each delivery becomes exactly one
event, answered only once ``emit`` returned (the bus has it):

- data ``{"headers": {...}, "body": {...}, "metadata": {...}}`` (Argo's
  ``GithubEventData``: plural ``headers``, Go-canonical names such as
  ``X-Github-Event``, values as lists, ``metadata`` only when set), and, as
  Argo does, the body gains the keys ``X-GitHub-Event`` and
  ``X-GitHub-Delivery`` with those headers' values;
- ``source`` = EventSource name, ``type`` = ``github``, ``subject`` = event
  name, and ``id`` = the ``X-GitHub-Delivery`` GUID, so a delivery that comes
  again within the bus's dedup window (a retry, or "Redeliver" on GitHub) is
  recorded once: the second answer is 200 ``{"id": ..., "duplicate": true}``;
- ``contentType: json`` deliveries are the JSON body; ``form`` ones are
  ``application/x-www-form-urlencoded`` with the JSON in the ``payload``
  field. Both are accepted whatever ``contentType`` says (it only shapes the
  hook Herald registers); the signature is over the raw bytes either way.

Answers, checked in this order:

- 405 (``Allow: POST``) for another method;
- 415 for a ``Content-Type`` that is neither of GitHub's two;
- 413 for a body above ``maxPayloadSize``;
- with ``webhookSecret``: 401 without ``X-Hub-Signature-256``, 403 when it is
  not ``sha256=`` + the hex HMAC-SHA256 of the raw body under the secret
  (compared in constant time). The legacy SHA-1 ``X-Hub-Signature`` alone is
  refused (401): GitHub sends the SHA-256 header with every signed delivery,
  and accepting SHA-1 alone would let a downgraded request through (Argo,
  through go-github, falls back to it). Without ``webhookSecret`` nothing is
  checked, as in Argo, and a warning is logged when the source starts;
- 400 without ``X-GitHub-Event`` or ``X-GitHub-Delivery`` (the delivery id must
  be 1 to 128 printable ASCII characters), for a form without ``payload``, and
  for a payload that is not a JSON object (invalid UTF-8 or JSON, too deep);
- 200 ``{"id": ..., "ignored": true, "reason": ...}``, nothing published, for
  an event type not in ``events``. Argo uses ``events`` only to register the
  hook and publishes whatever arrives; Herald also filters here, so that a
  hand-made hook or a hook with more events cannot fire sensors for types the
  EventSource does not name. ``"*"`` takes every type except ``ping``: GitHub
  sends a ``ping`` when a hook is created, it is answered 200 and published
  only when ``events`` names ``ping`` explicitly;
- 503 (``Retry-After: 1``) when the bus cannot take the event, 500 on any
  other failure of ``emit``; 200 ``{"id": ...}`` when published (with
  ``"filtered": true`` when the EventSource ``filter`` dropped it).

Secrets (``webhookSecret``, ``apiToken``, ``githubApp.privateKey``) are read
through :class:`~herald.core.refs.SecretStore` when the source is built, so a
missing one is refused before anything starts; none of them is ever logged,
answered or put into an event, and an ``Authorization``, ``Proxy-Authorization``
or ``Cookie`` header (GitHub sends none) is masked in the event data.

Hook lifecycle (with ``apiToken`` or ``githubApp``, and ``webhook.url``): once
the route listens (so GitHub's ping on creation finds it), the source makes
each repository or organisation have a hook for ``<webhook.url><endpoint>``
through :mod:`eventsources.github_api`: it reuses the hook GitHub has for that
URL, updating it when its events, ``active``, content type or TLS check differ
(and once per run to set the secret, which GitHub never shows), or creates it.
``active`` defaults to true and ``contentType`` to json: Argo sends its unset
``active`` as false, which registers a hook that never delivers, and GitHub's
own default content type is form. ``ping`` is not sent as a hook event.

A scope whose hook cannot be registered (no permission, unknown repository,
GitHub unreachable) does not stop the source, unlike Argo's start: the error is
logged with GitHub's status and message, deliveries are still served (a hook
can be added by hand), and the pass is retried with backoff (2 s doubling to
60 s, 8 times). After a pass that succeeded the hooks are checked again every
60 s, 10 times (as Argo does, for a rolling update whose old pod deleted the
hook on its way out). With ``deleteHookOnFinish`` the hooks are deleted when the
source stops (within 10 s; one already gone is fine).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Self
from urllib.parse import parse_qs

import orjson
from pydantic import Field, field_validator, model_validator

from bus.event import Event
from eventsources.base import (
    EventSourceFilter,
    Loc,
    Metadata,
    Note,
    Problem,
    SourceConfig,
    field_error,
    filter_field,
    metadata_field,
    raise_problems,
)
from eventsources.github_api import (
    AppCredentials,
    Credentials,
    GitHubAPI,
    GitHubAPIError,
    HookScope,
    TokenCredentials,
    api_base_url,
    desired_hook,
    reconcile_hook,
)
from eventsources.http_server import (
    JSON_HEADERS,
    HTTPServers,
    RequestRejected,
    WebhookContext,
    check_url,
    emit_and_answer,
    error_response,
    header_map,
    parse_json,
    read_body,
)
from eventsources.source import Emit, SourceContext
from herald.core.errors import ConfigError
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector, SecretStore

if TYPE_CHECKING:
    from aiohttp import web


def _no_blank(values: list[str], what: str) -> list[str]:
    for value in values:
        if not value.strip():
            raise field_error("blank_name", f"{what} must not contain an empty name")
    return values


class OwnedRepositories(Spec):
    """Repositories of one owner (user or organisation)."""

    owner: str = Field(min_length=1, description="User or organisation, e.g. argoproj.")
    names: list[str] = Field(min_length=1, description="Repository names, e.g. [argo-events].")

    @field_validator("names")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return _no_blank(value, "names")


class GithubAppCreds(Spec):
    """Credentials of a GitHub App installation, instead of a personal token."""

    private_key: SecretKeySelector = Field(description="The App's PEM private key.")
    app_id: int = Field(alias="appID", gt=0, description="The App's numeric ID.")
    installation_id: int = Field(
        alias="installationID", gt=0, description="The numeric ID of the App's installation."
    )


class GithubEventSource(SourceConfig):
    """One GitHub event: where the hook delivers, what it covers, how it is verified."""

    repositories: list[OwnedRepositories] | None = Field(
        default=None,
        description="Repositories to hook, per owner. Set this or organizations.",
    )
    organizations: list[str] | None = Field(
        default=None,
        description="Organisations to hook (organisation-level hooks). Set this or repositories.",
    )
    webhook: WebhookContext = Field(
        description="Where GitHub delivers: port, endpoint and the public url of this server."
    )
    events: list[str] = Field(
        min_length=1,
        description="GitHub event types the hook subscribes to, e.g. [push] or ['*'].",
    )
    api_token: SecretKeySelector | None = Field(
        default=None, description="Personal access token used to register the hook."
    )
    github_app: GithubAppCreds | None = Field(
        default=None, description="GitHub App credentials used to register the hook."
    )
    webhook_secret: SecretKeySelector | None = Field(
        default=None,
        description="Secret GitHub signs deliveries with; unsigned or badly signed ones get 4xx.",
    )
    insecure: bool | None = Field(
        default=None, description="Let GitHub skip TLS verification when delivering."
    )
    active: bool | None = Field(
        default=None, description="Whether the registered hook is active on GitHub."
    )
    content_type: Literal["json", "form"] | None = Field(
        default=None, description="How GitHub encodes deliveries: json or form."
    )
    github_base_url: str | None = Field(
        default=None,
        alias="githubBaseURL",
        description="API base URL of GitHub Enterprise (with githubUploadURL).",
    )
    github_upload_url: str | None = Field(
        default=None,
        alias="githubUploadURL",
        description="Upload URL of GitHub Enterprise (with githubBaseURL).",
    )
    delete_hook_on_finish: bool | None = Field(
        default=None, description="Delete the registered hook when the EventSource stops."
    )
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()
    id: int | None = Field(
        default=None, description="Deprecated and unused (Argo): the hook's id. Remove it."
    )
    owner: str | None = Field(
        default=None,
        description="Deprecated (Argo): use repositories: [{owner, names}] instead.",
    )
    repository: str | None = Field(
        default=None,
        description="Deprecated (Argo): use repositories: [{owner, names}] instead.",
    )

    @field_validator("organizations")
    @classmethod
    def _organizations(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _no_blank(value, "organizations")

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return _no_blank(value, "events")

    @field_validator("github_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return check_url(value, "githubBaseURL")

    @field_validator("github_upload_url")
    @classmethod
    def _upload_url(cls, value: str | None) -> str | None:
        return check_url(value, "githubUploadURL")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = []
        if bool(self.owner) != bool(self.repository):
            missing = "repository" if not self.repository else "owner"
            problems.append(
                Problem(
                    (missing,),
                    "the deprecated owner and repository go together; better, replace both "
                    "with repositories: [{owner: ..., names: [...]}]",
                    None,
                )
            )
        legacy = bool(self.owner and self.repository)
        if self.repositories and legacy:
            problems.append(
                Problem(
                    ("owner",),
                    "owner and repository are ignored when repositories is set: move them "
                    "into repositories",
                    self.owner,
                )
            )
        has_repos = bool(self.repositories) or legacy
        has_orgs = bool(self.organizations)
        if has_repos and has_orgs:
            problems.append(
                Problem(
                    ("organizations",),
                    "set repositories or organizations, not both (one hook scope per event)",
                    self.organizations,
                )
            )
        elif not has_repos and not has_orgs and not problems:
            problems.append(
                Problem(
                    (),
                    "say what to hook: set repositories: [{owner, names}] or organizations: [...]",
                    None,
                )
            )
        if self.api_token is not None and self.github_app is not None:
            problems.append(
                Problem(
                    ("githubApp",),
                    "set apiToken or githubApp, not both (Argo would silently use apiToken)",
                    None,
                )
            )
        if bool(self.github_base_url) != bool(self.github_upload_url):
            missing = "githubUploadURL" if not self.github_upload_url else "githubBaseURL"
            problems.append(
                Problem(
                    (missing,),
                    "GitHub Enterprise needs githubBaseURL and githubUploadURL together "
                    "(so that nothing is sent to public GitHub by mistake)",
                    None,
                )
            )
        raise_problems(problems, type(self).__name__)
        return self

    @property
    def owned_repositories(self) -> list[OwnedRepositories]:
        """The repositories to hook, the deprecated owner/repository included."""
        if self.repositories:
            return list(self.repositories)
        if self.owner and self.repository:
            legacy = {"owner": self.owner, "names": [self.repository]}
            return [OwnedRepositories.model_validate(legacy)]
        return []

    @property
    def creates_hooks(self) -> bool:
        """Whether Herald registers the hook on GitHub (credentials and webhook.url set)."""
        has_creds = self.api_token is not None or self.github_app is not None
        return has_creds and bool(self.webhook.url)

    def http_route(self) -> tuple[Loc, WebhookContext]:
        """GitHub delivers to the nested webhook context."""
        return (("webhook",), self.webhook)

    def manifest_warnings(self) -> list[Note]:
        """Deprecated fields, and webhook fields GitHub events do not use."""
        notes: list[Note] = []
        if self.id is not None:
            notes.append((("id",), "id is deprecated and unused: remove it"))
        if self.owner is not None or self.repository is not None:
            owner, name = self.owner or "...", self.repository or "..."
            notes.append(
                (
                    ("owner",) if self.owner is not None else ("repository",),
                    "owner and repository are deprecated: write "
                    f"repositories: [{{owner: {owner}, names: [{name}]}}] instead",
                )
            )
        if self.webhook.metadata:
            notes.append(
                (
                    ("webhook", "metadata"),
                    "github events carry the event-level metadata, not webhook.metadata: "
                    "move it up one level",
                )
            )
        if self.webhook.auth_secret is not None:
            notes.append(
                (
                    ("webhook", "authSecret"),
                    "GitHub cannot send a bearer token, so authSecret is not checked for "
                    "github events: deliveries are verified with webhookSecret instead",
                )
            )
        if self.webhook.method not in (None, "POST"):
            notes.append(
                (
                    ("webhook", "method"),
                    f"GitHub always delivers with POST, never {self.webhook.method}: "
                    "set method: POST or leave it out",
                )
            )
        return notes


# ---------------------------------------------------------------------------------------
# The runnable source.

log = logging.getLogger("herald.source.github")

EVENT_TYPE = "github"
"""The ``type`` attribute of every event of this source."""

EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
SIGNATURE_HEADER = "X-Hub-Signature-256"
# The same names as header_map() spells them (Go's canonical form).
_EVENT_KEY = "X-Github-Event"
_DELIVERY_KEY = "X-Github-Delivery"
_SIGNATURE_KEY = "X-Hub-Signature-256"
_SHA1_KEY = "X-Hub-Signature"

JSON_MEDIA = "application/json"
FORM_MEDIA = "application/x-www-form-urlencoded"

MASKED_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")
"""Headers whose values never reach event data (GitHub sends none of them)."""
MASKED = "*** Masked ***"

_DELIVERY_ID = re.compile(r"[!-~]{1,128}")


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body`` signed with ``secret``."""
    return "sha256=" + hmac.digest(secret, body, "sha256").hex()


def signature_matches(secret: bytes, body: bytes, presented: str) -> bool:
    """Whether ``presented`` is the signature of ``body`` (constant time, hex case ignored)."""
    expected = sign(secret, body).encode("ascii")
    return hmac.compare_digest(expected, presented.strip().lower().encode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class HookTiming:
    """When the source talks to GitHub about its hooks (tests shorten it)."""

    start_jitter: float = 1.0
    """Up to this many seconds of random wait before the first pass, so that replicas
    starting together do not both create a hook (Argo waits up to 2 s)."""
    first_retry: float = 2.0
    """Wait after the first failed pass; doubles after each further failure."""
    max_retry: float = 60.0
    """Longest wait between failed passes."""
    retries: int = 8
    """Failed passes in a row retried before giving up (deliveries are still served)."""
    recheck_interval: float = 60.0
    """Wait between passes once every hook is in place."""
    rechecks: int = 10
    """Passes after the first successful one (Argo: 10, every 60 s)."""
    request_timeout: float = 10.0
    """Seconds one GitHub API request may take."""
    finish_timeout: float = 10.0
    """Seconds deleting the hooks at stop may take in all."""


class _Skip(Exception):
    """A delivery answered 200 without being published (its event type is not wanted)."""

    def __init__(self, delivery: str, reason: str) -> None:
        super().__init__(reason)
        self.answer = {"id": delivery, "ignored": True, "reason": reason}


def _first(header: Mapping[str, list[str]], key: str) -> str | None:
    values = header.get(key)
    return values[0] if values else None


def _form_payload(raw: bytes) -> bytes:
    """The ``payload`` field of a form-encoded delivery, as bytes."""
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise RequestRejected(400, "form body is not valid UTF-8, percent-decoded") from None
    values = fields.get("payload")
    if not values:
        raise RequestRejected(
            400, "form body has no 'payload' field: GitHub puts the JSON payload there"
        )
    return values[0].encode("utf-8")


class _Intake:
    """One running github route: checks a delivery, emits its event, answers."""

    __slots__ = (
        "_all",
        "_emit",
        "_events",
        "_limit",
        "_metadata",
        "_name",
        "_owner",
        "_response",
        "_secret",
        "_source",
    )

    def __init__(self, source: GithubSource, emit: Emit, response: type[web.Response]) -> None:
        config = source.config
        self._response = response
        self._emit = emit
        self._source = source.context.event_source
        self._name = source.context.event_name
        self._owner = source.owner
        self._secret = source.webhook_secret
        self._limit = config.webhook.max_payload_size_bytes
        self._metadata = dict(config.metadata) if config.metadata else None
        self._events = frozenset(config.events)
        self._all = "*" in self._events

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one delivery; the event is emitted (and awaited) before a 200."""
        try:
            event = await self._event(request)
        except RequestRejected as rejected:
            level = logging.INFO if rejected.status in (401, 403) else logging.DEBUG
            log.log(level, "%s: %d %s", self._owner, rejected.status, rejected.reason)
            return error_response(rejected)
        except _Skip as skipped:
            log.debug("%s: delivery %s ignored: %s", self._owner, skipped.answer["id"], skipped)
            return self._response(body=orjson.dumps(skipped.answer), headers=JSON_HEADERS)
        return await emit_and_answer(
            self._emit, event, self._response, log, self._owner, "delivery"
        )

    def _wanted(self, event_type: str) -> bool:
        if event_type == "ping":
            return "ping" in self._events
        return self._all or event_type in self._events

    def _verify(self, header: Mapping[str, list[str]], raw: bytes, secret: bytes) -> None:
        presented = _first(header, _SIGNATURE_KEY)
        if presented is None:
            if _SHA1_KEY in header:
                raise RequestRejected(
                    401,
                    f"only the SHA-1 X-Hub-Signature was sent: this endpoint requires "
                    f"{SIGNATURE_HEADER} (GitHub sends it with every signed delivery)",
                )
            raise RequestRejected(
                401,
                f"missing {SIGNATURE_HEADER}: deliveries must be signed with the hook's "
                "secret (the EventSource's webhookSecret)",
            )
        if not signature_matches(secret, raw, presented):
            raise RequestRejected(
                403,
                f"{SIGNATURE_HEADER} does not match the body: check that the hook's secret "
                "is the EventSource's webhookSecret",
            )

    async def _event(self, request: web.BaseRequest) -> Event:
        """The event for ``request``; RequestRejected or _Skip otherwise."""
        if request.method != "POST":
            raise RequestRejected(
                405,
                f"method {request.method} not allowed: GitHub delivers with POST",
                {"Allow": "POST"},
            )
        header = header_map(request.raw_headers)
        for name in MASKED_HEADERS:
            if name in header:
                header[name] = [MASKED]
        content_type = _first(header, "Content-Type")
        media = content_type.partition(";")[0].strip().lower() if content_type else ""
        if media not in (JSON_MEDIA, FORM_MEDIA):
            shown = repr(content_type[:100]) if content_type else "none"
            raise RequestRejected(
                415,
                f"Content-Type {shown} is not supported: GitHub sends {JSON_MEDIA} "
                f"(contentType: json) or {FORM_MEDIA} (contentType: form)",
            )
        raw = await read_body(request, self._limit)
        if self._secret is not None:
            self._verify(header, raw, self._secret)
        event_type = _first(header, _EVENT_KEY)
        if not event_type:
            raise RequestRejected(400, f"missing {EVENT_HEADER} header: is this a GitHub delivery?")
        delivery = _first(header, _DELIVERY_KEY)
        if not delivery:
            raise RequestRejected(
                400, f"missing {DELIVERY_HEADER} header: is this a GitHub delivery?"
            )
        if not _DELIVERY_ID.fullmatch(delivery):
            raise RequestRejected(
                400, f"{DELIVERY_HEADER} must be 1 to 128 printable ASCII characters (a GUID)"
            )
        if not self._wanted(event_type):
            if event_type == "ping":
                reason = "ping: the hook reaches Herald; add 'ping' to events to publish pings"
            else:
                shown = event_type if len(event_type) <= 100 else event_type[:100] + "..."
                reason = f"event type {shown!r} is not in this EventSource's events"
            raise _Skip(delivery, reason)
        payload = raw if media == JSON_MEDIA else _form_payload(raw)
        body = parse_json(payload, "payload")
        if not isinstance(body, dict):
            raise RequestRejected(400, "payload must be a JSON object, as GitHub sends")
        body[EVENT_HEADER] = event_type
        body[DELIVERY_HEADER] = delivery
        data: dict[str, Any] = {"headers": header, "body": body}
        if self._metadata is not None:
            data["metadata"] = dict(self._metadata)
        return Event.new(
            source=self._source, type=EVENT_TYPE, subject=self._name, data=data, id=delivery
        )


def _read_secret(secrets: SecretStore, ref: SecretKeySelector, what: str, owner: str) -> str:
    """A secret that must be there and not blank; ConfigError naming the field otherwise."""
    value = secrets.secret(ref)
    if value is None or not value.strip():
        state = "is optional and absent" if value is None else "is empty"
        raise ConfigError(f"{owner}: {what} {ref.name}/{ref.key} {state}: put the value there")
    return value


class _Hooks:
    """The hooks of one github event on GitHub: registered at start, deleted at stop."""

    def __init__(
        self,
        owner: str,
        config: GithubEventSource,
        credentials: Credentials,
        secret: str | None,
        timing: HookTiming,
    ) -> None:
        webhook = config.webhook
        assert webhook.url is not None
        self.owner = owner
        self.url = webhook.url.rstrip("/") + webhook.endpoint
        self.base_url = api_base_url(config.github_base_url)
        self.credentials = credentials
        self.timing = timing
        self.delete_on_finish = bool(config.delete_hook_on_finish)
        self.scopes = [HookScope.organization(org) for org in config.organizations or ()]
        self.scopes += [
            HookScope.repository(r.owner, name)
            for r in config.owned_repositories
            for name in r.names
        ]
        events = [e for e in dict.fromkeys(config.events) if e != "ping"] or list(config.events)
        self.desired = desired_hook(
            url=self.url,
            events=events,
            active=True if config.active is None else config.active,
            content_type=config.content_type or "json",
            insecure=bool(config.insecure),
            secret=secret,
        )
        self.has_secret = secret is not None
        self.ids: dict[HookScope, int] = {}
        self._secret_sent: set[int] = set()
        self.maintained = asyncio.Event()
        """Set once the hooks are no longer looked after (re-checks done, or given up)."""

    async def maintain(self, api: GitHubAPI) -> None:
        """Register the hooks, retry failures, re-check a while; return when done."""
        try:
            await self._maintain(api)
        finally:
            self.maintained.set()

    async def _maintain(self, api: GitHubAPI) -> None:
        timing = self.timing
        if timing.start_jitter > 0:
            await asyncio.sleep(random.uniform(0, timing.start_jitter))
        failures = 0
        rechecks = timing.rechecks
        while True:
            failed = await self._pass(api)
            if failed:
                failures += 1
                if failures > timing.retries:
                    log.error(
                        "%s: gave up registering the hook on %s after %d attempts; "
                        "deliveries are still served: add the hook on GitHub by hand, or "
                        "fix the cause and restart",
                        self.owner,
                        ", ".join(str(s) for s in failed),
                        failures,
                    )
                    return
                delay = min(timing.max_retry, timing.first_retry * 2 ** (failures - 1))
                log.info("%s: retrying the hook registration in %gs", self.owner, delay)
            else:
                failures = 0
                if rechecks <= 0:
                    return
                rechecks -= 1
                delay = timing.recheck_interval
            await asyncio.sleep(delay)

    async def _pass(self, api: GitHubAPI) -> list[HookScope]:
        """Reconcile every scope once; the scopes that failed."""
        failed: list[HookScope] = []
        for scope in self.scopes:
            try:
                hook_id, outcome = await reconcile_hook(
                    api, scope, self.desired, secret_current=self._secret_sent.__contains__
                )
            except GitHubAPIError as e:
                log.error(
                    "%s: cannot register the hook for %s on %s: %s. Deliveries are still "
                    "served; the hook can also be added by hand",
                    self.owner,
                    self.url,
                    scope,
                    e,
                )
                failed.append(scope)
                continue
            self.ids[scope] = hook_id
            if outcome != "reused" and self.has_secret:
                self._secret_sent.add(hook_id)
            level = logging.DEBUG if outcome == "reused" else logging.INFO
            log.log(
                level, "%s: hook %d on %s %s (%s)", self.owner, hook_id, scope, outcome, self.url
            )
        return failed

    async def finish(self, api: GitHubAPI) -> None:
        """Delete the hooks when ``deleteHookOnFinish`` says so, within the finish timeout."""
        if not self.delete_on_finish or not self.ids:
            return
        try:
            async with asyncio.timeout(self.timing.finish_timeout):
                for scope, hook_id in list(self.ids.items()):
                    try:
                        existed = await api.delete_hook(scope, hook_id)
                    except GitHubAPIError as e:
                        log.error(
                            "%s: cannot delete hook %d on %s: %s", self.owner, hook_id, scope, e
                        )
                        continue
                    del self.ids[scope]
                    log.info(
                        "%s: hook %d on %s %s",
                        self.owner,
                        hook_id,
                        scope,
                        "deleted" if existed else "was already gone",
                    )
        except TimeoutError:
            log.error(
                "%s: deleting the hooks took more than %gs; left on GitHub: %s",
                self.owner,
                self.timing.finish_timeout,
                ", ".join(f"{hook_id} on {scope}" for scope, hook_id in self.ids.items()),
            )


class GithubSource:
    """One event of a ``github`` EventSource, served on the shared HTTP server of its port.

    Secrets are read when the source is built, so a missing one is refused
    before anything starts. ``timing`` sets when hooks are registered and
    re-checked (defaults: :class:`HookTiming`).
    """

    def __init__(
        self,
        config: GithubEventSource,
        context: SourceContext,
        *,
        timing: HookTiming | None = None,
    ) -> None:
        owner = f"{context.event_source}/{context.event_name}"
        if context.http is None:
            raise ConfigError(
                f"{owner}: the github source needs the process's shared HTTP servers "
                "(SourceContext.http)"
            )
        self.config = config
        self.context = context
        self.owner = owner
        self._http: HTTPServers = context.http
        self._ready = asyncio.Event()
        secrets = context.secrets
        secret: str | None = None
        if config.webhook_secret is not None:
            secret = _read_secret(secrets, config.webhook_secret, "webhookSecret", owner)
        self.webhook_secret = secret.encode("utf-8") if secret is not None else None
        self.hooks: _Hooks | None = None
        if config.creates_hooks:
            credentials = self._credentials(secrets)
            self.hooks = _Hooks(owner, config, credentials, secret, timing or HookTiming())

    def _credentials(self, secrets: SecretStore) -> Credentials:
        config, owner = self.config, self.owner
        if config.api_token is not None:
            token = _read_secret(secrets, config.api_token, "apiToken", owner)
            return TokenCredentials(token.strip())
        app = config.github_app
        assert app is not None
        ref = app.private_key
        key = secrets.secret_bytes(ref)
        if not key or not key.strip():
            state = "is optional and absent" if key is None else "is empty"
            raise ConfigError(f"{owner}: githubApp.privateKey {ref.name}/{ref.key} {state}")
        return AppCredentials(
            app.app_id,
            app.installation_id,
            key,
            where=f"{owner}: githubApp.privateKey {ref.name}/{ref.key}",
        )

    @property
    def ready(self) -> asyncio.Event:
        """Set once the port listens and this event's route answers."""
        return self._ready

    async def run(self, emit: Emit) -> None:
        """Serve the route (and keep the hooks) until cancelled; clean up on the way out."""
        from aiohttp import web

        intake = _Intake(self, emit, web.Response)
        route = self._http.add_route(self.config.webhook, intake.handle, owner=self.owner)
        try:
            await self._http.listening(self.config.webhook.port_number)
            self._ready.set()
            if self.webhook_secret is None:
                log.warning(
                    "%s: no webhookSecret: deliveries are not verified, anyone who can reach "
                    "port %s %s can publish events",
                    self.owner,
                    self.config.webhook.port,
                    self.config.webhook.endpoint,
                )
            if self.hooks is None:
                await asyncio.get_running_loop().create_future()  # until cancelled
            else:
                await self._keep_hooks(self.hooks)
        finally:
            self._ready.clear()
            self._http.remove_route(route)

    async def _keep_hooks(self, hooks: _Hooks) -> None:
        async with GitHubAPI(
            hooks.base_url, hooks.credentials, timeout=hooks.timing.request_timeout
        ) as api:
            try:
                await hooks.maintain(api)
                await asyncio.get_running_loop().create_future()  # until cancelled
            finally:
                await hooks.finish(api)
