"""A local fake of the GitHub REST endpoints the ``github`` source uses, for tests.

It speaks, over real HTTP on 127.0.0.1, what GitHub Enterprise Server answers
under ``/api/v3/`` (so a test sets ``githubBaseURL`` to :attr:`FakeGitHub.url`):

- ``GET/POST /repos/{owner}/{repo}/hooks``, ``PATCH/DELETE /repos/{owner}/{repo}/hooks/{id}``
  and the same under ``/orgs/{org}/hooks``, for the repositories and
  organisations a test declares (others answer 404 ``Not Found``), with
  ``Link: rel="next"`` pagination when a page size is set, GitHub's masked
  ``"secret": "********"`` in the hooks it returns, and 422 ``Hook already
  exists`` for a second hook with the same URL;
- ``POST /app/installations/{id}/access_tokens`` for a :class:`FakeApp`: it
  verifies the RS256 JWT with the App's public key and issues installation
  tokens that expire after ``token_lifetime`` seconds.

It checks every request it receives and records what is wrong in
:attr:`FakeGitHub.problems` (and answers 4xx): a missing or unknown
``Authorization`` (answered 401 ``Bad credentials``), missing ``Accept`` /
``X-GitHub-Api-Version`` / ``User-Agent`` headers, a body that is not JSON or
not the shape GitHub documents. Tests assert ``problems == []`` (the fixture
does at teardown) and look at :attr:`FakeGitHub.calls` for what was sent.
Waits are on conditions with a deadline (:meth:`FakeGitHub.wait_for`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import jwt
import orjson
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from tests.sink import free_port

PREFIX = "/api/v3/"
DEADLINE = 10.0

_HOOK_KEYS = {"name", "active", "events", "config"}
_PATCH_KEYS = {"active", "events", "config", "add_events", "remove_events"}
_CONFIG_KEYS = {"url", "content_type", "insecure_ssl", "secret"}


@dataclass(frozen=True)
class Call:
    """One request the fake received (the path without the ``/api/v3`` prefix)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class FakeApp:
    """A GitHub App the fake knows: its ids, public key, and the tokens it issued."""

    app_id: int
    installation_id: int
    public_key: RSAPublicKey
    token_lifetime: float = 3600.0
    issued: list[str] = field(default_factory=list)
    jwts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FakeGitHub:
    """The fake; ``await start()``, then point ``githubBaseURL`` at :attr:`url`."""

    token: str | None = None
    """The personal access token accepted as ``Authorization: Bearer <token>``."""
    app: FakeApp | None = None
    repos: set[str] = field(default_factory=set)
    """``owner/name`` of the repositories that exist."""
    orgs: set[str] = field(default_factory=set)
    page_size: int = 100
    next_link_base: str | None = None
    """Where ``Link: rel="next"`` points (default: this server) — to test foreign links."""
    hooks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Scope path (``repos/o/r``, ``orgs/o``) -> stored hooks (with real secrets)."""
    calls: list[Call] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fail: dict[str, list[int]] = field(default_factory=dict)
    """Scope path -> statuses to answer the next requests on it with (consumed in order)."""
    port: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(101))
    _tokens: dict[str, float] = field(default_factory=dict)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The GitHub Enterprise base URL (the API is under ``/api/v3/``)."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeGitHub:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def add_hook(self, scope: str, **hook: Any) -> dict[str, Any]:
        """Put a hook on ``scope`` as if made by hand; returns it (with its id)."""
        stored = {"id": next(self._ids), "name": "web", "active": True, "events": ["push"]}
        stored.update(hook)
        stored.setdefault("config", {})
        self.hooks.setdefault(scope, []).append(stored)
        return stored

    def api_calls(self, method: str | None = None) -> list[Call]:
        """Calls on hook endpoints (not the token exchange), optionally of one method."""
        return [
            c
            for c in self.calls
            if not c.path.startswith("app/") and (method is None or c.method == method)
        ]

    async def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        """Return once ``predicate()`` holds (checked after every request), or fail."""
        try:
            async with asyncio.timeout(DEADLINE), self._changed:
                await self._changed.wait_for(predicate)
        except TimeoutError:
            raise AssertionError(
                f"fake GitHub: {what} did not happen within {DEADLINE}s; calls: "
                + ", ".join(f"{c.method} {c.path} -> {c.status}" for c in self.calls)
            ) from None

    # ------------------------------------------------------------------ serving

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        path = request.path
        headers = {k: v for k, v in request.headers.items()}
        body: Any = None
        problem = None
        if raw:
            if request.content_type != "application/json":
                problem = f"{request.method} {path}: body sent as {request.content_type}"
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                problem = f"{request.method} {path}: body is not JSON"
        if not path.startswith(PREFIX):
            response = _error(404, "Not Found")
            self.problems.append(f"{request.method} {path}: outside {PREFIX}")
        elif problem is not None:
            self.problems.append(problem)
            response = _error(400, "Problems parsing JSON")
        else:
            response = self._answer(request, path[len(PREFIX) :], headers, body)
        self.calls.append(
            Call(
                request.method,
                path[len(PREFIX) :],
                request.query_string,
                headers,
                body,
                response.status,
            )
        )
        async with self._changed:
            self._changed.notify_all()
        return response

    def _answer(
        self, request: web.Request, path: str, headers: dict[str, str], body: Any
    ) -> web.Response:
        for name, expected in (
            ("Accept", "application/vnd.github+json"),
            ("X-GitHub-Api-Version", None),
            ("User-Agent", None),
        ):
            value = headers.get(name)
            if value is None or (expected is not None and value != expected):
                self.problems.append(f"{request.method} {path}: header {name} is {value!r}")
        parts = [unquote(p) for p in path.split("/")]
        if parts[:2] == ["app", "installations"] and parts[3:] == ["access_tokens"]:
            return self._exchange(request, parts[2], headers)
        if not self._authorised(headers):
            return _error(401, "Bad credentials")
        if parts[0] == "repos" and len(parts) >= 4 and parts[3] == "hooks":
            known = f"{parts[1]}/{parts[2]}" in self.repos
            scope, rest = "/".join(path.split("/")[:3]), parts[4:]
        elif parts[0] == "orgs" and len(parts) >= 3 and parts[2] == "hooks":
            known = parts[1] in self.orgs
            scope, rest = "/".join(path.split("/")[:2]), parts[3:]
        else:
            self.problems.append(f"{request.method} {path}: not an endpoint the source should use")
            return _error(404, "Not Found")
        scripted = self.fail.get(scope)
        if scripted:
            return _error(scripted.pop(0), "scripted failure")
        if not known:
            return _error(404, "Not Found")
        if not rest:
            if request.method == "GET":
                return self._list(request, scope)
            if request.method == "POST":
                return self._create(scope, body)
        elif len(rest) == 1 and rest[0].isdigit():
            if request.method == "PATCH":
                return self._update(scope, int(rest[0]), body)
            if request.method == "DELETE":
                return self._delete(scope, int(rest[0]))
        self.problems.append(f"{request.method} {path}: method not used by the source")
        return _error(404, "Not Found")

    def _authorised(self, headers: dict[str, str]) -> bool:
        value = headers.get("Authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token:
            self.problems.append(f"Authorization header is {value[:12]!r}...")
            return False
        if self.token is not None and token == self.token:
            return True
        expires = self._tokens.get(token)
        if expires is not None:
            if expires <= time.time():
                self.problems.append("an expired installation token was used")
                return False
            return True
        return False

    def _exchange(
        self, request: web.Request, installation: str, headers: dict[str, str]
    ) -> web.Response:
        app = self.app
        if request.method != "POST" or app is None:
            self.problems.append(f"{request.method} token exchange without a GitHub App")
            return _error(404, "Not Found")
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer":
            self.problems.append("token exchange without a Bearer JWT")
            return _error(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                token,
                app.public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
                leeway=0,
            )
        except jwt.PyJWTError as e:
            self.problems.append(f"token exchange: invalid JWT: {e}")
            return _error(401, "A JSON web token could not be decoded")
        app.jwts.append(claims)
        now = time.time()
        if str(claims["iss"]) != str(app.app_id):
            return _error(401, "Integration not found")
        if not claims["iat"] <= now < claims["exp"] or claims["exp"] - claims["iat"] > 600:
            self.problems.append(f"token exchange: JWT times out of GitHub's bounds: {claims}")
            return _error(401, "'Expiration time' claim ('exp') is too far in the future")
        if installation != str(app.installation_id):
            return _error(404, "Not Found")
        issued = f"ghs_fake{len(app.issued) + 1:04d}"
        expires = now + app.token_lifetime
        self._tokens[issued] = expires
        app.issued.append(issued)
        when = datetime.fromtimestamp(int(expires), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return _json(201, {"token": issued, "expires_at": when, "permissions": {}})

    def _list(self, request: web.Request, scope: str) -> web.Response:
        per_page = min(int(request.query.get("per_page", "30")), self.page_size)
        page = int(request.query.get("page", "1"))
        hooks = self.hooks.get(scope, [])
        chunk = hooks[(page - 1) * per_page : page * per_page]
        response = _json(200, [_shown(h) for h in chunk])
        if page * per_page < len(hooks):
            base = self.next_link_base or self.url
            next_url = f"{base}{PREFIX}{scope}/hooks?per_page={per_page}&page={page + 1}"
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    def _check_hook(self, body: Any, allowed: set[str], where: str) -> str | None:
        if not isinstance(body, dict):
            return f"{where}: body is not an object"
        if set(body) - allowed:
            return f"{where}: unexpected keys {sorted(set(body) - allowed)}"
        if "name" in body and body["name"] != "web":
            return f"{where}: name is {body['name']!r}, GitHub wants 'web'"
        events = body.get("events")
        if events is not None and (
            not isinstance(events, list)
            or not events
            or not all(isinstance(e, str) for e in events)
            or "ping" in events
        ):
            return f"{where}: events {events!r} are not a list of event names"
        if "active" in body and not isinstance(body["active"], bool):
            return f"{where}: active is not a boolean"
        config = body.get("config")
        if config is not None:
            if not isinstance(config, dict) or set(config) - _CONFIG_KEYS:
                return f"{where}: config {config!r} has unexpected keys"
            if not isinstance(config.get("url"), str):
                return f"{where}: config.url is missing"
            if config.get("content_type", "form") not in ("json", "form"):
                return f"{where}: content_type is {config.get('content_type')!r}"
            if config.get("insecure_ssl", "0") not in ("0", "1"):
                return f"{where}: insecure_ssl is {config.get('insecure_ssl')!r}"
        return None

    def _create(self, scope: str, body: Any) -> web.Response:
        problem = self._check_hook(body, _HOOK_KEYS, f"POST {scope}/hooks")
        if problem is None and not isinstance(body.get("config"), dict):
            problem = f"POST {scope}/hooks: no config"
        if problem is not None:
            self.problems.append(problem)
            return _error(422, "Validation Failed")
        url = body["config"]["url"]
        if any(h.get("config", {}).get("url") == url for h in self.hooks.get(scope, [])):
            return _error(422, "Validation Failed", [{"message": "Hook already exists on this"}])
        hook = self.add_hook(
            scope,
            active=body.get("active", True),
            events=body.get("events", ["push"]),
            config={"content_type": "form", "insecure_ssl": "0", **body["config"]},
        )
        return _json(201, _shown(hook))

    def _find(self, scope: str, hook_id: int) -> dict[str, Any] | None:
        return next((h for h in self.hooks.get(scope, []) if h["id"] == hook_id), None)

    def _update(self, scope: str, hook_id: int, body: Any) -> web.Response:
        problem = self._check_hook(body, _PATCH_KEYS, f"PATCH {scope}/hooks/{hook_id}")
        if problem is not None:
            self.problems.append(problem)
            return _error(422, "Validation Failed")
        hook = self._find(scope, hook_id)
        if hook is None:
            return _error(404, "Not Found")
        for key in ("active", "events"):
            if key in body:
                hook[key] = body[key]
        if "config" in body:
            hook["config"] = {"content_type": "form", "insecure_ssl": "0", **body["config"]}
        return _json(200, _shown(hook))

    def _delete(self, scope: str, hook_id: int) -> web.Response:
        hook = self._find(scope, hook_id)
        if hook is None:
            return _error(404, "Not Found")
        self.hooks[scope].remove(hook)
        return web.Response(status=204)


def _shown(hook: dict[str, Any]) -> dict[str, Any]:
    """A hook as GitHub shows it: the secret masked."""
    shown = dict(hook)
    config = dict(hook.get("config", {}))
    if "secret" in config:
        config["secret"] = "********"
    shown["config"] = config
    shown["type"] = "Repository"
    return shown


def _json(status: int, value: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(value), content_type="application/json")


def _error(status: int, message: str, errors: list[dict[str, str]] | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message, "documentation_url": "https://docs.github.com"}
    if errors:
        body["errors"] = errors
    return _json(status, body)
