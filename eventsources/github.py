"""The ``github`` source: GitHub webhook deliveries for repositories or organisations.

The config is Argo's ``GithubEventSource``. Herald listens on ``webhook`` (a
:class:`WebhookContext`), checks ``X-Hub-Signature-256`` with ``webhookSecret``
and, when credentials (``apiToken`` or ``githubApp``) and ``webhook.url`` are
both set, registers the hook through the GitHub API (``githubBaseURL`` for
GitHub Enterprise). ``events`` lists the event types the hook subscribes to.

Argo's deprecated ``id``, ``owner`` and ``repository`` still load, with a
warning; ``owner`` plus ``repository`` count as one entry of ``repositories``.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

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
from eventsources.http_server import WebhookContext, check_url
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector


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
        if self.webhook.method not in (None, "POST"):
            notes.append(
                (
                    ("webhook", "method"),
                    f"GitHub always delivers with POST, never {self.webhook.method}: "
                    "set method: POST or leave it out",
                )
            )
        return notes
