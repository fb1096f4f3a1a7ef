"""The ``azureServiceBus`` trigger config: Argo's ``AzureServiceBusTrigger`` (model only).

Sends a message, built from the events that fired the trigger, to an Azure
Service Bus queue or topic. ``herald validate`` checks what Argo's trigger
needs to start (a connection string; a queue or a topic, exactly one: Argo
would silently prefer the queue); ``subscriptionName``, which sending never
uses, loads with a warning. ``herald run`` refuses the type until it has an
adapter.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from herald.core.tls import TLSConfig
from triggers.params import PayloadParameter, TriggerParameter, exactly_one


class AzureServiceBusTrigger(Spec):
    """Send a message built from the events to a Service Bus queue or topic."""

    connection_string: SecretKeySelector = Field(
        description="Secret key holding the Service Bus connection string."
    )
    queue_name: str | None = Field(default=None, description="Queue to send to.")
    topic_name: str | None = Field(default=None, description="Topic to send to.")
    subscription_name: str | None = Field(
        default=None, description="Unused when sending (Argo declares it): remove it."
    )
    tls: TLSConfig | None = Field(default=None, description="TLS to Service Bus.")
    payload: list[PayloadParameter] = Field(
        description="Builds the JSON message from event values (required, may be empty); an "
        "entry with an empty dest supplies the whole message."
    )
    parameters: list[TriggerParameter] | None = Field(
        default=None, description="Applied to this azureServiceBus spec before each send."
    )

    @model_validator(mode="after")
    def _destination(self) -> AzureServiceBusTrigger:
        exactly_one(self, ["queue_name", "topic_name"], "an azureServiceBus trigger")
        return self
