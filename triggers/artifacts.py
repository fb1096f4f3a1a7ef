"""Where the k8s and argoWorkflow triggers get the object they act on, and reading it.

Argo Events calls this an ``ArtifactLocation``: the object is written inline in
the manifest (``resource`` as YAML, ``inline`` as a string), or read from a
file, a URL, a ConfigMap key, a git repository or an S3 bucket. Exactly one
location is allowed. The embedded Kubernetes object stays an opaque mapping:
Herald checks where it comes from, not what it is.

The second half of the module reads a location into an object
(:func:`load_object`) at every firing, as Argo does, so that a changed file,
ConfigMap, bucket object or branch is picked up without a restart. What it
guarantees:

- the result is a fresh ``dict`` the caller may change (the manifest's
  ``resource`` is copied, never shared);
- every document is YAML or JSON holding exactly one object, at most
  :data:`MAX_ARTIFACT_BYTES` (Argo cuts URL and S3 reads short silently; Herald
  says so);
- failures are typed: a missing file, key, object or ref, a refused credential
  or a document that is not one object is permanent; a network failure, a
  timeout, 408/429/5xx answers and S3 throttling are temporary;
- ``git`` runs the git CLI: a shallow fetch of the one ref needed into a
  private temporary directory, deleted afterwards, with prompts off, only the
  file/git/http(s)/ssh transports allowed and credentials passed through the
  environment (never on the command line). ``cloneDirectory`` is accepted for
  Argo compatibility but not used: concurrent firings never share a working
  tree. With ``remote``, the file is read from ``remote.urls[0]``. Without
  branch, tag or ref the remote's default branch (``HEAD``) is read, where Argo
  assumes ``master``;
- ``url``: the certificate is verified unless ``verifyCert: false`` is written
  (Argo skips verification unless ``verifyCert: true``);
- ``s3`` uses aiobotocore (``pip install 'herald[aws]'``) with path-style
  addressing, as MinIO and other S3-compatible stores expect;
- ``git.githubApp`` is not supported yet: a trigger using it is refused when it
  is built (:func:`check_supported`).
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from pydantic import Field, field_validator, model_validator
from pydantic.config import JsonDict

from herald.core.errors import (
    ConfigError,
    PermanentTriggerError,
    SecretError,
    TemporaryTriggerError,
)
from herald.core.model import Spec
from herald.core.refs import ConfigMapKeySelector, SecretKeySelector, SecretStore
from triggers.params import exactly_one

# Argo's git reader refuses these in filePath and cloneDirectory.
_NOT_IN_GIT_PATHS = ("..", "~", "\\")

_OPAQUE: JsonDict = {"x-kubernetes-preserve-unknown-fields": True}


class S3Bucket(Spec):
    """A bucket, and the object key inside it."""

    name: str = Field(min_length=1, description="Bucket name.")
    key: str | None = Field(default=None, description="Object key of the artifact.")


class S3Filter(Spec):
    """Object-name constraints (used by S3 event sources; accepted here for Argo parity)."""

    prefix: str = Field(default="", description="Object keys must start with this.")
    suffix: str = Field(default="", description="Object keys must end with this.")


class S3Artifact(Spec):
    """An object in an S3-compatible store, as Argo's ``S3Artifact``."""

    endpoint: str = Field(min_length=1, description="host:port of the S3 API, without scheme.")
    bucket: S3Bucket = Field(description="Bucket and key of the object.")
    region: str | None = Field(default=None, description="Region of the bucket.")
    insecure: bool | None = Field(default=None, description="Use plain HTTP instead of HTTPS.")
    access_key: SecretKeySelector = Field(description="Secret key holding the access key id.")
    secret_key: SecretKeySelector = Field(description="Secret key holding the secret access key.")
    events: list[str] | None = Field(
        default=None, description="Bucket notification events (event sources only)."
    )
    filter: S3Filter | None = Field(
        default=None, description="Object name filter (event sources only)."
    )
    metadata: dict[str, str] | None = Field(
        default=None, description="Extra metadata (event sources only)."
    )
    ca_certificate: SecretKeySelector | None = Field(
        default=None, description="Secret key holding a CA certificate to trust."
    )


class FileArtifact(Spec):
    """A file on the sensor's filesystem (mount it into the sensor pod on Kubernetes)."""

    path: str = Field(min_length=1, description="Path of the file.")


