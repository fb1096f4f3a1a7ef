"""The ``azureEventHubs`` trigger config: Argo's ``AzureEventHubsTrigger`` (model only).

Sends one event, built from the events that fired the trigger, to an Azure
Event Hub, authenticating with a shared access key (Argo builds the connection
string from both secrets, so both are required). ``herald run`` refuses the
type until it has an adapter.
"""

from __future__ import annotations

from pydantic import Field

from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from triggers.params import PayloadParameter, TriggerParameter


class AzureEventHubsTrigger(Spec):
    """Send an event built from the events to an Event Hub."""

    fqdn: str = Field(
        min_length=1,
        description="Event Hubs namespace host, e.g. my-namespace.servicebus.windows.net.",
    )
    hub_name: str = Field(min_length=1, description="Event Hub to send to.")
    shared_access_key_name: SecretKeySelector = Field(
        description="Secret key holding the name of the shared access key."
    )
    shared_access_key: SecretKeySelector = Field(
        description="Secret key holding the shared access key."
    )
    payload: list[PayloadParameter] = Field(
        description="Builds the JSON event from event values (required, may be empty); an "
        "entry with an empty dest supplies the whole event."
    )
    parameters: list[TriggerParameter] | None = Field(
        default=None, description="Applied to this azureEventHubs spec before each send."
    )
