"""The slice of GitHub's REST API the ``github`` source uses, and how it authenticates.

The ``github`` source registers its webhook on GitHub when it has credentials
and a public ``webhook.url``; this module is what talks to GitHub for it:

- :func:`api_base_url`: where the REST API lives. Public GitHub without
  ``githubBaseURL``; with it (GitHub Enterprise Server) the API sits under
  ``<base>/api/v3/``, which is appended unless the URL already ends with it or
  names an ``api.`` host (go-github's rule for enterprise clients, so both
  ``https://ghe.example.com`` and Argo's usual ``https://ghe.example.com/api/v3/``
  work).
- :class:`TokenCredentials` (``apiToken``) and :class:`AppCredentials`
  (``githubApp``). A GitHub App authenticates with a short-lived RS256 JWT
  (``iss`` = app id, issued 60 s in the past against clock drift, valid 9
  minutes) that it exchanges at ``POST /app/installations/{id}/access_tokens``
  for an installation token; the token is cached and exchanged again once it
  is within :data:`TOKEN_REFRESH_MARGIN` of its ``expires_at``, so no request
  goes out with an expired token. PyJWT (the ``github`` extra) is imported only
  here, when App credentials are built.
- :class:`GitHubAPI`: an aiohttp client for the hook endpoints
  (``GET/POST /repos/{owner}/{repo}/hooks``, ``PATCH/DELETE .../hooks/{id}`` and
  the same under ``/orgs/{org}/hooks``). Listing follows ``Link: rel="next"``
  pages, but only to the same origin as the API base, so a token is never sent
  elsewhere. Every failure (a non-2xx answer, a network error, a timeout) is a
  :class:`GitHubAPIError` carrying the HTTP status (None when there was no
  answer) and GitHub's own message; no message ever contains a token, key or
  webhook secret.
- :func:`desired_hook`, :func:`hook_differs` and :func:`reconcile_hook`: create
  the hook for our URL, or reuse the one GitHub already has for it (matched by
  ``config.url``, as GitHub refuses a second hook with the same URL) and update
  it when its events, ``active``, ``content_type`` or ``insecure_ssl`` differ, or
  when we hold a secret (GitHub never shows a hook's secret, so a rotated
  ``webhookSecret`` can only be made to take effect by sending it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

import orjson

from herald.core.errors import ConfigError, SourceError

if TYPE_CHECKING:
    import aiohttp

PUBLIC_API = "https://api.github.com/"
"""The REST API of github.com."""

API_VERSION = "2022-11-28"
"""The ``X-GitHub-Api-Version`` Herald speaks."""

USER_AGENT = "herald-github-eventsource"

TOKEN_REFRESH_MARGIN = 60.0
"""Seconds before ``expires_at`` at which an installation token is exchanged again."""

JWT_BACKDATE = 60
"""Seconds an App JWT is issued in the past (GitHub's advice against clock drift)."""

JWT_LIFETIME = 540
"""Seconds an App JWT is valid after its issue time (GitHub allows at most 10 minutes)."""

MAX_PAGES = 50
"""Pages of hooks read at most (100 per page): more is not a repository we should touch."""

_MESSAGE_LIMIT = 300


class GitHubAPIError(SourceError):
    """GitHub refused or did not answer a request; ``status`` is None without an answer."""

    def __init__(self, message: str, *, status: int | None) -> None:
        super().__init__(message)
        self.status = status


def api_base_url(github_base_url: str | None) -> str:
    """The REST API base (with a trailing ``/``) for ``githubBaseURL`` (None: github.com)."""
    if not github_base_url:
        return PUBLIC_API
    base = github_base_url if github_base_url.endswith("/") else github_base_url + "/"
    parts = urlsplit(base)
    host = parts.hostname or ""
    if parts.path.endswith("/api/v3/") or host.startswith("api.") or ".api." in host:
        return base
    return base + "api/v3/"


# ---------------------------------------------------------------------------------------
# Credentials


@dataclass(frozen=True, slots=True)
class TokenCredentials:
    """A personal access (or other bearer) token, from ``apiToken``."""

    token: str

    def __repr__(self) -> str:
        return "TokenCredentials(token=***)"


class AppCredentials:
    """A GitHub App installation, from ``githubApp``: signs JWTs, holds the installation token.

    Building one loads the private key, so a key that is not an RSA private key
    in PEM is a :class:`ConfigError` before anything starts.
    """

    def __init__(
        self,
        app_id: int,
        installation_id: int,
        private_key: bytes,
        *,
        where: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            import jwt
            from cryptography.exceptions import UnsupportedAlgorithm
            from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
            from cryptography.hazmat.primitives.serialization import load_pem_private_key
        except ImportError as e:
            raise ImportError(
                "githubApp authentication needs PyJWT with cryptography: "
                "pip install 'herald[github]'"
            ) from e
        try:
            key = load_pem_private_key(private_key, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as e:
            raise ConfigError(
                f"{where} is not an unencrypted PEM private key: put the App's private key "
                "(the .pem file GitHub let you download) there"
            ) from e
        if not isinstance(key, RSAPrivateKey):
            raise ConfigError(
                f"{where} is not an RSA key: GitHub Apps sign with RS256, use the App's "
                "private key as GitHub generated it"
            )
        self._jwt = jwt
        self._key = key
        self.app_id = app_id
        self.installation_id = installation_id
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"AppCredentials(app_id={self.app_id}, installation_id={self.installation_id})"

    def app_jwt(self) -> str:
        """A fresh RS256 JWT identifying the App (for the token exchange only)."""
        issued = int(self._clock()) - JWT_BACKDATE
        claims = {
            "iat": issued,
            "exp": issued + JWT_BACKDATE + JWT_LIFETIME,
            "iss": str(self.app_id),
        }
        token: str = self._jwt.encode(claims, self._key, algorithm="RS256")
        return token

    async def installation_token(self, api: GitHubAPI) -> str:
        """The cached installation token, exchanged again when it is about to expire."""
        async with self._lock:
            if self._token is None or self._clock() >= self._expires - TOKEN_REFRESH_MARGIN:
                self._token, self._expires = await api.exchange_app_token(self)
            return self._token


Credentials = TokenCredentials | AppCredentials


# ---------------------------------------------------------------------------------------
# The client


def _message(body: bytes) -> str:
    """GitHub's own explanation in an error answer, short and on one line."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace")
    else:
        if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
            text = decoded["message"]
            errors = decoded.get("errors")
            if isinstance(errors, list) and errors:
                details = [
                    e.get("message") or e.get("code") if isinstance(e, dict) else str(e)
                    for e in errors
                ]
                text += " (" + "; ".join(str(d) for d in details if d) + ")"
        else:
            text = body.decode("utf-8", "replace")
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "..."


class GitHubAPI:
    """The hook endpoints of GitHub's REST API, with ``credentials``; an async context manager.

    ``timeout`` bounds each request (the token exchange included).
    """

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        parts = urlsplit(self.base_url)
        self._origin = (parts.scheme, parts.netloc)
        self._credentials = credentials
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> GitHubAPI:
        import aiohttp

        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": USER_AGENT,
            },
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connections. Idempotent."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _authorization(self) -> str:
        credentials = self._credentials
        if isinstance(credentials, TokenCredentials):
            return f"Bearer {credentials.token}"
        return f"Bearer {await credentials.installation_token(self)}"

    async def _send(
        self,
        method: str,
        url: str,
        what: str,
        *,
        authorization: str,
        body: Mapping[str, Any] | None = None,
        ok: Sequence[int] = (200,),
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        import aiohttp

        if self._session is None:
            raise GitHubAPIError(f"{what}: the GitHub client is closed", status=None)
        headers = {"Authorization": authorization}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = orjson.dumps(body)
        try:
            async with self._session.request(method, url, data=data, headers=headers) as response:
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as e:
            reason = "timed out" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
            raise GitHubAPIError(
                f"{what}: no answer from {self.base_url} ({reason})", status=None
            ) from e
        status = response.status
        if status not in ok:
            raise GitHubAPIError(
                f"{what}: GitHub answered {status} {response.reason or ''}".rstrip()
                + f": {_message(raw)}",
                status=status,
            )
        if not raw:
            return status, None, response
        try:
            return status, orjson.loads(raw), response
        except orjson.JSONDecodeError as e:
            raise GitHubAPIError(
                f"{what}: GitHub answered {status} with a body that is not JSON", status=status
            ) from e

    async def exchange_app_token(self, app: AppCredentials) -> tuple[str, float]:
        """Exchange an App JWT for an installation token: (token, expiry as a Unix time)."""
        what = (
            f"GitHub App {app.app_id} installation {app.installation_id}: getting an "
            "installation token"
        )
        url = f"{self.base_url}app/installations/{app.installation_id}/access_tokens"
        try:
            _, answer, _ = await self._send(
                "POST", url, what, authorization=f"Bearer {app.app_jwt()}", ok=(200, 201)
            )
        except GitHubAPIError as e:
            if e.status in (401, 403, 404):
                raise GitHubAPIError(
                    f"{e} (check appID, installationID and the privateKey of githubApp)",
                    status=e.status,
                ) from e
            raise
        token = answer.get("token") if isinstance(answer, dict) else None
        expires_at = answer.get("expires_at") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token or not isinstance(expires_at, str):
            raise GitHubAPIError(f"{what}: the answer has no token or expires_at", status=201)
        try:
            expires = datetime.fromisoformat(expires_at).timestamp()
        except ValueError as e:
            raise GitHubAPIError(
                f"{what}: expires_at {expires_at!r} is not a timestamp", status=201
            ) from e
        return token, expires

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        body: Mapping[str, Any] | None = None,
        ok: Sequence[int] = (200,),
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        authorization = await self._authorization()
        return await self._send(
            method, self.base_url + path, what, authorization=authorization, body=body, ok=ok
        )

    async def list_hooks(self, scope: HookScope) -> list[dict[str, Any]]:
        """Every hook of ``scope``, following pagination on the API's own origin."""
        what = f"listing the hooks of {scope}"
        url: str | None = f"{self.base_url}{scope.path}/hooks?per_page=100"
        hooks: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            assert url is not None
            _, page, response = await self._send(
                "GET", url, what, authorization=await self._authorization()
            )
            if not isinstance(page, list):
                raise GitHubAPIError(
                    f"{what}: GitHub answered something else than a list", status=200
                )
            hooks.extend(h for h in page if isinstance(h, dict))
            url = self._next_page(response)
            if url is None:
                return hooks
        raise GitHubAPIError(
            f"{what}: more than {MAX_PAGES} pages of hooks; refusing to read further", status=200
        )

    def _next_page(self, response: aiohttp.ClientResponse) -> str | None:
        link = response.links.get("next")
        if link is None:
            return None
        url = link.get("url")
        if url is None:
            return None
        target = str(url)
        parts = urlsplit(target)
        if (parts.scheme, parts.netloc) != self._origin:
            return None  # never send the token to another origin
        return target

    async def create_hook(self, scope: HookScope, hook: Mapping[str, Any]) -> dict[str, Any]:
        """Create ``hook`` on ``scope``; the hook as GitHub returns it."""
        _, created, _ = await self._call(
            "POST", f"{scope.path}/hooks", f"creating a hook on {scope}", body=hook, ok=(200, 201)
        )
        return _hook(created, f"creating a hook on {scope}")

    async def update_hook(
        self, scope: HookScope, hook_id: int, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Update hook ``hook_id`` of ``scope`` with ``changes``."""
        what = f"updating hook {hook_id} of {scope}"
        _, updated, _ = await self._call(
            "PATCH", f"{scope.path}/hooks/{hook_id}", what, body=changes
        )
        return _hook(updated, what)

    async def delete_hook(self, scope: HookScope, hook_id: int) -> bool:
        """Delete hook ``hook_id`` of ``scope``; False when it was already gone (404)."""
        status, _, _ = await self._call(
            "DELETE", f"{scope.path}/hooks/{hook_id}", f"deleting hook {hook_id} of {scope}",
            ok=(204, 404),
        )  # fmt: skip
        return status == 204


def _hook(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("id"), int):
        raise GitHubAPIError(f"{what}: GitHub's answer has no hook id", status=None)
    return value


# ---------------------------------------------------------------------------------------
# Hooks


@dataclass(frozen=True, slots=True)
class HookScope:
    """Where a hook lives: one repository or one organisation."""

    kind: Literal["repository", "organization"]
    name: str
    """``owner/repo`` or ``org``, for messages."""
    path: str
    """The API path of the scope, e.g. ``repos/argoproj/argo-events``."""

    @classmethod
    def repository(cls, owner: str, repo: str) -> HookScope:
        return cls(
            "repository", f"{owner}/{repo}", f"repos/{quote(owner, safe='')}/{quote(repo, safe='')}"
        )

    @classmethod
    def organization(cls, org: str) -> HookScope:
        return cls("organization", org, f"orgs/{quote(org, safe='')}")

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


def desired_hook(
    *,
    url: str,
    events: Sequence[str],
    active: bool,
    content_type: str,
    insecure: bool,
    secret: str | None,
) -> dict[str, Any]:
    """The body that creates our hook (``POST .../hooks``)."""
    config: dict[str, Any] = {
        "url": url,
        "content_type": content_type,
        "insecure_ssl": "1" if insecure else "0",
    }
    if secret is not None:
        config["secret"] = secret
    return {"name": "web", "active": active, "events": list(events), "config": config}


def _same_events(have: object, want: Sequence[str]) -> bool:
    if not isinstance(have, list):
        return False
    if "*" in have and "*" in want:
        return True
    return set(have) == set(want)


def hook_differs(
    existing: Mapping[str, Any], desired: Mapping[str, Any], *, secret_current: bool = False
) -> list[str]:
    """What of ``desired`` an ``existing`` hook lacks (field names); empty when it is ours as is.

    The secret cannot be compared (GitHub masks it), so holding one counts as a
    difference unless ``secret_current`` says this process already sent it.
    """
    config = existing.get("config")
    config = config if isinstance(config, dict) else {}
    want = desired["config"]
    differs: list[str] = []
    if not _same_events(existing.get("events"), desired["events"]):
        differs.append("events")
    if existing.get("active") is not desired["active"]:
        differs.append("active")
    if config.get("content_type") != want["content_type"]:
        differs.append("content_type")
    if str(config.get("insecure_ssl", "0")) != want["insecure_ssl"]:
        differs.append("insecure_ssl")
    if "secret" in want and not secret_current:
        differs.append("secret")
    return differs


HookOutcome = Literal["created", "updated", "reused"]


async def reconcile_hook(
    api: GitHubAPI,
    scope: HookScope,
    desired: Mapping[str, Any],
    *,
    secret_current: Callable[[int], bool] = lambda hook_id: False,
) -> tuple[int, HookOutcome]:
    """Make ``scope`` have our hook: (its id, what was done). Raises :class:`GitHubAPIError`.

    ``secret_current(hook_id)`` says whether that hook already got our secret
    from this process (then an otherwise equal hook is reused as it is).
    """
    url = desired["config"]["url"]
    for hook in await api.list_hooks(scope):
        config = hook.get("config")
        if (
            isinstance(config, dict)
            and config.get("url") == url
            and isinstance(hook.get("id"), int)
        ):
            hook_id: int = hook["id"]
            if not hook_differs(hook, desired, secret_current=secret_current(hook_id)):
                return hook_id, "reused"
            changes = {k: v for k, v in desired.items() if k != "name"}
            await api.update_hook(scope, hook_id, changes)
            return hook_id, "updated"
    created = await api.create_hook(scope, desired)
    created_id: int = created["id"]
    return created_id, "created"
