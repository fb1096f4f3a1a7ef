"""The ``azureServiceBus`` source config: Argo's ``AzureServiceBusEventSource`` (model only).

Messages received from an Azure Service Bus queue or topic subscription.
``herald validate`` checks what Argo checks (a connection string or the
namespace for Azure AD; exactly one of a queue or a topic with its
subscription) and a complete TLS block; ``fullyQualifiedNamespace`` next to a
connection string loads with a warning (it is ignored). ``herald run`` refuses
the type until it has an adapter.
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
    tls_problems,
)
from herald.core.refs import SecretKeySelector
from herald.core.tls import TLSConfig


class AzureServiceBusEventSource(SourceConfig):
    """One Service Bus event: namespace or connection string, and a queue or subscription."""

    connection_string: SecretKeySelector | None = Field(
        default=None,
        description="Secret key holding the connection string (else fullyQualifiedNamespace "
        "with Azure AD).",
    )
    queue_name: str | None = Field(default=None, description="Queue to receive from.")
    topic_name: str | None = Field(
        default=None, description="Topic to receive from (with subscriptionName)."
    )
    subscription_name: str | None = Field(
        default=None, description="Subscription of topicName to receive from."
    )
    tls: TLSConfig | None = Field(default=None, description="TLS to Service Bus.")
    json_body: bool | None = Field(
        default=None,
        description="Message bodies are JSON and go into the event as JSON (else base64).",
    )
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()
    fully_qualified_namespace: str | None = Field(
        default=None,
        description="Namespace host for Azure AD, e.g. my-bus.servicebus.windows.net.",
    )
    defer_delete: bool | None = Field(
        default=None,
        description="Delete a message only after the bus has its event (else on receipt).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = list(tls_problems(self.tls))
        if self.connection_string is None and not self.fully_qualified_namespace:
            problems.append(
                Problem(
                    ("connectionString",),
                    "set connectionString, or fullyQualifiedNamespace to use Azure AD",
                    None,
                    "required",
                )
            )
        if self.queue_name:
            if self.topic_name or self.subscription_name:
                extra = "topicName" if self.topic_name else "subscriptionName"
                problems.append(
                    Problem(
                        (extra,),
                        "set queueName, or topicName with subscriptionName, not both",
                        None,
                        "one_of",
                    )
                )
        elif not self.topic_name and not self.subscription_name:
            problems.append(
                Problem(
                    ("queueName",),
                    "set queueName, or topicName with subscriptionName",
                    None,
                    "required",
                )
            )
        elif not self.topic_name or not self.subscription_name:
            missing = "topicName" if not self.topic_name else "subscriptionName"
            problems.append(
                Problem(
                    (missing,),
                    "topicName and subscriptionName go together",
                    None,
                    "required",
                )
            )
        raise_problems(problems, type(self).__name__)
        return self

    def manifest_warnings(self) -> list[Note]:
        """``fullyQualifiedNamespace`` does nothing next to a connection string."""
        if self.connection_string is not None and self.fully_qualified_namespace:
            return [
                (
                    ("fullyQualifiedNamespace",),
                    "ignored when connectionString is set (as in Argo): remove one",
                )
            ]
        return []
