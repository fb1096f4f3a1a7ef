"""The ``pubSub`` source config: Argo's ``PubSubEventSource`` (model only).

Messages of a Google Cloud Pub/Sub subscription (an existing one, or one the
source creates on a topic). ``herald validate`` checks what Argo checks (a
topic or a subscription, and no ``topicProjectID`` without a topic);
``herald run`` refuses the type until it has an adapter.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from eventsources.base import (
    EventSourceFilter,
    Metadata,
    Problem,
    SourceConfig,
    filter_field,
    metadata_field,
    raise_problems,
)
from herald.core.refs import SecretKeySelector


class PubSubEventSource(SourceConfig):
    """One Pub/Sub event: project, topic and/or subscription, credentials."""

    project_id: str | None = Field(
        default=None,
        alias="projectID",
        description="Project of the subscription (default: the project the pod runs in).",
    )
    topic_project_id: str | None = Field(
        default=None,
        alias="topicProjectID",
        description="Project of the topic, when it differs from projectID (needs topic).",
    )
    topic: str | None = Field(
        default=None,
        description="Topic to subscribe to (required to create the subscription).",
    )
    subscription_id: str | None = Field(
        default=None,
        alias="subscriptionID",
        description="Subscription to read (default: one named after this EventSource).",
    )
    credential_secret: SecretKeySelector | None = Field(
        default=None,
        description="Service account JSON key (default: Workload Identity).",
    )
    delete_subscription_on_finish: bool | None = Field(
        default=None, description="Delete the subscription when the source stops."
    )
    json_body: bool | None = Field(
        default=None,
        description="Message data is JSON and goes into the event as JSON (else base64).",
    )
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()

    @model_validator(mode="after")
    def _where(self) -> Self:
        problems: list[Problem] = []
        if not self.topic and not self.subscription_id:
            problems.append(
                Problem(
                    ("topic",),
                    "set topic (to create a subscription on it) or subscriptionID "
                    "(an existing subscription)",
                    None,
                    "required",
                )
            )
        elif self.topic_project_id and not self.topic:
            problems.append(
                Problem(
                    ("topicProjectID",),
                    "topicProjectID needs topic: set topic, or remove topicProjectID",
                    self.topic_project_id,
                )
            )
        raise_problems(problems, type(self).__name__)
        return self
