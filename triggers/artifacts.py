"""Where the k8s and argoWorkflow triggers get the object they act on.

Argo Events calls this an ``ArtifactLocation``: the object is written inline in
the manifest (``resource`` as YAML, ``inline`` as a string), or read from a
file, a URL, a ConfigMap key, a git repository or an S3 bucket. Exactly one
location is allowed. The embedded Kubernetes object stays an opaque mapping:
Herald checks where it comes from, not what it is.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic.config import JsonDict

from herald.core.model import Spec
from herald.core.refs import ConfigMapKeySelector, SecretKeySelector
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