class URLArtifact(Spec):
    """A document fetched over HTTP(S)."""

    path: str = Field(min_length=1, description="URL of the document.")
    verify_cert: bool | None = Field(
        default=None, description="Verify the server's TLS certificate."
    )


class GitCreds(Spec):
    """Username and password (or token) for an HTTPS git remote."""

    username: SecretKeySelector | None = Field(default=None, description="Secret with the user.")
    password: SecretKeySelector | None = Field(
        default=None, description="Secret with the password or token."
    )


class GitRemoteConfig(Spec):
    """An extra git remote to fetch from."""

    name: str = Field(min_length=1, description="Name of the remote.")
    urls: list[str] = Field(min_length=1, description="URLs of the remote.")


class GithubAppCreds(Spec):
    """GitHub App credentials for cloning a repository."""

    private_key: SecretKeySelector = Field(description="Secret with the App's private key (PEM).")
    app_id: int = Field(alias="appID", description="The GitHub App id.")
    installation_id: int = Field(alias="installationID", description="The App's installation id.")


class GitArtifact(Spec):
    """A file in a git repository, cloned into the sensor."""

    url: str = Field(min_length=1, description="Repository URL (https or ssh).")
    clone_directory: str = Field(min_length=1, description="Directory to clone into.")
    creds: GitCreds | None = Field(default=None, description="HTTPS credentials.")
    ssh_key_secret: SecretKeySelector | None = Field(
        default=None, description="Secret with an SSH private key."
    )
    file_path: str = Field(min_length=1, description="Path of the file inside the repository.")
    branch: str | None = Field(default=None, description="Branch to check out (default master).")
    tag: str | None = Field(default=None, description="Tag to check out (wins over branch).")
    ref: str | None = Field(
        default=None, description="Git ref to fetch and check out (wins over tag)."
    )
    remote: GitRemoteConfig | None = Field(default=None, description="Remote to fetch from.")
    insecure_ignore_host_key: bool | None = Field(
        default=None, description="Do not verify the SSH host key."
    )
    github_app: GithubAppCreds | None = Field(
        default=None, description="Authenticate as a GitHub App instead of with creds."
    )

    @field_validator("clone_directory", "file_path")
    @classmethod
    def _no_escape(cls, value: str) -> str:
        for bad in _NOT_IN_GIT_PATHS:
            if bad in value:
                raise ValueError(f"{bad!r} is not allowed in a git path: use a plain relative path")
        return value


class ArtifactLocation(Spec):
    """Where a trigger's object comes from: exactly one of the locations below."""

    s3: S3Artifact | None = Field(default=None, description="An object in an S3 bucket.")
    inline: str | None = Field(default=None, description="The object as a YAML or JSON string.")
    file: FileArtifact | None = Field(default=None, description="A file on the sensor.")
    url: URLArtifact | None = Field(default=None, description="A document at a URL.")
    configmap: ConfigMapKeySelector | None = Field(
        default=None, description="A ConfigMap key holding the object."
    )
    git: GitArtifact | None = Field(default=None, description="A file in a git repository.")
    resource: dict[str, Any] | None = Field(
        default=None,
        description="The Kubernetes object itself, written inline (kept as given).",
        json_schema_extra=_OPAQUE,
    )

    @model_validator(mode="after")
    def _one_location(self) -> ArtifactLocation:
        exactly_one(
            self,
            ["s3", "inline", "file", "url", "configmap", "git", "resource"],
            "source",
        )
        return self


# ------------------------------------------------------------------------- reading

MAX_ARTIFACT_BYTES = 1024 * 1024
"""Largest document a location may hold."""

GIT_TIMEOUT_SECONDS = 120.0
"""Longest one git command may take before the firing fails (temporarily)."""

URL_TIMEOUT_SECONDS = 60.0
"""Longest a URL or S3 read may take."""

_GIT_PROTOCOLS = "file:git:http:https:ssh"
_GIT_PERMANENT = (
    "couldn't find remote ref",
    "not our ref",
    "invalid refspec",
    "authentication failed",
    "permission denied",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "repository not found",
    "does not appear to be a git repository",
    "not allowed",
    "host key verification failed",
)
_USERINFO = re.compile(r"(?<=//)[^/@\s]+@")
_TEMPORARY_STATUSES = frozenset({408, 429})
_S3_TEMPORARY_CODES = frozenset({"SlowDown", "Throttling", "RequestTimeout", "InternalError"})

