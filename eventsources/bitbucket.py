"""The ``bitbucket`` source config: Argo's ``BitbucketEventSource`` (model only).

Bitbucket Cloud webhook deliveries for repositories; with ``webhook.url`` the
source registers the hooks through the Bitbucket API. ``herald validate``
checks what Argo checks (at least one repository, events when hooks are
registered, a complete webhook context) and that ``auth`` holds exactly one of
basic credentials or an OAuth token. Argo's deprecated ``owner`` and
``repositorySlug`` load with a warning (together they count as one
repository); ``projectKey`` was never used and loads with a warning too.
``herald run`` refuses the type until it has an adapter. Its port and endpoint
count with those of every other HTTP event of the EventSource.
"""

from __future__ import annotations

from typing import Self

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
from eventsources.http_server import WebhookContext
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector


class BitbucketRepository(Spec):
    """One repository: its owner (workspace) and slug."""

    owner: str = Field(min_length=1, description="Owner (workspace) of the repository.")
    repository_slug: str = Field(
        min_length=1, description="URL-friendly repository name, e.g. my-repo."
    )


class BitbucketBasicAuth(Spec):
    """User name and (app) password, from secrets."""

    username: SecretKeySelector = Field(description="Secret key holding the user name.")
    password: SecretKeySelector = Field(description="Secret key holding the (app) password.")


class BitbucketAuth(Spec):
    """How to call the Bitbucket API: exactly one of basic or oauthToken."""

    basic: BitbucketBasicAuth | None = Field(
        default=None, description="User name and app password."
    )
    oauth_token: SecretKeySelector | None = Field(
        default=None, alias="oauthToken", description="Secret key holding an OAuth bearer token."
    )

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.basic is None) == (self.oauth_token is None):
            found = "neither" if self.basic is None else "both"
            raise field_error(
                "one_of", f"auth takes exactly one of basic or oauthToken (found {found})"
            )
        return self


class BitbucketEventSource(SourceConfig):
    """One Bitbucket Cloud event: which repositories, which events, and credentials."""

    delete_hook_on_finish: bool | None = Field(
        default=None, description="Delete the registered hooks when the EventSource stops."
    )
    metadata: Metadata | None = metadata_field()
    webhook: WebhookContext = Field(
        description="Where Bitbucket delivers: port, endpoint and the public url of this server."
    )
    auth: BitbucketAuth = Field(description="Credentials for the Bitbucket API.")
    events: list[str] | None = Field(
        default=None,
        description="Events to subscribe to, e.g. [repo:push]; required to register hooks.",
    )
    owner: str | None = Field(
        default=None,
        description="Deprecated (Argo): use repositories: [{owner, repositorySlug}] instead.",
        json_schema_extra={"deprecated": True},
    )
    project_key: str | None = Field(
        default=None,
        description="Deprecated and unused (Argo): remove it.",
        json_schema_extra={"deprecated": True},
    )
    repository_slug: str | None = Field(
        default=None,
        description="Deprecated (Argo): use repositories: [{owner, repositorySlug}] instead.",
        json_schema_extra={"deprecated": True},
    )
    repositories: list[BitbucketRepository] | None = Field(
        default=None, description="Repositories to hook."
    )
    filter: EventSourceFilter | None = filter_field()

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not e.strip() for e in value):
            raise field_error("blank_name", "events must not contain an empty name")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = []
        legacy = bool(self.owner and self.repository_slug)
        if bool(self.owner) != bool(self.repository_slug):
            missing = "repositorySlug" if not self.repository_slug else "owner"
            problems.append(
                Problem(
                    (missing,),
                    "the deprecated owner and repositorySlug go together; better, replace "
                    "both with repositories: [{owner: ..., repositorySlug: ...}]",
                    None,
                    "required",
                )
            )
        elif not self.repositories and not legacy:
            problems.append(
                Problem(
                    ("repositories",),
                    "at least one repository is required: repositories: "
                    "[{owner: ..., repositorySlug: ...}]",
                    None,
                    "required",
                )
            )
        if self.webhook.url and not self.events:
            problems.append(
                Problem(
                    ("events",),
                    "events are required to register the hooks (webhook.url is set), "
                    "e.g. [repo:push]",
                    None,
                    "required",
                )
            )
        raise_problems(problems, type(self).__name__)
        return self

    def manifest_warnings(self) -> list[Note]:
        """Argo's deprecated repository fields."""
        notes: list[Note] = []
        if self.owner and self.repository_slug:
            if self.repositories:
                message = "ignored when repositories is set (as in Argo): move it there"
            else:
                message = (
                    "deprecated (Argo): write repositories: [{owner: "
                    f"{self.owner}, repositorySlug: {self.repository_slug}}}] instead"
                )
            notes += [(("owner",), message), (("repositorySlug",), message)]
        if self.project_key is not None:
            notes.append((("projectKey",), "deprecated and never used (Argo): remove it"))
        return notes

    def http_route(self) -> tuple[Loc, WebhookContext]:
        """Bitbucket delivers to the nested webhook context."""
        return (("webhook",), self.webhook)
