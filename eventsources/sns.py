"""The ``sns`` source config: Argo's ``SNSEventSource`` (model only).

Notifications of an AWS SNS topic, delivered by SNS to an HTTP endpoint this
source serves (it subscribes that endpoint to the topic). ``herald validate``
checks what Argo checks (topic ARN, region, a complete webhook context) and
that the access key and secret key come together; ``herald run`` refuses the
type until it has an adapter. Its port and endpoint count with those of every
other HTTP event of the EventSource.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from eventsources.base import (
    EventSourceFilter,
    Loc,
    Metadata,
    Problem,
    SourceConfig,
    filter_field,
    metadata_field,
    raise_problems,
)
from eventsources.http_server import WebhookContext
from herald.core.refs import SecretKeySelector


class SNSEventSource(SourceConfig):
    """One SNS event: the topic, where SNS delivers, and AWS credentials."""

    webhook: WebhookContext = Field(
        description="Where SNS delivers: port, endpoint and the public url SNS can reach."
    )
    topic_arn: str = Field(
        min_length=1, description="ARN of the topic, e.g. arn:aws:sns:us-east-1:123:topic."
    )
    access_key: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the AWS access key id (with secretKey)."
    )
    secret_key: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the AWS secret access key (with accessKey)."
    )
    region: str = Field(min_length=1, description="AWS region, e.g. us-east-1.")
    role_arn: str | None = Field(default=None, alias="roleARN", description="IAM role to assume.")
    metadata: Metadata | None = metadata_field()
    validate_signature: bool | None = Field(
        default=None, description="Verify the signature SNS puts on every message."
    )
    filter: EventSourceFilter | None = filter_field()
    endpoint: str | None = Field(
        default=None, description="SNS API endpoint to use instead of AWS's (e.g. LocalStack)."
    )

    @model_validator(mode="after")
    def _keys(self) -> Self:
        problems: list[Problem] = []
        if (self.access_key is None) != (self.secret_key is None):
            missing = "secretKey" if self.secret_key is None else "accessKey"
            problems.append(
                Problem(
                    (missing,),
                    "set accessKey and secretKey together, or neither (AWS default credentials)",
                    None,
                    "required",
                )
            )
        raise_problems(problems, type(self).__name__)
        return self

    def http_route(self) -> tuple[Loc, WebhookContext]:
        """SNS delivers to the nested webhook context."""
        return (("webhook",), self.webhook)