SessionFactory = Callable[[], aiohttp.ClientSession]
"""Gives the shared HTTP session (``TriggerContext.http``)."""


def check_supported(location: ArtifactLocation, path: str = "source") -> None:
    """Raise ConfigError for a location Herald cannot read yet (so ``herald run`` refuses)."""
    if location.git is not None and location.git.github_app is not None:
        raise ConfigError(
            "git.githubApp is not supported yet: give an installation token as "
            "git.creds.password (username x-access-token) instead",
            path=f"{path}.git.githubApp",
        )


async def load_object(
    location: ArtifactLocation,
    secrets: SecretStore,
    http: SessionFactory,
    *,
    where: str = "source",
) -> dict[str, Any]:
    """The object at ``location``, freshly read and parsed; the caller may change it."""
    if location.resource is not None:
        copied: dict[str, Any] = orjson.loads(orjson.dumps(location.resource))
        return copied
    raw = await read_artifact(location, secrets, http, where=where)
    return parse_object(raw, where)


async def read_artifact(
    location: ArtifactLocation,
    secrets: SecretStore,
    http: SessionFactory,
    *,
    where: str = "source",
) -> bytes:
    """The raw document at ``location`` (not for ``resource``, which is already parsed)."""
    if location.inline is not None:
        return _capped(location.inline.encode("utf-8"), f"{where}.inline")
    if location.file is not None:
        return await _read_file(location.file, where)
    if location.configmap is not None:
        return _read_configmap(location.configmap, secrets, where)
    if location.url is not None:
        return await _read_url(location.url, http, where)
    if location.s3 is not None:
        return await _read_s3(location.s3, secrets, where)
    if location.git is not None:
        return await _read_git(location.git, secrets, where)
    raise PermanentTriggerError(f"{where}: no location to read (resource is already an object)")


_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_object(raw: bytes, where: str) -> dict[str, Any]:
    """One YAML or JSON object from ``raw``; a permanent error saying what is wrong."""
    try:
        documents = [d for d in yaml.load_all(raw, Loader=_Loader) if d is not None]
    except yaml.YAMLError as e:
        raise PermanentTriggerError(f"{where}: not valid YAML or JSON: {_one_line(e)}") from e
    if len(documents) != 1:
        raise PermanentTriggerError(
            f"{where}: expected exactly one object, found {len(documents)} documents"
        )
    document = documents[0]
    if not isinstance(document, dict):
        raise PermanentTriggerError(
            f"{where}: expected an object (a mapping), found {type(document).__name__}"
        )
    # Round-trip through JSON: YAML dates and other non-JSON values become strings.
    try:
        parsed: dict[str, Any] = orjson.loads(
            orjson.dumps(document, default=str, option=orjson.OPT_NON_STR_KEYS)
        )
    except orjson.JSONEncodeError as e:
        raise PermanentTriggerError(f"{where}: the object is not JSON-compatible: {e}") from e
    return parsed


def _capped(data: bytes, where: str) -> bytes:
    if len(data) > MAX_ARTIFACT_BYTES:
        raise PermanentTriggerError(
            f"{where}: the document is larger than {MAX_ARTIFACT_BYTES} bytes"
        )
    return data


async def _read_file(file: FileArtifact, where: str) -> bytes:
    path = Path(file.path)
    try:
        size = (await asyncio.to_thread(path.stat)).st_size
        if size > MAX_ARTIFACT_BYTES:
            raise PermanentTriggerError(
                f"{where}.file: {path} is larger than {MAX_ARTIFACT_BYTES} bytes"
            )
        return await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError as e:
        raise PermanentTriggerError(f"{where}.file: {path} does not exist") from e
    except OSError as e:
        raise PermanentTriggerError(f"{where}.file: cannot read {path}: {e.strerror}") from e


def _read_configmap(ref: ConfigMapKeySelector, secrets: SecretStore, where: str) -> bytes:
    try:
        text = secrets.configmap(ref)
    except SecretError as e:
        raise PermanentTriggerError(f"{where}.configmap: {e}") from e
    if text is None:
        raise PermanentTriggerError(
            f"{where}.configmap: {ref.name}/{ref.key} is absent (it is optional, but the "
            "trigger needs the object)"
        )
    return _capped(text.encode("utf-8"), f"{where}.configmap")


