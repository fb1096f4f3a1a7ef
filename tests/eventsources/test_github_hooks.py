"""The github source's hook lifecycle against a local fake of GitHub's REST API.

``githubBaseURL`` points at :class:`~tests.eventsources.github_api_server.FakeGitHub`
(GitHub Enterprise layout, API under ``/api/v3/``), which checks every request
it receives (authorization, headers, body shape) and records it. Timings are
shortened through :class:`~eventsources.github.HookTiming`; waits are on the
fake's request log or on the source's ``hooks.maintained`` event, with a
deadline.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from eventsources.github import GithubEventSource, GithubSource, HookTiming, sign
from eventsources.github_api import (
    GitHubAPI,
    GitHubAPIError,
    HookScope,
    TokenCredentials,
    api_base_url,
)
from eventsources.http_server import HTTPServers
from eventsources.source import SourceContext
from herald.core.errors import ConfigError
from herald.core.refs import SecretStore
from tests.eventsources.conftest import DEADLINE, Recorder, put_secret, running, unique
from tests.eventsources.github_api_server import FakeApp, FakeGitHub
from tests.sink import HTTPSink, free_port

TOKEN = "ghp_fake-personal-token"
SECRET = "hook-secret-value"
PUBLIC_URL = "https://herald.example.com/hooks/"
HOOK_URL = "https://herald.example.com/hooks/github"

FAST = HookTiming(
    start_jitter=0,
    first_retry=0.01,
    max_retry=0.02,
    retries=8,
    recheck_interval=60,
    rechecks=0,
    request_timeout=DEADLINE,
    finish_timeout=DEADLINE,
)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    """The key as GitHub hands out App keys: PEM, "BEGIN RSA PRIVATE KEY" (PKCS#1)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeGitHub]:
    server = await FakeGitHub(token=TOKEN).start()
    try:
        yield server
    finally:
        await server.close()
    assert server.problems == [], "fake GitHub saw bad requests"


@pytest.fixture
def creds(secrets_dir: Path, secrets: SecretStore) -> SecretStore:
    put_secret(secrets_dir, "github-access", "token", TOKEN.encode() + b"\n")
    put_secret(secrets_dir, "github-access", "secret", SECRET.encode())
    return secrets


def config(port: int, fake: FakeGitHub, **extra: Any) -> GithubEventSource:
    spec: dict[str, Any] = {
        "repositories": [{"owner": "octo", "names": ["a"]}],
        "webhook": {"endpoint": "/github", "port": str(port), "url": PUBLIC_URL},
        "events": ["push", "pull_request"],
        "apiToken": {"name": "github-access", "key": "token"},
        "githubBaseURL": fake.url,
        "githubUploadURL": fake.url + "/api/uploads/",
    }
    spec.update(extra)
    return GithubEventSource.model_validate(spec)


def make(
    servers: HTTPServers, secrets: SecretStore, cfg: GithubEventSource,
    timing: HookTiming = FAST,
) -> GithubSource:  # fmt: skip
    ctx = SourceContext(event_source=unique(), event_name="code", secrets=secrets, http=servers)
    return GithubSource(cfg, ctx, timing=timing)


async def maintained(source: GithubSource) -> None:
    assert source.hooks is not None
    async with asyncio.timeout(DEADLINE):
        await source.hooks.maintained.wait()


def ours(hook: dict[str, Any]) -> bool:
    return bool(hook.get("config", {}).get("url") == HOOK_URL)


# --------------------------------------------------------------------------- repositories


async def test_repository_hooks_are_created_reused_updated_and_deleted_on_finish(
    servers: HTTPServers, creds: SecretStore, port: int, recorder: Recorder, fake: FakeGitHub,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    fake.repos |= {"octo/same", "octo/stale", "octo/new"}
    fake.page_size = 2  # three hooks by hand on octo/new: the listing takes two pages
    same = fake.add_hook(
        "repos/octo/same", events=["pull_request", "push"],
        config={"url": HOOK_URL, "content_type": "json", "insecure_ssl": "0"},
    )  # fmt: skip
    stale = fake.add_hook(
        "repos/octo/stale", events=["push"], active=False,
        config={"url": HOOK_URL, "content_type": "form", "insecure_ssl": "0"},
    )  # fmt: skip
    for n in range(3):
        fake.add_hook("repos/octo/new", config={"url": f"https://elsewhere.example/{n}"})
    cfg = config(
        port, fake,
        repositories=[{"owner": "octo", "names": ["same", "stale", "new"]}],
        deleteHookOnFinish=True,
    )  # fmt: skip
    source = make(servers, creds, cfg)
    with caplog.at_level(logging.DEBUG):
        async with running(source, recorder.emit):
            await maintained(source)
            assert [(c.method, c.path) for c in fake.api_calls() if c.method != "GET"] == [
                ("PATCH", f"repos/octo/stale/hooks/{stale['id']}"),
                ("POST", "repos/octo/new/hooks"),
            ]
            gets = [c for c in fake.api_calls("GET") if c.path == "repos/octo/new/hooks"]
            assert [c.query for c in gets] == ["per_page=100", "per_page=2&page=2"]
            [patch] = fake.api_calls("PATCH")
            want_config = {"url": HOOK_URL, "content_type": "json", "insecure_ssl": "0"}
            assert patch.body == {
                "active": True, "events": ["push", "pull_request"], "config": want_config
            }  # fmt: skip
            [post] = fake.api_calls("POST")
            assert post.body == {
                "name": "web", "active": True, "events": ["push", "pull_request"],
                "config": want_config,
            }  # fmt: skip
            created = next(h for h in fake.hooks["repos/octo/new"] if ours(h))
            assert stale["active"] is True
            assert source.hooks is not None
            assert {str(s): i for s, i in source.hooks.ids.items()} == {
                "repository octo/same": same["id"],
                "repository octo/stale": stale["id"],
                "repository octo/new": created["id"],
            }
    assert sorted(c.path for c in fake.api_calls("DELETE")) == sorted(
        [
            f"repos/octo/same/hooks/{same['id']}",
            f"repos/octo/stale/hooks/{stale['id']}",
            f"repos/octo/new/hooks/{created['id']}",
        ]
    )
    assert [h for hooks in fake.hooks.values() for h in hooks if ours(h)] == []
    assert len(fake.hooks["repos/octo/new"]) == 3  # the hand-made ones are untouched
    assert {c.headers["Authorization"] for c in fake.api_calls()} == {f"Bearer {TOKEN}"}
    assert TOKEN not in caplog.text
    assert f"hook {created['id']} on repository octo/new created" in caplog.text


async def test_hooks_stay_without_delete_hook_on_finish_and_orgs_get_org_hooks(
    servers: HTTPServers, creds: SecretStore, port: int, recorder: Recorder, fake: FakeGitHub
) -> None:
    fake.orgs.add("octo-org")
    cfg = config(
        port, fake, repositories=None, organizations=["octo-org"], events=["*"],
        contentType="form", insecure=True, active=False,
    )  # fmt: skip
    source = make(servers, creds, cfg)
    async with running(source, recorder.emit):
        await maintained(source)
    assert [(c.method, c.path) for c in fake.api_calls()] == [
        ("GET", "orgs/octo-org/hooks"),
        ("POST", "orgs/octo-org/hooks"),
    ]
    assert fake.api_calls("POST")[0].body == {
        "name": "web", "active": False, "events": ["*"],
        "config": {"url": HOOK_URL, "content_type": "form", "insecure_ssl": "1"},
    }  # fmt: skip
    assert len(fake.hooks["orgs/octo-org"]) == 1


async def test_the_secret_is_sent_once_per_run_and_signed_deliveries_pass(
    servers: HTTPServers, creds: SecretStore, port: int, recorder: Recorder, fake: FakeGitHub,
    client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    fake.repos |= {"octo/a", "octo/b"}
    existing = fake.add_hook(
        "repos/octo/a", events=["push", "pull_request"],
        config={"url": HOOK_URL, "content_type": "json", "insecure_ssl": "0", "secret": "old"},
    )  # fmt: skip
    cfg = config(
        port, fake, repositories=[{"owner": "octo", "names": ["a", "b"]}],
        webhookSecret={"name": "github-access", "key": "secret"}, events=["push", "ping"],
    )  # fmt: skip
    timing = replace(FAST, recheck_interval=0.01, rechecks=2)
    source = make(servers, creds, cfg, timing)
    with caplog.at_level(logging.DEBUG):
        async with running(source, recorder.emit):
            await maintained(source)
            body = b'{"ref": "refs/heads/main"}'
            headers = {
                "Content-Type": "application/json", "X-GitHub-Event": "push",
                "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": sign(SECRET.encode(), body),
            }  # fmt: skip
            async with client.post(
                f"http://127.0.0.1:{port}/github", data=body, headers=headers
            ) as r:
                assert r.status == 200
    # three passes (one, then two re-checks): the rotated secret is written once, no more
    assert len(fake.api_calls("GET")) == 6
    [patch] = fake.api_calls("PATCH")
    assert patch.path == f"repos/octo/a/hooks/{existing['id']}"
    assert patch.body["config"]["secret"] == SECRET
    assert patch.body["events"] == ["push"]  # ping is not an event a hook subscribes to
    [post] = fake.api_calls("POST")
    assert post.body["config"]["secret"] == SECRET
    assert existing["config"]["secret"] == SECRET
    assert [e.id for e in recorder.published] == ["d-1"]
    assert SECRET not in caplog.text


async def test_a_hook_deleted_meanwhile_is_created_again_at_a_recheck(
    servers: HTTPServers, creds: SecretStore, port: int, recorder: Recorder, fake: FakeGitHub
) -> None:
    fake.repos.add("octo/a")
    timing = replace(FAST, recheck_interval=0.01, rechecks=10_000)
    source = make(servers, creds, config(port, fake), timing)
    async with running(source, recorder.emit):
        await fake.wait_for(lambda: len(fake.api_calls("POST")) == 1, "the first POST")
        fake.hooks["repos/octo/a"].clear()  # an old replica's deleteHookOnFinish
        await fake.wait_for(lambda: len(fake.api_calls("POST")) == 2, "a second POST")
    assert len(fake.hooks["repos/octo/a"]) == 1


async def test_without_webhook_url_no_hook_is_registered(
    servers: HTTPServers, creds: SecretStore, port: int, recorder: Recorder, fake: FakeGitHub
) -> None:
    cfg = config(port, fake, webhook={"endpoint": "/github", "port": str(port)})
    source = make(servers, creds, cfg)
    assert source.hooks is None
    async with running(source, recorder.emit):
        pass
    assert fake.calls == []


# ------------------------------------------------------------------------------ failures


async def test_a_scope_that_fails_is_logged_retried_and_deliveries_are_served_meanwhile(
    servers: HTTPServers, creds: SecretStore, port: int, recorder: Recorder, fake: FakeGitHub,
    client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    fake.repos.add("octo/a")
    fake.fail["repos/octo/a"] = [502]
    cfg = config(port, fake, repositories=[{"owner": "octo", "names": ["a", "later"]}])
    timing = replace(FAST, first_retry=0.05, max_retry=0.05)
    source = make(servers, creds, cfg, timing)
    with caplog.at_level(logging.INFO, logger="herald.source.github"):
        async with running(source, recorder.emit):
            await fake.wait_for(
                lambda: any(c.path == "repos/octo/later/hooks" for c in fake.calls),
                "a listing of octo/later",
            )
            # GitHub refuses: the source still serves deliveries (no secret here)
            async with client.post(
                f"http://127.0.0.1:{port}/github", data=b"{}",
                headers={"Content-Type": "application/json", "X-GitHub-Event": "push",
                         "X-GitHub-Delivery": "served-1"},
            ) as r:  # fmt: skip
                assert r.status == 200
            fake.repos.add("octo/later")  # the token gets access to it
            await maintained(source)
    assert {c.path for c in fake.api_calls("POST")} == {
        "repos/octo/a/hooks",
        "repos/octo/later/hooks",
    }
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("repository octo/a" in m and "GitHub answered 502" in m for m in errors)
    assert any(
        "repository octo/later" in m and "404 Not Found: Not Found" in m and "still served" in m
        for m in errors
    )
    assert [e.id for e in recorder.published] == ["served-1"]


async def test_it_gives_up_after_the_retries_and_keeps_serving(
    servers: HTTPServers, creds: SecretStore, port: int, recorder: Recorder, fake: FakeGitHub,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    timing = replace(FAST, retries=2)
    source = make(servers, creds, config(port, fake), timing)  # octo/a does not exist
    with caplog.at_level(logging.ERROR, logger="herald.source.github"):
        async with running(source, recorder.emit) as task:
            await maintained(source)
            assert not task.done()
            assert source.ready.is_set()
    assert len(fake.api_calls("GET")) == 3
    assert "gave up registering the hook on repository octo/a after 3 attempts" in caplog.text


async def test_bad_credentials_are_logged_without_the_token(
    servers: HTTPServers, creds: SecretStore, secrets_dir: Path, port: int, recorder: Recorder,
    fake: FakeGitHub, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    fake.repos.add("octo/a")
    put_secret(secrets_dir, "github-access", "token", b"ghp_wrong-token")
    timing = replace(FAST, retries=0)
    source = make(servers, creds, config(port, fake), timing)
    with caplog.at_level(logging.DEBUG):
        async with running(source, recorder.emit):
            await maintained(source)
    assert "GitHub answered 401 Unauthorized: Bad credentials" in caplog.text
    assert "ghp_wrong-token" not in caplog.text
    fake.problems.clear()  # the fake noted the unknown token; that was the point


async def test_deleting_a_hook_that_is_already_gone_is_fine(
    servers: HTTPServers, creds: SecretStore, port: int, recorder: Recorder, fake: FakeGitHub,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    fake.repos.add("octo/a")
    source = make(servers, creds, config(port, fake, deleteHookOnFinish=True))
    with caplog.at_level(logging.INFO, logger="herald.source.github"):
        async with running(source, recorder.emit):
            await maintained(source)
            fake.hooks["repos/octo/a"].clear()
    [delete] = fake.api_calls("DELETE")
    assert delete.status == 404
    assert "was already gone" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# ------------------------------------------------------------------------- GitHub Apps


def app_config(
    port: int, fake: FakeGitHub, installation: int = 7, **extra: Any
) -> GithubEventSource:
    return config(
        port, fake, apiToken=None,
        githubApp={
            "privateKey": {"name": "github-app", "key": "private-key.pem"},
            "appID": 1234, "installationID": installation,
        },
        **extra,
    )  # fmt: skip


async def test_a_github_app_exchanges_a_jwt_for_an_installation_token(
    servers: HTTPServers, secrets: SecretStore, secrets_dir: Path, port: int,
    recorder: Recorder, fake: FakeGitHub, rsa_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    put_secret(secrets_dir, "github-app", "private-key.pem", pem(rsa_key))
    fake.app = FakeApp(1234, 7, rsa_key.public_key())
    fake.repos |= {"octo/a", "octo/b"}
    cfg = app_config(port, fake, repositories=[{"owner": "octo", "names": ["a", "b"]}])
    source = make(servers, secrets, cfg)
    with caplog.at_level(logging.DEBUG):
        async with running(source, recorder.emit):
            await maintained(source)
    assert fake.app.issued == ["ghs_fake0001"]  # one token for all four calls
    assert len(fake.api_calls()) == 4
    assert {c.headers["Authorization"] for c in fake.api_calls()} == {"Bearer ghs_fake0001"}
    [claims] = fake.app.jwts
    assert claims["iss"] == "1234"
    assert claims["exp"] - claims["iat"] <= 600
    assert "ghs_fake0001" not in caplog.text
    assert "PRIVATE KEY" not in caplog.text


async def test_an_installation_token_is_exchanged_again_before_it_expires(
    servers: HTTPServers, secrets: SecretStore, secrets_dir: Path, port: int,
    recorder: Recorder, fake: FakeGitHub, rsa_key: rsa.RSAPrivateKey,
) -> None:  # fmt: skip
    put_secret(secrets_dir, "github-app", "private-key.pem", pem(rsa_key))
    # tokens that expire within the refresh margin: each call needs a fresh one
    fake.app = FakeApp(1234, 7, rsa_key.public_key(), token_lifetime=30)
    fake.repos.add("octo/a")
    source = make(servers, secrets, app_config(port, fake))
    async with running(source, recorder.emit):
        await maintained(source)
    calls = fake.api_calls()
    assert [c.method for c in calls] == ["GET", "POST"]
    assert fake.app.issued == ["ghs_fake0001", "ghs_fake0002"]
    assert [c.headers["Authorization"] for c in calls] == [
        "Bearer ghs_fake0001", "Bearer ghs_fake0002"
    ]  # fmt: skip


async def test_a_wrong_installation_is_logged_with_what_to_check(
    servers: HTTPServers, secrets: SecretStore, secrets_dir: Path, port: int,
    recorder: Recorder, fake: FakeGitHub, rsa_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    put_secret(secrets_dir, "github-app", "private-key.pem", pem(rsa_key))
    fake.app = FakeApp(1234, 7, rsa_key.public_key())
    fake.repos.add("octo/a")
    timing = replace(FAST, retries=0)
    source = make(servers, secrets, app_config(port, fake, installation=8), timing)
    with caplog.at_level(logging.ERROR, logger="herald.source.github"):
        async with running(source, recorder.emit):
            await maintained(source)
    assert "GitHub App 1234 installation 8" in caplog.text
    assert "404" in caplog.text
    assert "check appID, installationID and the privateKey" in caplog.text
    assert fake.api_calls() == []


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (b"not a key", "not an unencrypted PEM private key"),
        (pem(ec.generate_private_key(ec.SECP256R1())), "not an RSA key"),
    ],
    ids=["garbage", "ec-key"],
)
async def test_an_unusable_app_key_is_refused_at_construction(
    servers: HTTPServers, secrets: SecretStore, secrets_dir: Path, port: int, fake: FakeGitHub,
    key: bytes, message: str,
) -> None:  # fmt: skip
    put_secret(secrets_dir, "github-app", "private-key.pem", key)
    with pytest.raises(ConfigError, match=message) as caught:
        make(servers, secrets, app_config(port, fake))
    assert "githubApp.privateKey github-app/private-key.pem" in str(caught.value)


async def test_a_missing_api_token_is_refused_at_construction(
    servers: HTTPServers, secrets: SecretStore, port: int, fake: FakeGitHub
) -> None:
    with pytest.raises(ConfigError, match="github-access"):
        make(servers, secrets, config(port, fake))


# ---------------------------------------------------------------------------- the client


def test_the_api_base_url() -> None:
    assert api_base_url(None) == "https://api.github.com/"
    assert api_base_url("https://ghe.example.com") == "https://ghe.example.com/api/v3/"
    assert api_base_url("https://ghe.example.com/") == "https://ghe.example.com/api/v3/"
    assert api_base_url("https://ghe.example.com/api/v3/") == "https://ghe.example.com/api/v3/"
    assert api_base_url("https://ghe.example.com/api/v3") == "https://ghe.example.com/api/v3/"
    assert api_base_url("https://api.ghe.example.com") == "https://api.ghe.example.com/"


async def test_pages_on_another_origin_are_not_followed(fake: FakeGitHub) -> None:
    fake.repos.add("octo/a")
    fake.page_size = 1
    fake.next_link_base = "http://127.0.0.2:9"  # the token must never go there
    for n in range(3):
        fake.add_hook("repos/octo/a", config={"url": f"https://x.example/{n}"})
    async with GitHubAPI(api_base_url(fake.url), TokenCredentials(TOKEN)) as api:
        hooks = await api.list_hooks(HookScope.repository("octo", "a"))
    assert [h["config"]["url"] for h in hooks] == ["https://x.example/0"]
    assert len(fake.calls) == 1


async def test_an_unreachable_api_is_an_error_without_a_status() -> None:
    async with GitHubAPI("http://127.0.0.1:9/api/v3/", TokenCredentials(TOKEN), timeout=2) as api:
        with pytest.raises(GitHubAPIError, match="no answer from") as caught:
            await api.list_hooks(HookScope.organization("octo"))
    assert caught.value.status is None
    assert TOKEN not in str(caught.value)


def test_names_are_escaped_in_api_paths() -> None:
    assert HookScope.repository("octo", "a b/../c").path == "repos/octo/a%20b%2F..%2Fc"
    assert HookScope.organization("o?x").path == "orgs/o%3Fx"


# ------------------------------------------------------------------ `herald run`, end to end

MANIFESTS = """\
apiVersion: argoproj.io/v1alpha1
kind: EventSource
metadata:
  name: github
spec:
  github:
    code:
      repositories:
        - owner: octo
          names: [hello]
      webhook:
        endpoint: /github
        port: "{port}"
        method: POST
        url: {public}
      events: [push]
      apiToken: {{name: github-access, key: token}}
      webhookSecret: {{name: github-access, key: secret}}
      githubBaseURL: {api}
      githubUploadURL: {api}/api/uploads/
      deleteHookOnFinish: true
---
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata:
  name: ci-on-push
spec:
  dependencies:
    - name: push
      eventSourceName: github
      eventName: code
      filters:
        data:
          - {{path: headers.X-Github-Event, type: string, value: [push]}}
          - {{path: body.ref, type: string, value: [refs/heads/main]}}
  triggers:
    - template:
        name: start-ci
        http:
          url: {sink}/builds
          payload:
            - src: {{dependencyName: push, dataKey: body.after}}
              dest: commit
            - src: {{dependencyName: push, dataKey: body.X-GitHub-Delivery}}
              dest: delivery
"""


async def _healthy(proc: asyncio.subprocess.Process, url: str) -> None:
    async with asyncio.timeout(20), aiohttp.ClientSession() as session:
        while True:  # another process: look again shortly until it answers
            if proc.returncode is not None:
                raise AssertionError(f"herald exited {proc.returncode} before listening")
            try:
                async with session.get(url + "/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)


async def test_herald_run_registers_the_hook_fires_once_per_delivery_and_deletes_the_hook(
    tmp_path: Path, fake: FakeGitHub, sink: HTTPSink, client: aiohttp.ClientSession
) -> None:
    fake.repos.add("octo/hello")
    port = free_port()
    put_dir = tmp_path / "secrets"
    put_dir.mkdir()
    put_secret(put_dir, "github-access", "token", TOKEN.encode())
    put_secret(put_dir, "github-access", "secret", SECRET.encode())
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(
        MANIFESTS.format(port=port, public=PUBLIC_URL, api=fake.url, sink=sink.url)
    )
    log = tmp_path / "herald.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("herald")), "run", str(manifests),
            "--bus", "memory://", "--host", "127.0.0.1", "--secrets-dir", str(put_dir),
            "--state-dir", str(tmp_path / "state"),
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        await _healthy(proc, url)
        await fake.wait_for(lambda: len(fake.api_calls("POST")) == 1, "the hook's creation")
        [hook] = fake.hooks["repos/octo/hello"]
        assert hook["config"] == {
            "url": HOOK_URL, "content_type": "json", "insecure_ssl": "0", "secret": SECRET
        }  # fmt: skip
        body = orjson.dumps({"ref": "refs/heads/main", "after": "c0ffee"})
        headers = {
            "Content-Type": "application/json", "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "e2e-1", "X-Hub-Signature-256": sign(SECRET.encode(), body),
        }  # fmt: skip
        for expected in ({"id": "e2e-1"}, {"id": "e2e-1", "duplicate": True}):
            async with client.post(url + "/github", data=body, headers=headers) as r:
                assert (r.status, await r.json()) == (200, expected)
        [fired] = await sink.wait_for(1)
        assert fired.json() == {"commit": "c0ffee", "delivery": "e2e-1"}
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert [c.path for c in fake.api_calls("DELETE")] == [f"repos/octo/hello/hooks/{hook['id']}"]
    assert fake.hooks["repos/octo/hello"] == []
    assert len(sink.requests) == 1  # the redelivery fired nothing
    output = log.read_text()
    assert TOKEN not in output
    assert SECRET not in output
