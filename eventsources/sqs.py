"""The ``sqs`` source config: Argo's ``SQSEventSource`` (model only).

Messages received from an AWS SQS queue (long polling). ``herald validate``
checks what Argo checks (region and queue set), that the access key and secret
key come together and that ``waitTimeSeconds`` is within SQS's 0 to 20 (a
session token without the keys is ignored, with a warning); ``herald run``
refuses the type until it has an adapter.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from eventsources.base import (
    EventSourceFilter,
    Metadata,
    Note,
    Problem,
    SourceConfig,
    filter_field,
    metadata_field,
    raise_problems,
)
from herald.core.refs import SecretKeySelector


class SQSEventSource(SourceConfig):
    """One SQS event: the queue, how long to wait for messages, and AWS credentials."""

    access_key: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the AWS access key id (with secretKey)."
    )
    secret_key: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the AWS secret access key (with accessKey)."
    )
    region: str = Field(min_length=1, description="AWS region, e.g. us-east-1.")
    queue: str = Field(min_length=1, description="Queue name, e.g. orders.")
    wait_time_seconds: int | None = Field(
        default=None,
        ge=0,
        le=20,
        description="Seconds a receive call waits for a message to arrive (0 to 20).",
    )
    role_arn: str | None = Field(default=None, alias="roleARN", description="IAM role to assume.")
    json_body: bool | None = Field(
        default=None,
        description="Message bodies are JSON and go into the event as JSON (else a string).",
    )
    queue_account_id: str | None = Field(
        default=None,
        alias="queueAccountId",
        description="AWS account that owns the queue, when it is not the caller's.",
    )
    metadata: Metadata | None = metadata_field()
    dlq: bool | None = Field(
        default=None,
        description="Leave messages whose body is not valid unacknowledged, for the queue's "
        "dead-letter queue.",
    )
    filter: EventSourceFilter | None = filter_field()
    endpoint: str | None = Field(
        default=None, description="SQS API endpoint to use instead of AWS's (e.g. LocalStack)."
    )
    session_token: SecretKeySelector | None = Field(
        default=None, description="Secret key holding a temporary (STS) session token."
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

    def manifest_warnings(self) -> list[Note]:
        """A session token without the keys it belongs to is ignored, as in Argo."""
        if self.session_token is not None and self.access_key is None:
            return [
                (
                    ("sessionToken",),
                    "ignored without accessKey and secretKey (the AWS default credentials "
                    "are used): set them, or remove sessionToken",
                )
            ]
        return []