async def _read_url(url: URLArtifact, http: SessionFactory, where: str) -> bytes:
    target = url.path
    shown = _USERINFO.sub("***@", target)
    verify = url.verify_cert is not False
    try:
        async with http().get(
            target,
            ssl=verify,
            timeout=aiohttp.ClientTimeout(total=URL_TIMEOUT_SECONDS),
            allow_redirects=True,
        ) as response:
            status = response.status
            if status != 200:
                message = f"{where}.url: GET {shown} answered {status}, expected 200"
                if status >= 500 or status in _TEMPORARY_STATUSES:
                    raise TemporaryTriggerError(message)
                raise PermanentTriggerError(message)
            data = await response.content.read(MAX_ARTIFACT_BYTES + 1)
    except TimeoutError as e:
        raise TemporaryTriggerError(
            f"{where}.url: GET {shown}: no answer within {URL_TIMEOUT_SECONDS:.0f} s"
        ) from e
    except aiohttp.ClientConnectorCertificateError as e:
        raise PermanentTriggerError(
            f"{where}.url: GET {shown}: TLS certificate rejected ({e.certificate_error}); "
            "set url.verifyCert: false to skip verification"
        ) from e
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as e:
        raise PermanentTriggerError(f"{where}.url: {shown} is not a valid http(s) URL") from e
    except aiohttp.ClientError as e:
        raise TemporaryTriggerError(f"{where}.url: GET {shown}: {_one_line(e)}") from e
    return _capped(data, f"{where}.url")


async def _read_s3(s3: S3Artifact, secrets: SecretStore, where: str) -> bytes:
    try:
        from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
        from aiobotocore.session import get_session  # type: ignore[import-untyped]
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
            HTTPClientError,
        )
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise ImportError(
            "reading a trigger source from S3 needs aiobotocore: pip install 'herald[aws]'"
        ) from e
    key = s3.bucket.key
    if not key:
        raise PermanentTriggerError(f"{where}.s3.bucket.key: the object key is required")
    try:
        access_key = secrets.secret(s3.access_key)
        secret_key = secrets.secret(s3.secret_key)
    except SecretError as e:
        raise PermanentTriggerError(f"{where}.s3: {e}") from e
    verify: bool | str = True
    if s3.ca_certificate is not None:
        ca_path = secrets.secrets_dir / s3.ca_certificate.name / s3.ca_certificate.key
        if not ca_path.is_file():
            raise PermanentTriggerError(
                f"{where}.s3.caCertificate: no file at {ca_path} (set --secrets-dir, or mount "
                "the secret there)"
            )
        verify = str(ca_path)
    scheme = "http" if s3.insecure else "https"
    shown = f"s3://{s3.bucket.name}/{key} at {s3.endpoint}"
    config = AioConfig(
        s3={"addressing_style": "path"},
        connect_timeout=10,
        read_timeout=URL_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    try:
        async with get_session().create_client(
            "s3",
            endpoint_url=f"{scheme}://{s3.endpoint}",
            region_name=s3.region or "us-east-1",
            aws_access_key_id=(access_key or "").strip(),
            aws_secret_access_key=(secret_key or "").strip(),
            verify=verify,
            config=config,
        ) as client:
            answer = await client.get_object(Bucket=s3.bucket.name, Key=key)
            size = answer.get("ContentLength") or 0
            if size > MAX_ARTIFACT_BYTES:
                raise PermanentTriggerError(
                    f"{where}.s3: {shown} is larger than {MAX_ARTIFACT_BYTES} bytes"
                )
            async with answer["Body"] as body:
                data: bytes = await body.read()
    except ClientError as e:
        error = e.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = f"{where}.s3: GET {shown}: {code or status} {error.get('Message', '')}".rstrip()
        if status >= 500 or status in _TEMPORARY_STATUSES or code in _S3_TEMPORARY_CODES:
            raise TemporaryTriggerError(message) from e
        raise PermanentTriggerError(message) from e
    except HTTPClientError as e:
        raise TemporaryTriggerError(f"{where}.s3: GET {shown}: {_one_line(e)}") from e
    except BotoCoreError as e:
        raise PermanentTriggerError(f"{where}.s3: GET {shown}: {_one_line(e)}") from e
    return _capped(data, f"{where}.s3")


async def _read_git(git: GitArtifact, secrets: SecretStore, where: str) -> bytes:
    executable = shutil.which("git")
    if executable is None:
        raise PermanentTriggerError(f"{where}.git: the git CLI is not installed")
    url = git.remote.urls[0] if git.remote is not None else git.url
    shown = _USERINFO.sub("***@", url)
    if git.ref:
        wanted = git.ref
    elif git.tag:
        wanted = f"refs/tags/{git.tag}"
    elif git.branch:
        wanted = f"refs/heads/{git.branch}"
    else:
        wanted = "HEAD"
    with tempfile.TemporaryDirectory(prefix="herald-git-") as tmp:
        env = _git_env(git, secrets, Path(tmp), where)
        repo = str(Path(tmp) / "repo")
        run = _GitRunner(executable, env, where, shown)
        await run("init", "-q", repo)
        await run("-C", repo, "fetch", "-q", "--depth", "1", "--no-tags", "--", url, wanted)
        listing = await run("-C", repo, "ls-tree", "-z", "FETCH_HEAD", "--", git.file_path)
        entry = listing.split(b"\0", 1)[0].decode("utf-8", "replace")
        if not entry:
            raise PermanentTriggerError(
                f"{where}.git: {git.file_path!r} does not exist at {wanted} of {shown}"
            )
        mode, kind, rest = entry.split(" ", 2)
        sha = rest.split("\t", 1)[0]
        if mode == "120000":
            raise PermanentTriggerError(
                f"{where}.git: {git.file_path!r} is a symbolic link, which is not allowed"
            )
        if kind != "blob":
            raise PermanentTriggerError(f"{where}.git: {git.file_path!r} is not a file")
        size = int((await run("-C", repo, "cat-file", "-s", sha)).strip() or b"0")
        if size > MAX_ARTIFACT_BYTES:
            raise PermanentTriggerError(
                f"{where}.git: {git.file_path!r} is larger than {MAX_ARTIFACT_BYTES} bytes"
            )
        return await run("-C", repo, "cat-file", "blob", sha)


def _git_env(git: GitArtifact, secrets: SecretStore, tmp: Path, where: str) -> dict[str, str]:
    """The git commands' environment: no prompts, few transports, credentials (never in argv)."""
    env = dict(os.environ)
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": _GIT_PROTOCOLS,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "LC_ALL": "C",
        }
    )
    config: list[tuple[str, str]] = []
    try:
        if git.creds is not None:
            username = secrets.secret(git.creds.username) if git.creds.username else ""
            password = secrets.secret(git.creds.password) if git.creds.password else ""
            token = base64.b64encode(f"{username or ''}:{password or ''}".encode()).decode()
            config.append(("http.extraHeader", f"Authorization: Basic {token}"))
        if git.ssh_key_secret is not None:
            key = secrets.secret_bytes(git.ssh_key_secret)
            if key is None:
                raise PermanentTriggerError(f"{where}.git.sshKeySecret: the secret is absent")
            key_file = tmp / "ssh-key"
            key_file.touch(mode=0o600)
            key_file.write_bytes(key)
            options = ["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
            if git.insecure_ignore_host_key:
                options += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
            env["GIT_SSH_COMMAND"] = shlex.join(["ssh", "-i", str(key_file), *options])
    except SecretError as e:
        raise PermanentTriggerError(f"{where}.git: {e}") from e
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (name, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{i}"] = name
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


class _GitRunner:
    """Runs git commands with a deadline; failures become trigger errors."""

    def __init__(self, executable: str, env: dict[str, str], where: str, shown: str) -> None:
        self._executable = executable
        self._env = env
        self._where = where
        self._shown = shown

    async def __call__(self, *args: str) -> bytes:
        command = args[2] if args[0] == "-C" else args[0]
        process = await asyncio.create_subprocess_exec(
            self._executable,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._env,
        )
        try:
            async with asyncio.timeout(GIT_TIMEOUT_SECONDS):
                out, err = await process.communicate()
        except TimeoutError as e:
            raise TemporaryTriggerError(
                f"{self._where}.git: git {command} for {self._shown} took longer than "
                f"{GIT_TIMEOUT_SECONDS:.0f} s"
            ) from e
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if process.returncode == 0:
            return out
        text = _USERINFO.sub("***@", " ".join(err.decode("utf-8", "replace").split()))[:300]
        message = (
            f"{self._where}.git: git {command} failed for {self._shown}: "
            f"{text or f'exit status {process.returncode}'}"
        )
        if command == "fetch" and not any(m in text.lower() for m in _GIT_PERMANENT):
            raise TemporaryTriggerError(message)
        raise PermanentTriggerError(message)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:300] if text else type(error).__name__
